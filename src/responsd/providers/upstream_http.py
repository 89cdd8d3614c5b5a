"""The HTTP client under the Chat Completions provider: aiohttp, chosen by measurement.

`python -m bench.upstream_client` streams the same small answer from the scripted upstream
with each candidate: on 2 cores httpx 0.28 spent ~1.1 ms of CPU per streamed request on the
client side, aiohttp 3.14 ~0.2 ms (README "Benchmarks"). Nothing else here knows which
library it is: the provider sees lines of a streamed body, JSON bodies and ProviderErrors.
"""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from responsd.errors import (
    ProviderError,
    ProviderRateLimitError,
    ProviderRequestError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)

MAX_CONNECTIONS = 512
KEEP_ALIVE = 4.0
"""Seconds an idle upstream connection is kept: under the 5 s of uvicorn (vLLM, SGLang) and
Node servers, so the client lets go first instead of racing the server's close."""


class UpstreamHTTP:
    """Keep-alive connections to one upstream base URL. The session is made on first use:
    aiohttp binds it to the running event loop, and providers are built off the loop."""

    def __init__(
        self, base_url: str, api_key: str | None, read_timeout: float, connect_timeout: float
    ):
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=read_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(
                    limit=MAX_CONNECTIONS, limit_per_host=0, keepalive_timeout=KEEP_ALIVE
                ),
                trust_env=False,
                auto_decompress=True,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def get_json(self, path: str) -> Any:
        try:
            async with self._client().get(self._base + path) as reply:
                content = await reply.read()
                if reply.status >= 400:
                    raise map_status(reply.status, content, reply.headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_transport_error(exc) from exc
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(f"The upstream's {path} answer is not JSON.") from exc

    async def _post(self, path: str, body: bytes) -> aiohttp.ClientResponse:
        url, headers = self._base + path, {"Content-Type": "application/json"}
        try:
            return await self._client().post(url, data=body, headers=headers)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            # A pooled connection the server closed just as it was reused (its keep-alive
            # ran out): nothing reached the model, so once more, on a new connection.
            return await self._client().post(url, data=body, headers=headers)

    @asynccontextmanager
    async def stream_lines(self, path: str, body: bytes) -> AsyncIterator[AsyncIterator[bytes]]:
        """POST `body`; the lines of the answer (an error status raises ProviderError)."""
        try:
            reply = await self._post(path, body)
            try:
                if reply.status >= 400:
                    raise map_status(reply.status, await reply.read(), reply.headers)
                yield _lines(reply.content)
            finally:
                reply.release()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_transport_error(exc) from exc


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    # Split by hand: aiohttp's own line reader refuses lines over 64 KiB, and one SSE event
    # (a whole tool call's arguments) can be longer.
    pending = b""
    async for chunk in content.iter_any():
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r")
    if pending:
        yield pending.rstrip(b"\r")


def error_message(payload: Any) -> str:
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or error)
        return str(error)
    return str(payload)


def map_status(status: int, content: bytes, headers: Mapping[str, str]) -> ProviderError:
    try:
        message = error_message(orjson.loads(content))
    except orjson.JSONDecodeError:
        message = content.decode(errors="replace")[:500] or f"HTTP {status}"
    if status == 429:
        retry = {"Retry-After": headers["Retry-After"]} if "Retry-After" in headers else {}
        return ProviderRateLimitError(f"The upstream is rate limiting: {message}", headers=retry)
    if status in (401, 403):
        return ProviderError(
            f"The upstream refused our credentials (HTTP {status}): {message}. "
            "Check RESPONSD_UPSTREAM_API_KEY."
        )
    if 400 <= status < 500:
        return ProviderRequestError(f"The upstream rejected the request (HTTP {status}): {message}")
    return ProviderError(f"The upstream failed (HTTP {status}): {message}")


def map_transport_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, TimeoutError):
        return ProviderTimeoutError(f"The upstream did not answer in time ({type(exc).__name__}).")
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError):
        return ProviderUnavailableError(f"The upstream could not be reached: {exc}")
    return ProviderError(f"The upstream connection failed: {exc}")
