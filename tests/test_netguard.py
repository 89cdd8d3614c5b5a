"""The outbound guard: tool URLs never reach loopback, private or link-local addresses."""

import httpx2
import pytest

from bench.fake_upstream import FakeUpstream
from bench.servers import ServerThread
from responsd.errors import InvalidRequestError
from responsd.tools.netguard import check_url, guarded_client, is_public


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fd00::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("224.0.0.1", False),
    ],
)
def test_public_addresses(address, public):
    assert is_public(address) is public


@pytest.fixture(scope="module")
def loopback_server():
    thread = ServerThread(FakeUpstream().app).start()
    yield thread
    thread.stop()


async def test_connections_to_private_addresses_are_refused(loopback_server):
    port = loopback_server.port
    async with guarded_client(allow_private=False) as client:
        for url in (f"http://127.0.0.1:{port}/v1/models", f"http://localhost:{port}/v1/models"):
            with pytest.raises(httpx2.ConnectError, match="non-public address"):
                await client.get(url)


async def test_a_redirect_to_a_private_address_is_refused_at_connect_time(loopback_server):
    # The first hop is allowed (a stand-in for a public host); the redirect's target is not.
    calls = []

    class FirstHopAllowed(httpx2.AsyncBaseTransport):
        def __init__(self, inner):
            self.inner = inner

        async def handle_async_request(self, request):
            calls.append(str(request.url))
            if len(calls) == 1:
                return httpx2.Response(
                    302, headers={"location": f"{loopback_server.url}/v1/models"}
                )
            return await self.inner.handle_async_request(request)

    guarded = guarded_client(allow_private=False)
    client = httpx2.AsyncClient(transport=FirstHopAllowed(guarded._transport))
    async with client, guarded:
        with pytest.raises(httpx2.ConnectError, match="non-public address"):
            await client.get("http://public.example/", follow_redirects=True)
    assert calls[-1].startswith(loopback_server.url)


async def test_allowing_private_addresses_lets_the_connection_through(loopback_server):
    async with guarded_client(allow_private=True) as client:
        reply = await client.get(f"{loopback_server.url}/v1/models")
    assert reply.status_code == 200


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "not a url"])
async def test_only_http_urls(url):
    with pytest.raises(InvalidRequestError) as error:
        await check_url(url, "tools[0].server_url", allow_private=True)
    assert error.value.param == "tools[0].server_url"


async def test_check_url_refuses_a_name_resolving_to_loopback():
    with pytest.raises(InvalidRequestError, match="non-public"):
        await check_url("http://localhost:1/mcp", "tools[2].server_url", allow_private=False)
