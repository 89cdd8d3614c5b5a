"""A small real MCP server (the `mcp` SDK's MCPServer) for tests and benchmarks.

Tools: `add` (read-only), `echo`, `fail` (raises), `slow` (sleeps `seconds`). It counts the
list and call requests it answers, so tests can tell whether responsd listed again. Serve
it over streamable HTTP (`/mcp`) or SSE (`/sse`) on loopback with `ServerThread`.
"""

import asyncio
from collections import Counter
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from starlette.requests import Request


class CountingServer(MCPServer):
    def __init__(self, name: str = "calc") -> None:
        super().__init__(name)
        self.counts: Counter[str] = Counter()
        self.headers_seen: list[dict[str, str]] = []
        self.active = 0
        self.max_active = 0
        """The most tool calls seen running at once."""

    async def list_tools(self) -> list[Any]:
        self.counts["list"] += 1
        return await super().list_tools()

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        self.counts[f"call:{name}"] += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            return await super().call_tool(name, arguments, context)
        finally:
            self.active -= 1


def calc_server() -> CountingServer:
    server = CountingServer("calc")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def echo(text: str) -> str:
        """Repeat the text."""
        return text

    @server.tool()
    def fail(reason: str = "broken") -> str:
        """Always fails."""
        raise ToolError(f"the tool failed: {reason}")

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return "done"

    return server


def header_recorder(app, server: CountingServer):
    """Wrap an MCP app so the headers of each request are kept (to check secrets arrive)."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http":
            server.headers_seen.append(dict(Request(scope).headers))
        await app(scope, receive, send)

    return wrapped
