"""A small HTTP/1.1 client for one origin: keep-alive connections parsed by httptools.

Why not aiohttp or httpx: the upstream call is on every request's path, and with a
general-purpose client it was the largest single cost of a small request
(`python -m bench.upstream_client`: httpx ~1.5 ms, aiohttp ~0.3 ms, this ~0.15 ms of CPU
per streamed answer on 2 cores). An upstream needs little of HTTP: one origin, POST and
GET, a body with a length, answers that are chunked, sized or read to the close, TLS.
What it does not do: proxies, redirects, cookies, HTTP/2, compression other than
gzip/deflate (it asks for none).

Errors: `Unreachable` when the origin cannot be reached or drops the connection before
answering, another `OSError` when the connection fails mid-answer, `TimeoutError` when it
does not answer in time, `MalformedResponse` for what is not HTTP.
"""

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httptools

READ_AHEAD = 256 * 1024
"""Bytes of an answer buffered before the socket is paused until the reader catches up."""


class Unreachable(OSError):
    """No connection to the origin could be made (refused, unknown host, unreachable), or it
    was dropped before any byte of an answer."""


class MalformedResponse(Exception):
    """The origin answered something that is not an HTTP/1.x response."""


class Answer:
    """One response being read: status, headers (lower-case names), then the body."""

    def __init__(self, connection: "_Connection"):
        self._connection = connection
        self.status: int = connection.status
        self.headers: dict[str, str] = connection.headers

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (decompressed when the origin compressed it anyway)."""
        return self._connection.body()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])


class _Connection(asyncio.Protocol):
    """One connection; one exchange at a time. Parser callbacks fill `_chunks`; the reader
    waits on `_waiter`. A reader waiting longer than `read_timeout` since the last byte gets
    a TimeoutError (one timer per exchange, re-armed only when it fires)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float):
        self._loop = loop
        self._read_timeout = read_timeout
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_data = 0.0
        self._error: BaseException | None = None
        self._until_close = False
        self._keep_alive = False
        self._decoder: zlib._Decompress | None = None
        self.status = 0
        self.headers: dict[str, str] = {}
        self.started = False
        """Any byte of the current answer arrived (before that, a reused connection that
        fails was closed by the origin while idle: nothing reached it)."""
        self.complete = False
        self.idle_since = 0.0

    # asyncio.Protocol

    def connection_made(self, transport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self.complete:  # nothing was asked: an origin that speaks out of turn is not reused
            self.close()
            return
        self._last_data = self._loop.time()
        self.started = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(MalformedResponse(f"The answer is not valid HTTP: {exc}"))
        except zlib.error as exc:
            self._fail(MalformedResponse(f"The compressed answer is corrupt: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._until_close and not self.complete and self._error is None:
            self.on_message_complete()  # an answer without a length ends with the connection
        elif not self.complete:
            self._fail(exc or ConnectionResetError("The upstream closed the connection."))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        # httptools joins a name or value split across reads before calling this.
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self.headers = {}
            return
        self.status = status
        headers = self.headers
        self._until_close = (
            "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
            and self.status not in (204, 304)
        )
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._decoder = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header
        elif encoding != "identity":
            self._fail(MalformedResponse(f"Unsupported Content-Encoding: {encoding}."))
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._error is not None:
            return
        if self._decoder is not None:
            body = self._decoder.decompress(body)
            if not body:
                return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > READ_AHEAD and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.status:
            return  # the end of an interim answer
        if self._decoder is not None:
            rest = self._decoder.flush()
            if rest:
                self._chunks.append(rest)
        self._keep_alive = self._parser.should_keep_alive()  # only true inside this callback
        self.complete = True
        self._wake()

    # the exchange

    @property
    def reusable(self) -> bool:
        return (
            self._transport is not None
            and self.complete
            and self._error is None
            and self._keep_alive
        )

    def send(self, head: bytes, body: Sequence[bytes]) -> None:
        if self._transport is None:
            raise ConnectionResetError("The upstream closed the connection.")
        self._parser = httptools.HttpResponseParser(self)
        self.status, self.headers, self._decoder = 0, {}, None
        self.started = self.complete = self._until_close = self._keep_alive = False
        self._last_data = self._loop.time()
        self._transport.writelines((head, *body))

    async def head(self) -> None:
        while not self.status:
            await self._wait()
        if self._error is not None:
            raise self._error

    async def body(self) -> AsyncIterator[bytes]:
        """What arrived since the last piece, in one piece: a fast origin's stream chunks
        pile up between reads (tens per read), and each piece costs every layer above a
        round of its loop."""
        while True:
            if self._error is not None:
                raise self._error
            if self._chunks:
                chunks = self._chunks
                piece = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._buffered = 0
                if self._paused:
                    self._paused = False
                    if self._transport is not None:
                        self._transport.resume_reading()
                yield piece
                continue  # more may have come while the reader was away
            if self.complete:
                return
            await self._wait()

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        self._waiter = self._loop.create_future()
        if self._timer is None:
            self._timer = self._loop.call_at(self._last_data + self._read_timeout, self._check)
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _check(self) -> None:
        self._timer = None
        if self._waiter is None:
            return  # nobody waits: the next wait arms the timer again
        deadline = self._last_data + self._read_timeout
        if self._loop.time() >= deadline:
            self._fail(TimeoutError(f"No data from the upstream for {self._read_timeout:g} s."))
        else:
            self._timer = self._loop.call_at(deadline, self._check)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class HTTP1Client:
    """Keep-alive connections to the origin of `base_url`; requests name paths under it."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int,
        keep_alive: float,
    ):
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"Not an http(s) URL: {base_url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._tls = url.scheme == "https"
        self._ssl: ssl.SSLContext | None = None
        self._prefix = url.path.rstrip("/")
        self._query = f"?{url.query}" if url.query else ""
        fixed = {"Host": url.netloc.rpartition("@")[2], "Accept-Encoding": "identity", **headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._keep_alive = keep_alive
        self._max_connections = max_connections
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore  # made by _bind, for the loop that uses the client
        self._idle: deque[_Connection] = deque()  # oldest first
        self._busy: set[_Connection] = set()

    def _bind(self) -> None:
        """Connections belong to one event loop: a client first used on another (an app
        served again in a new loop, as tests do) starts with a pool of its own."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._slots = asyncio.Semaphore(self._max_connections)
            self._idle, self._busy = deque(), set()

    @asynccontextmanager
    async def request(
        self,
        method: str,
        path: str,
        body: bytes | Sequence[bytes] = b"",
        content_type: str = "application/json",
    ) -> AsyncIterator[Answer]:
        """Send one request; the answer, its body to be read inside the block. `body` may come
        in pieces, sent as they are (a long request is not joined first). A connection whose
        answer was not read to the end is closed, never reused."""
        pieces = (body,) if isinstance(body, bytes) else tuple(body)
        length = sum(map(len, pieces))
        head = f"{method} {self._prefix}{path}{self._query} HTTP/1.1\r\n".encode("latin-1")
        if length or method == "POST":
            head += b"Content-Type: %s\r\nContent-Length: %d\r\n" % (
                content_type.encode("latin-1"),
                length,
            )
        head += self._fixed + b"\r\n"
        self._bind()
        async with self._slots:
            connection, reused = await self._connection()
            try:
                try:
                    await self._exchange(connection, head, pieces)
                except Unreachable:
                    if not reused:
                        raise
                    # A pooled connection the origin closed just as it was reused (its
                    # keep-alive ran out): nothing reached it, so once more on a new one.
                    connection.close()
                    self._busy.discard(connection)
                    connection = await self._connect()
                    await self._exchange(connection, head, pieces)
                yield Answer(connection)
            finally:
                self._busy.discard(connection)
                self._release(connection)

    async def _exchange(self, connection: _Connection, head: bytes, body: Sequence[bytes]) -> None:
        """Send the request; return once the answer's head arrived."""
        try:
            connection.send(head, body)
            await connection.head()
        except OSError as exc:
            if isinstance(exc, TimeoutError) or connection.started:
                raise
            raise Unreachable(f"{self._host}:{self._port} closed the connection: {exc}") from exc

    def _release(self, connection: _Connection) -> None:
        """Back to the pool, or closed; idle connections past their keep-alive are closed
        too (the newest is reused first, so the oldest would otherwise stay open)."""
        now = asyncio.get_running_loop().time()
        if connection.reusable:
            connection.idle_since = now
            self._idle.append(connection)
        else:
            connection.close()
        while self._idle and now - self._idle[0].idle_since >= self._keep_alive:
            self._idle.popleft().close()

    async def _connection(self) -> tuple[_Connection, bool]:
        now = asyncio.get_running_loop().time()
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable and now - connection.idle_since < self._keep_alive:
                self._busy.add(connection)
                return connection, True
            connection.close()
        return await self._connect(), False

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop, self._read_timeout),
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._tls else None,
                )
        except TimeoutError:
            raise
        except OSError as exc:
            raise Unreachable(f"{self._host}:{self._port}: {exc}") from exc
        self._busy.add(connection)
        return connection

    async def close(self) -> None:
        for connection in (*self._idle, *self._busy):
            connection.close()
        self._idle.clear()
        self._busy.clear()
