"""Which HTTP client should talk to the upstream: CPU per streamed request, client side.

Candidates: httpx, aiohttp, and responsd's own `providers/http1.py` (httptools), the one
`responsd serve` uses.
Starts the scripted upstream in its own process and streams the same small Chat Completions
answer with each candidate (keep-alive, one request at a time, uvloop as `responsd serve`
uses), measuring this process's CPU time per request. Run twice in alternation so drift on a
busy machine hits both alike.

Usage: python -m bench.upstream_client [--requests N]
"""

import argparse
import resource
import subprocess
import sys

import aiohttp
import httpx
import orjson

from bench.servers import free_port, wait_healthy
from responsd.providers.http1 import HTTP1Client

BODY = orjson.dumps(
    {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
)
HEADERS = {"Content-Type": "application/json"}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(one, n: int) -> float:
    for _ in range(100):  # warm the pool
        await one()
    start = _cpu()
    for _ in range(n):
        await one()
    return (_cpu() - start) / n * 1000


async def with_httpx(url: str, n: int) -> float:
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=128)
    async with httpx.AsyncClient(base_url=url, limits=limits, trust_env=False) as client:

        async def one() -> None:
            async with client.stream(
                "POST", "/chat/completions", content=BODY, headers=HEADERS
            ) as r:
                async for _ in r.aiter_lines():
                    pass

        return await _measure(one, n)


async def with_aiohttp(url: str, n: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as session:

        async def one() -> None:
            async with session.post(f"{url}/chat/completions", data=BODY, headers=HEADERS) as r:
                async for _ in r.content.iter_any():
                    pass

        return await _measure(one, n)


async def with_http1(url: str, n: int) -> float:
    client = HTTP1Client(
        url, {}, connect_timeout=5, read_timeout=60, max_connections=512, keep_alive=4
    )

    async def one() -> None:
        async with client.request("POST", "/chat/completions", BODY) as answer:
            async for _ in answer.chunks():
                pass

    try:
        return await _measure(one, n)
    finally:
        await client.close()


CANDIDATES = (("httpx", with_httpx), ("aiohttp", with_aiohttp), ("http1", with_http1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    port = free_port()
    upstream = subprocess.Popen([sys.executable, "-m", "bench.fake_upstream", "--port", str(port)])
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_healthy(upstream, f"{url}/models")
        import uvloop

        for round_ in (1, 2):
            for name, measure in CANDIDATES:
                cpu = uvloop.run(measure(url, args.requests))
                print(f"round {round_}: {name:8} {cpu:.3f} ms CPU per streamed request")
    finally:
        upstream.terminate()
        upstream.wait(10)


if __name__ == "__main__":
    main()
