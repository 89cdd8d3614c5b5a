"""The upstream HTTP client: a pooled connection the server closed is not a failed request."""

import asyncio

import pytest

from responsd.errors import ProviderUnavailableError
from responsd.providers.upstream_http import UpstreamHTTP

ANSWER = b'data: {"ok": true}\n\ndata: [DONE]\n\n'


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
    http = UpstreamHTTP(f"http://127.0.0.1:{port}/v1", None, 5, 5)
    try:
        for _ in range(3):  # every request after the first meets a dead pooled connection
            async with http.stream_lines("/chat/completions", b"{}") as lines:
                assert [line async for line in lines if line] == [
                    b'data: {"ok": true}',
                    b"data: [DONE]",
                ]
            await asyncio.sleep(0.2)
    finally:
        await http.close()
        server.close()
        await server.wait_closed()


async def test_an_upstream_that_is_not_there_is_unavailable():
    http = UpstreamHTTP("http://127.0.0.1:9/v1", None, 5, 5)
    try:
        with pytest.raises(ProviderUnavailableError):
            async with http.stream_lines("/chat/completions", b"{}") as lines:
                async for _ in lines:
                    pass
    finally:
        await http.close()
