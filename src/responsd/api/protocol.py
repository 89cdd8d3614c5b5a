"""The HTTP connection guard: uvicorn's httptools protocol with the limits it lacks.

uvicorn times out idle keep-alive connections, and refuses requests over its concurrency
limit once their headers arrived, but a client that connects and never finishes its
headers holds a socket (and a file descriptor) forever. Here:
- a request's headers must arrive within `header_timeout` seconds of its first byte (or of
  the connection, for the first request), or the connection is closed;
- at most `max_connections` connections are open: the next one is answered with a 503 and
  closed at once, before anything of it is read.
Request bodies are bounded in size and in time by `limits.RequestLimitMiddleware`.
"""

import asyncio

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from responsd.errors import ResponsdError


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Named by import path in `uvicorn.Config(http=…)`, so worker processes load it too;
    `configure` sets the limits (each worker calls it when it builds its app)."""

    header_timeout: float = 10.0
    max_connections: int = 2048
    _header_timer: asyncio.TimerHandle | None = None
    _refused = False

    @classmethod
    def configure(cls, header_timeout: float, max_connections: int) -> None:
        cls.header_timeout = header_timeout
        cls.max_connections = max_connections

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refused = True
            transport.write(_BUSY)
            transport.close()
            return
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return  # refused in connection_made: nothing was set up
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def timeout_keep_alive_handler(self) -> None:
        self._disarm()
        super().timeout_keep_alive_handler()

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self.transport.close()  # armed only while a request's headers are incomplete


PROTOCOL = f"{__name__}:GuardedHttpToolsProtocol"
"""The import path uvicorn loads the protocol from."""


def _busy_response() -> bytes:
    error = ResponsdError("The server has too many open connections; retry shortly.")
    body = orjson.dumps({"error": {**error.envelope(), "code": "too_many_connections"}})
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


_BUSY = _busy_response()
