"""The upstream's HTTP side, as the Chat Completions provider sees it: lines of a streamed
body, JSON bodies, and ProviderErrors. The client under it (`http1.HTTP1Client`) was chosen
by measurement: `python -m bench.upstream_client` (README "Benchmarks")."""

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson

from responsd import __version__
from responsd.errors import (
    ProviderError,
    ProviderRateLimitError,
    ProviderRequestError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from responsd.providers.http1 import HTTP1Client, MalformedResponse, Unreachable

MAX_CONNECTIONS = 512
KEEP_ALIVE = 4.0
"""Seconds an idle upstream connection is kept: under the 5 s of uvicorn (vLLM, SGLang) and
Node servers, so the client lets go first instead of racing the server's close."""


class UpstreamHTTP:
    """Keep-alive connections to one upstream base URL."""

    def __init__(
        self, base_url: str, api_key: str | None, read_timeout: float, connect_timeout: float
    ):
        headers = {"User-Agent": f"responsd/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = HTTP1Client(
            base_url,
            headers,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=MAX_CONNECTIONS,
            keep_alive=KEEP_ALIVE,
        )

    async def close(self) -> None:
        await self._client.close()

    async def get_json(self, path: str) -> Any:
        try:
            async with self._client.request("GET", path) as answer:
                content = await answer.read()
        except (OSError, MalformedResponse) as exc:
            raise map_transport_error(exc) from exc
        if answer.status >= 400:
            raise map_status(answer.status, content, answer.headers)
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(f"The upstream's {path} answer is not JSON.") from exc

    @asynccontextmanager
    async def stream_lines(
        self, path: str, body: bytes | Sequence[bytes]
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        """POST `body` (bytes, or pieces of it); the lines of the answer, in batches: each
        list holds the complete lines that arrived together (an error status raises
        ProviderError)."""
        try:
            async with self._client.request("POST", path, body) as answer:
                if answer.status >= 400:
                    raise map_status(answer.status, await answer.read(), answer.headers)
                yield _lines(answer.chunks())
        except (OSError, MalformedResponse) as exc:
            raise map_transport_error(exc) from exc


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    pending = b""
    async for chunk in chunks:
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        yield [line.rstrip(b"\r") for line in lines]
    if pending:
        yield [pending.rstrip(b"\r")]


def error_message(payload: Any) -> str:
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or error)
        return str(error)
    return str(payload)


def map_status(status: int, content: bytes, headers: Mapping[str, str]) -> ProviderError:
    """`headers` with lower-case names."""
    try:
        message = error_message(orjson.loads(content))
    except orjson.JSONDecodeError:
        message = content.decode(errors="replace")[:500] or f"HTTP {status}"
    if status == 429:
        retry = {"Retry-After": headers["retry-after"]} if "retry-after" in headers else {}
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
        return ProviderTimeoutError(f"The upstream did not answer in time: {exc}")
    if isinstance(exc, MalformedResponse):
        return ProviderError(f"The upstream's answer could not be read: {exc}")
    if isinstance(exc, Unreachable):
        return ProviderUnavailableError(f"The upstream could not be reached: {exc}")
    return ProviderError(f"The upstream connection failed: {exc}")
