"""responsd's memory (RSS) under load, in the upstream mode.

Starts the scripted upstream and `responsd serve` as separate processes (bench/overhead.py's
servers()), then reports responsd's RSS: at start (a later start on its database, unless
--first-start), with its CPU while idle; after N stored responses; after the same N again
(growth between two identical runs); and while C streams are open at once, each idle after
its first event (the upstream stalls them), with their time to first event.

Usage: python -m bench.memory [--responses N] [--streams C] [--first-start]
"""

import argparse
import asyncio
import time

import httpx

from bench.overhead import _cpu_seconds, _pct, _rss_mib, _throughput, servers

TARGET_MIB = 150


async def _store(client: httpx.AsyncClient, url: str, n: int) -> None:
    async def one():
        body = {"model": "fake-model", "input": "remember this"}
        (await client.post(f"{url}/v1/responses", json=body)).raise_for_status()

    await _throughput(one, n, 16)


async def _idle_streams(url: str, count: int, pid: int) -> tuple[float, list[float]]:
    """RSS with `count` streams open after their first event, and their times to it."""
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    started = asyncio.Event()
    firsts: list[float] = []
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def stream():
            body = {"model": "fake-model", "input": "!slow", "stream": True}
            begin = time.perf_counter()
            async with client.stream("POST", f"{url}/v1/responses", json=body) as reply:
                async for _ in reply.aiter_raw():
                    firsts.append(time.perf_counter() - begin)
                    if len(firsts) == count:
                        started.set()
                    await asyncio.sleep(3600)  # stay open, idle, until cancelled

        tasks = [asyncio.create_task(stream()) for _ in range(count)]
        await asyncio.wait_for(started.wait(), 300)
        await asyncio.sleep(1)
        rss = _rss_mib(pid)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return rss, firsts


IDLE_SECONDS = 20


async def measure(url: str, pid: int, responses: int, streams: int) -> None:
    print(f"responsd RSS at start: {_rss_mib(pid):.0f} MiB")
    before = _cpu_seconds(pid)
    await asyncio.sleep(IDLE_SECONDS)  # nothing asked: what its own timers and polls cost
    idle = (_cpu_seconds(pid) - before) / IDLE_SECONDS * 1000
    print(f"responsd CPU while idle: {idle:.1f} ms per second ({IDLE_SECONDS} s)")
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=32)) as client:
        for run in (1, 2):
            start = time.perf_counter()
            await _store(client, url, responses)
            took = time.perf_counter() - start
            print(
                f"after {responses} stored responses (run {run}, {responses / took:.0f}/s): "
                f"{_rss_mib(pid):.0f} MiB (target <= {TARGET_MIB})"
            )
    rss, firsts = await _idle_streams(url, streams, pid)
    print(
        f"with {streams} idle streams open: {rss:.0f} MiB; time to first event "
        f"p50 {_pct(firsts, 0.5):.0f} ms, p99 {_pct(firsts, 0.99):.0f} ms"
    )
    await asyncio.sleep(2)
    print(f"after they closed: {_rss_mib(pid):.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument(
        "--first-start",
        action="store_true",
        help="measure responsd's first start on a new database (it also holds Alembic)",
    )
    args = parser.parse_args()
    print("first start, new database" if args.first_start else "a later start")
    with servers(restarted=not args.first_start) as (_upstream, responsd, pid):
        asyncio.run(measure(responsd, pid, args.responses, args.streams))


if __name__ == "__main__":
    main()
