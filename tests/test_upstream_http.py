"""The upstream HTTP client (providers/http1.py under providers/upstream_http.py), against
raw servers on loopback: keep-alive, replaced dead connections, compressed and unsized
answers, timeouts, garbage, TLS."""

import asyncio
import datetime
import gzip
import ipaddress
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from responsd.errors import ProviderError, ProviderTimeoutError, ProviderUnavailableError
from responsd.providers.http1 import HTTP1Client
from responsd.providers.upstream_http import UpstreamHTTP

ANSWER = b'data: {"ok": true}\n\ndata: [DONE]\n\n'
OK = [b'data: {"ok": true}', b"data: [DONE]"]
"""ANSWER's lines."""
T = TypeVar("T")


async def _one_answer_per_connection(reader, writer) -> None:
    """Answers one request with keep-alive promised; drops the connection as the next request
    on it arrives (a server whose keep-alive ran out just then)."""
    await reader.readuntil(b"\r\n\r\n")
    await reader.read(2)  # the empty JSON body
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(ANSWER)
    )
    writer.write(head + ANSWER)
    await writer.drain()
    await reader.read(1)  # the next request begins: close under it
    writer.transport.abort()


async def test_a_connection_closed_by_the_server_is_replaced_once():
    server = await asyncio.start_server(_one_answer_per_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with _closing(UpstreamHTTP(f"http://127.0.0.1:{port}/v1", None, 5, 5)) as http:
            for _ in range(3):  # every request after the first meets a dead pooled connection
                assert await _lines_of(http) == OK
                await asyncio.sleep(0.2)
    finally:
        server.close()
        await server.wait_closed()


async def test_an_upstream_that_is_not_there_is_unavailable():
    async with _closing(UpstreamHTTP("http://127.0.0.1:9/v1", None, 5, 5)) as http:
        with pytest.raises(ProviderUnavailableError):
            async with http.stream_lines("/chat/completions", b"{}") as lines:
                async for _ in lines:
                    pass


class Origin:
    """A raw HTTP/1.1 server on loopback answering the n-th request with `answer(n)`: bytes,
    a list of parts sent 0.1 s apart, or None to close; it records the requests' heads and
    how many connections it saw."""

    def __init__(self, answer, ssl_context=None):
        self.answer = answer
        self.ssl = ssl_context
        self.heads: list[bytes] = []
        self.connections = 0
        self.closed = 0
        """Connections the client closed."""
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "Origin":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for writer in self._writers:
            writer.close()

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"Content-Length: (\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                self.heads.append(head)
                answer = self.answer(len(self.heads))
                if asyncio.iscoroutine(answer):
                    answer = await answer
                if answer is None:
                    writer.close()
                    return
                for i, part in enumerate(answer if isinstance(answer, list) else [answer]):
                    if i:
                        await asyncio.sleep(0.1)
                    if part is None:
                        writer.close()
                        return
                    writer.write(part)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed += 1
            writer.close()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/v1"


def _sse(extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (
        extra,
        len(ANSWER),
        ANSWER,
    )


@asynccontextmanager
async def _closing(client: T) -> AsyncIterator[T]:
    """`client` (UpstreamHTTP or HTTP1Client), closed after the block."""
    try:
        yield client
    finally:
        await client.close()


async def _lines_of(http: UpstreamHTTP) -> list[bytes]:
    async with http.stream_lines("/chat/completions", b"{}") as batches:
        return [line async for lines in batches for line in lines if line]


async def test_connections_are_kept_alive_and_requests_carry_the_key():
    async with (
        Origin(lambda n: _sse()) as origin,
        _closing(UpstreamHTTP(origin.url() + "?api-version=1", "sk-test", 5, 5)) as http,
    ):
        for _ in range(5):
            assert await _lines_of(http) == OK
    assert origin.connections == 1
    head = origin.heads[0]
    assert head.startswith(b"POST /v1/chat/completions?api-version=1 HTTP/1.1\r\n")
    assert b"Authorization: Bearer sk-test\r\n" in head
    assert b"Host: 127.0.0.1:%d\r\n" % origin.port in head


async def test_an_answer_left_unread_closes_its_connection():
    first, rest = _sse().split(b"data: [DONE]")
    async with (
        Origin(lambda n: [first, b"data: [DONE]" + rest] if n == 1 else _sse()) as origin,
        _closing(UpstreamHTTP(origin.url(), None, 5, 5)) as http,
    ):
        async with http.stream_lines("/chat/completions", b"{}") as lines:
            await anext(lines)  # a client that hung up after the first line
        assert await _lines_of(http) == OK
    assert origin.connections == 2


async def test_a_big_answer_read_slowly_arrives_whole_and_in_order():
    # ~1.4 MB of stream chunks, several times the client's read-ahead: a reader slower than
    # the origin makes it pause reading the socket and resume, and what piled up in between
    # comes as one piece.
    lines = [b'data: {"n": %d}' % n for n in range(100_000)]
    body = b"".join(b"%x\r\n%s\n\n\r\n" % (len(line) + 2, line) for line in lines)
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"
    async with (
        Origin(lambda n: answer if n == 1 else _sse()) as origin,
        _closing(UpstreamHTTP(origin.url(), None, 5, 5)) as http,
    ):
        got: list[bytes] = []
        batches_seen = 0
        async with http.stream_lines("/chat/completions", b"{}") as batches:
            async for batch in batches:
                batches_seen += 1
                got += [line for line in batch if line]
                await asyncio.sleep(0.002)
        assert got == lines
        assert batches_seen < len(lines) // 10
        assert await _lines_of(http) == OK  # read to its end: the connection is reused
    assert origin.connections == 1


async def test_compressed_and_unsized_answers_are_read_whole():
    packed = gzip.compress(ANSWER)
    answers = {
        1: b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(packed), packed),
        # no length: the body ends with the connection
        2: [b"HTTP/1.1 200 OK\r\n\r\n" + ANSWER, b"data: more", None],
    }
    async with (
        Origin(answers.get) as origin,
        _closing(UpstreamHTTP(origin.url(), None, 5, 5)) as http,
    ):
        assert await _lines_of(http) == OK
        assert await _lines_of(http) == [*OK, b"data: more"]


async def test_a_stalled_or_garbled_upstream_is_an_error_not_a_hang():
    async def stall(n):
        await asyncio.sleep(10)

    async with Origin(stall) as origin, _closing(UpstreamHTTP(origin.url(), None, 0.3, 5)) as http:
        with pytest.raises(ProviderTimeoutError):
            await _lines_of(http)
    async with (
        Origin(lambda n: b"SMTP ready\r\n\r\n") as origin,
        _closing(UpstreamHTTP(origin.url(), None, 5, 5)) as http,
    ):
        with pytest.raises(ProviderError, match="could not be read"):
            await _lines_of(http)


async def test_an_upstream_that_hangs_up_without_answering_is_unavailable():
    async with (
        Origin(lambda n: None) as origin,  # reads the request, closes, says nothing
        _closing(UpstreamHTTP(origin.url(), None, 5, 5)) as http,
    ):
        with pytest.raises(ProviderUnavailableError, match="closed the connection"):
            await _lines_of(http)
    assert len(origin.heads) == 1  # a new connection's request is not sent twice


async def test_https_upstream_with_its_certificate_verified(tmp_path, monkeypatch):
    ca_file, server_context = _tls(tmp_path)
    async with (
        Origin(lambda n: _sse(), server_context) as origin,
        _closing(UpstreamHTTP(origin.url("https"), None, 5, 5)) as http,
    ):
        with pytest.raises(ProviderError):  # not trusted: the system's CAs only
            await _lines_of(http)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        async with _closing(UpstreamHTTP(origin.url("https"), None, 5, 5)) as http:
            assert await _lines_of(http) == OK


def _tls(tmp_path):
    """A CA and a certificate it signed for 127.0.0.1: (CA file, server SSL context)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)

    def cert(subject, issuer, public_key, ca: bool, san=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(key, hashes.SHA256())

    ca = cert("test CA", "test CA", key.public_key(), True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    leaf = cert(
        "127.0.0.1",
        "test CA",
        server_key.public_key(),
        False,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "c.pem", tmp_path / "k.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    cert_file.write_bytes(leaf.public_bytes(pem))
    key_file.write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


async def test_interim_answers_are_skipped_and_a_large_answer_arrives_whole():
    big = b"x" * 4_000_000
    answers = {
        1: [b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", _sse()],
        2: [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big), big],
    }
    async with (
        Origin(answers.get) as origin,
        _closing(UpstreamHTTP(origin.url(), None, 5, 5)) as http,
    ):
        assert await _lines_of(http) == OK
        client = HTTP1Client(
            origin.url(), {}, connect_timeout=5, read_timeout=2, max_connections=1, keep_alive=4
        )
        async with _closing(client), client.request("POST", "/chat/completions", b"{}") as answer:
            chunks = answer.chunks()
            received = len(await anext(chunks))
            await asyncio.sleep(0.3)  # a slow reader: the socket is paused meanwhile
            received += sum([len(chunk) async for chunk in chunks])
        assert received == len(big)


async def test_idle_connections_past_their_keep_alive_are_closed():
    async with Origin(lambda n: _sse()) as origin:
        client = HTTP1Client(
            origin.url(), {}, connect_timeout=5, read_timeout=5, max_connections=8, keep_alive=0.5
        )

        async def one() -> None:
            async with client.request("POST", "/chat/completions", b"{}") as answer:
                await answer.read()

        async with _closing(client):
            await asyncio.gather(one(), one())  # two connections, both idle afterwards
            assert origin.connections == 2
            for _ in range(8):  # the newest is reused; the other must not stay open for ever
                await one()
                await asyncio.sleep(0.1)
            assert origin.connections == 2 and origin.closed == 1
