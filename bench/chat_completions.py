"""What responsd's /v1/chat/completions adds on top of its upstream, and `responsd migrate` speed.

Starts the scripted upstream and `responsd serve` as separate processes on loopback (as
bench/overhead.py does) and measures side by side in one run: p50/p99 latency one request at
a time, requests/s with CONCURRENCY in flight, responsd's CPU per request (not stored and
stored), and time to the first streamed chunk. Then times `responsd migrate` (diff mode) on a
tree made of many copies of tests/migrate_corpus.

Usage: python -m bench.chat_completions [--requests N] [--files N]
"""

import argparse
import asyncio
import io
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from bench.overhead import (
    CONCURRENCY,
    _cpu_seconds,
    _first_event,
    _pct,
    _throughput,
    _timed,
    servers,
)

CORPUS = Path(__file__).parent.parent / "tests" / "migrate_corpus"


async def measure(upstream: str, responsd: str, n: int, pid: int) -> None:
    messages = [{"role": "user", "content": "hi"}]
    direct_body = {
        "model": "fake-model",
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    plain = {"model": "fake-model", "messages": messages}
    stored = {**plain, "store": True}
    limits = httpx.Limits(max_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def post(url: str, body: dict) -> None:
            (await client.post(url, json=body)).raise_for_status()

        async def direct():
            await post(f"{upstream}/v1/chat/completions", direct_body)

        async def through():
            await post(f"{responsd}/v1/chat/completions", plain)

        async def through_stored():
            await post(f"{responsd}/v1/chat/completions", stored)

        await _timed((direct, through, through_stored), 50)  # warm connections and caches
        d_lat, r_lat = await _timed((direct, through), n)
        d_rps = await _throughput(direct, n)
        cpu = _cpu_seconds(pid)
        r_rps = await _throughput(through, n)
        cpu_plain = (_cpu_seconds(pid) - cpu) / n * 1000
        cpu = _cpu_seconds(pid)
        s_rps = await _throughput(through_stored, n)
        cpu_stored = (_cpu_seconds(pid) - cpu) / n * 1000
        d_ttfe = [
            await _first_event(client, f"{upstream}/v1/chat/completions", direct_body)
            for _ in range(n // 4)
        ]
        r_ttfe = [
            await _first_event(client, f"{responsd}/v1/chat/completions", direct_body)
            for _ in range(n // 4)
        ]
    print(f"requests per measurement: {n}; concurrency for throughput: {CONCURRENCY}")
    print(f"{'':34}{'direct':>10}{'responsd':>10}{'added':>10}")
    for label, d, r in (
        ("latency p50 (ms)", _pct(d_lat, 0.5), _pct(r_lat, 0.5)),
        ("latency p99 (ms)", _pct(d_lat, 0.99), _pct(r_lat, 0.99)),
        ("time to first chunk p50 (ms)", _pct(d_ttfe, 0.5), _pct(r_ttfe, 0.5)),
    ):
        print(f"{label:34}{d:10.2f}{r:10.2f}{r - d:10.2f}")
    print(f"{'requests/s':34}{d_rps:10.0f}{r_rps:10.0f}")
    print(f"{'requests/s, store=true':34}{'':10}{s_rps:10.0f}")
    print(f"{'responsd CPU per request (ms)':34}{'':10}{cpu_plain:10.2f}")
    print(f"{'  … with store=true (ms)':34}{'':10}{cpu_stored:10.2f}")


def migrate_speed(files: int) -> None:
    from responsd.migrate.command import migrate_paths

    programs = sorted(CORPUS.glob("*.py"))
    with tempfile.TemporaryDirectory() as root:
        for i in range(files):
            target = Path(root) / f"pkg{i // 100}" / f"m{i}.py"
            target.parent.mkdir(exist_ok=True)
            shutil.copy(programs[i % len(programs)], target)
        lines = sum(len(p.read_text().splitlines()) for p in Path(root).rglob("*.py"))
        start = time.perf_counter()
        summary = migrate_paths([Path(root)], out=io.StringIO(), err=io.StringIO())
        elapsed = time.perf_counter() - start
    calls = summary.migrated() + len(summary.left())
    print(
        f"responsd migrate: {files} files ({lines} lines, {calls} calls) in {elapsed:.2f} s: "
        f"{files / elapsed:.0f} files/s, {lines / elapsed:.0f} lines/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    with servers() as (upstream, responsd, pid):
        asyncio.run(measure(upstream, responsd, args.requests, pid))
    migrate_speed(args.files)


if __name__ == "__main__":
    main()
