"""Talking to one remote MCP server through the official `mcp` SDK: list tools, call a tool.

Streamable HTTP first; a server that does not speak it is tried over SSE (the older
transport). Sessions start with the `initialize` handshake (the SDK's "legacy" mode, which
every server speaks): on the 2026-07-28 protocol a `tools/call` needs headers derived from a
listing made in the same session, and a call here reuses a listing made by another one.

Each operation opens its own session: the SDK's sessions live in anyio task groups, which
must be entered and left by one task, and a response runs its calls in several tasks.
Every connection passes the outbound guard (`netguard`). Failures come out as
`McpFailure`, carrying the wire form of the hosted API's `mcp_call.error`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import httpx2
import orjson

if TYPE_CHECKING:  # the SDK is imported on first use: ~30 MiB a server without MCP never needs
    from mcp import Client

from responsd.tools.netguard import PrivateAddressError, guarded_client

log = logging.getLogger("responsd.tools.mcp")
T = TypeVar("T")

REQUEST_TIMEOUT_CODE = -32001
"""JSON-RPC code for a request that timed out (the MCP SDKs' own)."""


@dataclass(frozen=True, slots=True)
class McpEndpoint:
    url: str
    headers: dict[str, str]
    """Secret values (headers, authorization): never logged, stored or echoed."""
    allow_private: bool
    timeout: float
    """Seconds one operation (connect + list, or connect + call) may take."""


class McpFailure(Exception):
    """An MCP operation failed; `error` is its `mcp_call.error` object."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message") or "MCP tool failed")
        self.error = error


def _client_factory(endpoint: McpEndpoint):
    def make(headers=None, timeout=None, auth=None) -> httpx2.AsyncClient:
        return guarded_client(endpoint.allow_private, headers, timeout, auth)

    return make


async def _with_client(endpoint: McpEndpoint, operation: Callable[[Client], Awaitable[T]]) -> T:
    """Run `operation` on a connected client: streamable HTTP, or SSE for older servers."""
    from mcp import Client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    factory = _client_factory(endpoint)
    connected = False
    try:
        http = factory(headers=endpoint.headers, timeout=httpx2.Timeout(endpoint.timeout))
        async with (
            http,
            Client(streamable_http_client(endpoint.url, http_client=http), mode="legacy") as c,
        ):
            connected = True
            return await operation(c)
    except Exception as first:
        if connected or _refused(first):
            raise
        log.debug("streamable HTTP failed (%s); trying SSE", type(first).__name__)
        transport = sse_client(
            endpoint.url,
            headers=endpoint.headers,
            timeout=endpoint.timeout,
            sse_read_timeout=endpoint.timeout,
            httpx_client_factory=factory,
        )
        try:
            async with Client(transport, mode="legacy") as c:
                return await operation(c)
        except Exception as second:
            raise second from first


def _innermost(exc: BaseException) -> BaseException:
    # Task groups wrap what failed inside them; the innermost error says what happened.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _refused(exc: BaseException) -> bool:
    inner = _innermost(exc)
    return isinstance(inner, PrivateAddressError) or isinstance(
        inner.__context__ or inner.__cause__, PrivateAddressError
    )


def _failure(exc: BaseException) -> McpFailure:
    exc = _innermost(exc)
    if isinstance(exc, McpFailure):
        return exc
    from mcp.shared.exceptions import MCPError

    if isinstance(exc, MCPError):
        return McpFailure({"type": "mcp_protocol_error", "code": exc.code, "message": str(exc)})
    if isinstance(exc, httpx2.HTTPStatusError):
        status = exc.response.status_code
        return McpFailure(
            {"type": "http_error", "code": status, "message": f"HTTP {status} from the server"}
        )
    if isinstance(exc, PrivateAddressError | httpx2.ConnectError | OSError):
        return McpFailure({"type": "http_error", "code": 502, "message": f"unreachable: {exc}"})
    return McpFailure(
        {"type": "http_error", "code": 502, "message": f"{type(exc).__name__}: {exc}"}
    )


async def _run(endpoint: McpEndpoint, operation) -> Any:
    try:
        with anyio.fail_after(endpoint.timeout):
            return await _with_client(endpoint, operation)
    except TimeoutError as exc:
        raise McpFailure(
            {
                "type": "mcp_protocol_error",
                "code": REQUEST_TIMEOUT_CODE,
                "message": f"The MCP server did not answer within {endpoint.timeout:g} s.",
            }
        ) from exc
    except Exception as exc:
        raise _failure(exc) from exc


async def list_tools(endpoint: McpEndpoint) -> list[dict[str, Any]]:
    """The server's tools as `mcp_list_tools.tools` entries (every page)."""

    async def operation(client: Client) -> list[dict[str, Any]]:
        tools, cursor = [], None
        for _ in range(100):  # a server that pages forever cannot hang the response
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return [
            {
                "name": tool.name,
                "description": tool.description,
                "input_schema": tool.input_schema,
                "annotations": tool.annotations.model_dump(by_alias=True, exclude_none=True)
                if tool.annotations
                else None,
            }
            for tool in tools
        ]

    return await _run(endpoint, operation)


async def call_tool(endpoint: McpEndpoint, name: str, arguments: dict[str, Any]) -> str:
    """The tool's output as text; `McpFailure` when it failed (an error result included)."""

    from mcp import types

    async def operation(client: Client) -> str:
        # Sent as a plain request: the SDK's call_tool first lists the server's tools to
        # check structured output against the tool's output schema, one more round trip
        # per call; the output goes to the model as the server sent it, as the hosted API does.
        request = types.CallToolRequest(
            params=types.CallToolRequestParams(name=name, arguments=arguments)
        )
        result = await client.session.send_request(request, types.CallToolResult)
        if result.is_error:
            content = [
                block.model_dump(by_alias=True, exclude_none=True) for block in result.content
            ]
            text = _text(result)
            failure = McpFailure({"type": "mcp_tool_execution_error", "content": content})
            failure.args = (text,)
            raise failure
        return _text(result)

    return await _run(endpoint, operation)


def _text(result: Any) -> str:
    texts = []
    for block in result.content:
        if getattr(block, "type", None) == "text":
            texts.append(block.text)
        else:
            texts.append(orjson.dumps(block.model_dump(by_alias=True, exclude_none=True)).decode())
    if not texts and result.structured_content is not None:
        texts.append(orjson.dumps(result.structured_content).decode())
    return "\n".join(texts)
