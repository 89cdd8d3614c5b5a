"""Where a stored request's CPU goes, layer by layer (each measured on its own).

Served, one request at a time, CPU of the serving process per request:
  - uvicorn (httptools, uvloop, as `responsd serve`) with a bare ASGI app, and with a
    one-route Starlette app, answering the same small POST: the floor of the stack;
  - `responsd serve` on the scripted upstream: `/healthz`, then a response unstored and stored.
In this process (uvloop), CPU per request:
  - the engine (validate, prepare, run) with a scripted provider and no HTTP, unstored and
    stored (SQLite in a temporary directory);
  - the same with the Chat Completions provider on the scripted upstream;
  - that provider's stream alone, and the bare HTTP exchange under it (`providers/http1.py`).
Two rounds, so the noise of a busy machine shows.

Usage: python -m bench.layers [--requests N]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.overhead import _cpu_seconds, _process, servers
from bench.servers import free_port
from responsd.engine.loop import Engine
from responsd.providers.base import Finish, ModelInfo, ModelRequest, TextDelta, UsageDelta
from responsd.providers.http1 import HTTP1Client
from responsd.providers.openai_chat import OpenAIChatModel, UpstreamConfig
from responsd.sealing import KeyRing
from responsd.store.sql import SQLStore
from responsd.types.content import InputText
from responsd.types.items import Message
from responsd.types.requests import ResponseCreateRequest

CREATE = {"model": "fake-model", "input": "hi"}
CHAT = orjson.dumps(
    {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
)
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"2")]


async def bare(scope, receive, send) -> None:
    """The least an ASGI app can do for a POST: read the body, answer `{}`."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": b"{}"})


async def _empty(request: Request) -> Response:
    await request.body()
    return Response(b"{}", media_type="application/json")


starlette = Starlette(routes=[Route("/", _empty, methods=["POST"])])


class ScriptedProvider:
    """A provider answering at once with the scripted upstream's text, in four deltas."""

    honours = frozenset({"temperature", "top_p", "max_output_tokens"})

    def validate(self, request: ModelRequest) -> None:
        pass

    def admit(self) -> None:
        pass

    def context_window(self, model: str) -> int | None:
        return None

    def estimate_tokens(self, request: ModelRequest) -> int:
        return 10

    async def stream(self, request: ModelRequest):
        for piece in ("Hello from ", "the fake ", "upstream", "."):
            yield TextDelta(piece)
        yield UsageDelta(10, 4)
        yield Finish("stop")

    async def count_input_tokens(self, request: ModelRequest) -> int:
        return 10

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("fake-model", 0, "bench")]


def _served(pid: int, url: str, body: dict | None, n: int) -> float:
    """CPU of `pid` per request to `url` (GET without a body), one at a time."""
    with httpx.Client() as client:

        def one() -> None:
            reply = client.get(url) if body is None else client.post(url, json=body)
            reply.raise_for_status()

        for _ in range(100):
            one()
        start = _cpu_seconds(pid)
        for _ in range(n):
            one()
        return (_cpu_seconds(pid) - start) / n * 1000


def _uvicorn(app: str, n: int) -> float:
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--log-level", "warning"]
    args += ["--http", "httptools", "--loop", "uvloop", "--no-access-log"]
    with _process(args, dict(os.environ), f"http://127.0.0.1:{port}/") as proc:
        return _served(proc.pid, f"http://127.0.0.1:{port}/", CREATE, n)


async def _in_process(one, n: int) -> float:
    for _ in range(100):
        await one()
    start = time.process_time()
    for _ in range(n):
        await one()
    return (time.process_time() - start) / n * 1000


async def _engine(provider, store: bool, n: int) -> float:
    with tempfile.TemporaryDirectory() as data:
        sql = await SQLStore.open(f"sqlite:///{data}/bench.db", Path(data))
        engine = Engine(sql, provider, KeyRing([os.urandom(32)]))
        body = {**CREATE, "store": store}

        async def one() -> None:
            run = engine.run(await engine.prepare(ResponseCreateRequest.model_validate(body)))
            async for _ in run:
                pass
            assert run.final_json is not None

        try:
            return await _in_process(one, n)
        finally:
            await sql.close()


async def _provider_and_exchange(upstream: str, n: int) -> tuple[float, float]:
    provider = OpenAIChatModel(UpstreamConfig(base_url=f"{upstream}/v1"))
    hi = Message(role="user", content=[InputText(text="hi")])
    request = ModelRequest(model="fake-model", items=[hi])
    client = HTTP1Client(
        f"{upstream}/v1", {}, connect_timeout=5, read_timeout=60, max_connections=8, keep_alive=4
    )

    async def stream() -> None:
        async for _ in provider.stream(request):
            pass

    async def exchange() -> None:
        async with client.request("POST", "/chat/completions", CHAT) as answer:
            async for _ in answer.chunks():
                pass

    try:
        return await _in_process(stream, n), await _in_process(exchange, n)
    finally:
        await provider.close()
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    n = parser.parse_args().requests
    rows: dict[str, list[float]] = {}
    with servers() as (upstream, responsd, pid):
        for _ in range(2):
            figures = {
                "uvicorn, bare ASGI app (POST)": _uvicorn("bench.layers:bare", n),
                "uvicorn, one-route Starlette app (POST)": _uvicorn("bench.layers:starlette", n),
                "responsd /healthz (GET)": _served(pid, f"{responsd}/healthz", None, n),
                "responsd, a response, unstored": _served(
                    pid, f"{responsd}/v1/responses", {**CREATE, "store": False}, n
                ),
                "responsd, a response, stored": _served(pid, f"{responsd}/v1/responses", CREATE, n),
                "engine + scripted provider, unstored": uvloop.run(
                    _engine(ScriptedProvider(), False, n)
                ),
                "engine + scripted provider, stored": uvloop.run(
                    _engine(ScriptedProvider(), True, n)
                ),
                "engine + Chat Completions provider, stored": uvloop.run(
                    _engine(OpenAIChatModel(UpstreamConfig(base_url=f"{upstream}/v1")), True, n)
                ),
            }
            stream, exchange = uvloop.run(_provider_and_exchange(upstream, n))
            figures["Chat Completions provider's stream"] = stream
            figures["  … its bare HTTP exchange"] = exchange
            for label, value in figures.items():
                rows.setdefault(label, []).append(value)
    print(f"CPU per request (ms), {n} requests one at a time, two rounds")
    for label, values in rows.items():
        print(f"{label:46}" + "".join(f"{value:9.3f}" for value in values))


if __name__ == "__main__":
    main()
