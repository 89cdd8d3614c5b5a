"""Does `responsd serve --workers N` scale? Requests/s and CPU per request with many in flight.

For each N given, starts the scripted upstream and `responsd serve --workers N` (separate
processes on loopback, a fresh SQLite database each), sends stored non-streaming requests
with WIDE clients in flight, and prints requests/s, the speed-up over the first N, and the
CPU per request summed over all worker processes. The client and the upstream share the
machine's cores with responsd: on a machine with few cores they cap what more workers can
show (the line says how many cores there are).

Usage: python -m bench.workers [--requests N] [--workers 1 2 …]
"""

import argparse
import asyncio
import os

import httpx

from bench.overhead import WIDE, _cpu_seconds, _throughput, servers


async def measure(responsd: str, n: int, pid: int) -> tuple[float, float]:
    create = {"model": "fake-model", "input": "hi"}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=WIDE)) as client:

        async def call():
            (await client.post(f"{responsd}/v1/responses", json=create)).raise_for_status()

        await _throughput(call, 4 * WIDE, WIDE)  # every worker warm
        cpu = _cpu_seconds(pid)
        rps = await _throughput(call, n, WIDE)
        return rps, (_cpu_seconds(pid) - cpu) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {WIDE} requests in flight; {args.requests} stored requests")
    print(f"{'workers':>8}{'requests/s':>12}{'speed-up':>10}{'CPU/request (ms)':>18}")
    first = None
    for workers in args.workers:
        with servers(workers) as (_upstream, responsd, pid):
            rps, cpu = asyncio.run(measure(responsd, args.requests, pid))
        first = first or rps
        print(f"{workers:8d}{rps:12.0f}{rps / first:9.2f}x{cpu:18.2f}")


if __name__ == "__main__":
    main()
