"""What responsd adds on top of its upstream: latency, throughput, time to first event, chains.

Starts the scripted upstream (answers instantly) and `responsd serve` as separate processes
on loopback, then measures, side by side in one run:
  - p50/p99 latency of one request at a time: upstream direct vs responsd (store=true);
  - requests/s with CONCURRENCY requests in flight: direct vs responsd;
  - time to first event of a stream: direct first chunk vs responsd's response.created;
  - responsd's CPU per request one at a time, with 16 and with 32 in flight, and one at a
    time for a long answer (~250 streamed chunks from the upstream: "!long"), and for the
    same answer streamed to the client (~250 events);
  - one more turn on a 50-turn and a 1,000-turn previous_response_id chain vs a fresh turn,
    and what responsd adds over the same upstream request sent directly (a 2,001-message
    request costs the upstream itself more than a 1-message one);
  - responsd's RSS after the run.
Each line shows the target of issue 12 beside it where there is one.

Usage: python -m bench.overhead [--requests N]
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import httpx
import orjson

from bench.servers import free_port, wait_healthy

CONCURRENCY = 16
WIDE = 32
"""Clients in flight for the scaling check: CPU per request there vs one at a time."""


@contextmanager
def _process(args: list[str], env: dict[str, str], health_url: str):
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_healthy(proc, health_url)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of `pid` and its live descendants (`--workers N`)."""
    total = 0.0
    for one in _tree(pid):
        try:
            with open(f"/proc/{one}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # gone meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        one = todo.pop()
        found.append(one)
        todo += children.get(one, [])
    return found


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def _timed(calls, n: int) -> list[list[float]]:
    """Latencies of each call, interleaved so that drift on a busy machine hits all alike."""
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(n):
        for call, samples in zip(calls, times, strict=True):
            start = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - start)
    return times


async def _throughput(call, n: int, concurrency: int = CONCURRENCY) -> float:
    queue = iter(range(n))

    async def worker():
        for _ in queue:
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def _first_event(client: httpx.AsyncClient, url: str, body: dict) -> float:
    start = time.perf_counter()
    elapsed = None
    async with client.stream("POST", url, json=body) as reply:
        async for _ in reply.aiter_raw():
            if elapsed is None:
                elapsed = time.perf_counter() - start
    return elapsed


async def measure(upstream: str, responsd: str, n: int, pid: int, depth: int) -> None:
    chat = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    create = {"model": "fake-model", "input": "hi"}
    limits = httpx.Limits(max_connections=WIDE * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def direct():
            (await client.post(f"{upstream}/v1/chat/completions", json=chat)).raise_for_status()

        async def through():
            (await client.post(f"{responsd}/v1/responses", json=create)).raise_for_status()

        await _timed((direct, through), 50)  # warm connections and caches
        d_lat, r_lat = await _timed((direct, through), n)
        cpu = _cpu_seconds(pid)
        await _throughput(through, n, 1)
        cpu_c1 = (_cpu_seconds(pid) - cpu) / n * 1000

        async def through_long():
            body = {**create, "input": "!long"}
            (await client.post(f"{responsd}/v1/responses", json=body)).raise_for_status()

        async def streamed_long():
            body = {**create, "input": "!long", "stream": True}
            async with client.stream("POST", f"{responsd}/v1/responses", json=body) as reply:
                reply.raise_for_status()
                async for _ in reply.aiter_raw():
                    pass

        cpu = _cpu_seconds(pid)
        await _throughput(through_long, n // 2, 1)
        cpu_long = (_cpu_seconds(pid) - cpu) / (n // 2) * 1000
        cpu = _cpu_seconds(pid)
        await _throughput(streamed_long, n // 2, 1)
        cpu_streamed = (_cpu_seconds(pid) - cpu) / (n // 2) * 1000
        d_rps = await _throughput(direct, n)
        cpu = _cpu_seconds(pid)
        r_rps = await _throughput(through, n)
        cpu_c16 = (_cpu_seconds(pid) - cpu) / n * 1000
        cpu = _cpu_seconds(pid)
        w_rps = await _throughput(through, n, WIDE)
        cpu_wide = (_cpu_seconds(pid) - cpu) / n * 1000
        d_ttfe = [
            await _first_event(client, f"{upstream}/v1/chat/completions", chat)
            for _ in range(n // 4)
        ]
        r_ttfe = [
            await _first_event(client, f"{responsd}/v1/responses", {**create, "stream": True})
            for _ in range(n // 4)
        ]
        chains = {}
        previous = None
        for turn in range(1, depth + 1):
            body = {**create, "input": f"turn {turn}", "previous_response_id": previous}
            previous = (await client.post(f"{responsd}/v1/responses", json=body)).json()["id"]
            if turn in (50, depth):
                chains[turn] = previous

        def continuing(response_id: str):
            async def call():
                body = {**create, "previous_response_id": response_id}
                (await client.post(f"{responsd}/v1/responses", json=body)).raise_for_status()

            return call

        turns = [continuing(chains[d]) for d in sorted(chains)]
        # The deepest turn's upstream request, sent directly: what the upstream itself
        # spends on a long history is not responsd's.
        history = []
        for turn in range(1, depth + 1):
            history += [
                {"role": "user", "content": f"turn {turn}"},
                {"role": "assistant", "content": "Hello from the fake upstream."},
            ]
        # Encoded once: the client's own JSON encoding of 2,001 messages is not the upstream's.
        deep_chat = orjson.dumps({**chat, "messages": [*history, *chat["messages"]]})

        async def direct_deep():
            headers = {"content-type": "application/json"}
            url = f"{upstream}/v1/chat/completions"
            (await client.post(url, content=deep_chat, headers=headers)).raise_for_status()

        second: list[float] = []

        async def second_turn():  # an agent's second turn: continuing a new response once
            url = f"{responsd}/v1/responses"
            first = (await client.post(url, json=create)).json()["id"]
            start = time.perf_counter()
            body = {**create, "previous_response_id": first}
            (await client.post(url, json=body)).raise_for_status()
            second.append(time.perf_counter() - start)

        direct_fresh, fresh, direct_long, _, *deep = await _timed(
            (direct, through, direct_deep, second_turn, *turns), n // 4
        )

    print(f"requests per measurement: {n}; concurrency for throughput: {CONCURRENCY}")
    print(f"{'':36}{'direct':>10}{'responsd':>10}{'added':>10}{'target':>10}")
    for label, d, r, target in (
        ("latency p50 (ms)", _pct(d_lat, 0.5), _pct(r_lat, 0.5), "<= 1.5"),
        ("latency p99 (ms)", _pct(d_lat, 0.99), _pct(r_lat, 0.99), ""),
        ("time to first event p50 (ms)", _pct(d_ttfe, 0.5), _pct(r_ttfe, 0.5), "<= 0.5"),
    ):
        print(f"{label:36}{d:10.2f}{r:10.2f}{r - d:10.2f}{target:>10}")
    print(f"{'requests/s (16 in flight)':36}{d_rps:10.0f}{r_rps:10.0f}")
    print(f"{f'requests/s ({WIDE} in flight)':36}{'':10}{w_rps:10.0f}")
    print(f"{'responsd CPU per request, c=1 (ms)':36}{'':10}{cpu_c1:10.2f}{'':10}{'<= 1.0':>10}")
    print(f"{'  … a long answer, ~250 chunks (ms)':36}{'':10}{cpu_long:10.2f}")
    print(f"{'  … the same streamed, ~250 events (ms)':36}{'':10}{cpu_streamed:10.2f}")
    print(f"{'  … with 16 in flight (ms)':36}{'':10}{cpu_c16:10.2f}")
    ratio = cpu_wide / cpu_c1
    print(
        f"{f'  … with {WIDE} in flight (ms)':36}{'':10}{cpu_wide:10.2f}{ratio:9.2f}x{'<= 1.2x':>10}"
    )
    f50 = _pct(fresh, 0.5)
    print(f"{'fresh turn p50 (ms)':36}{'':10}{f50:10.2f}")
    s50 = _pct(second, 0.5)
    print(f"{'turn 2 of a new chain p50 (ms)':36}{'':10}{s50:10.2f}{s50 / f50:9.2f}x")
    for d, samples in zip(sorted(chains), deep, strict=True):
        c50 = _pct(samples, 0.5)
        label = f"turn {d + 1} of a chain p50 (ms)"
        target = "<= 1.2x" if d == depth and d >= 1000 else ""
        print(f"{label:36}{'':10}{c50:10.2f}{c50 / f50:9.2f}x{target:>10}")
    fresh_added = f50 - _pct(direct_fresh, 0.5)
    deep_added = _pct(deep[-1], 0.5) - _pct(direct_long, 0.5)
    print(f"{'  added over its upstream call, fresh':36}{'':10}{fresh_added:10.2f}")
    label = f"  … turn {depth + 1}"
    print(f"{label:36}{'':10}{deep_added:10.2f}{deep_added / fresh_added:9.2f}x")
    print(f"{'responsd RSS after the run (MiB)':36}{'':10}{_rss_mib(pid):10.0f}")
    mean_d, mean_r = statistics.mean(d_lat) * 1000, statistics.mean(r_lat) * 1000
    print(f"mean latency: direct {mean_d:.2f} ms, responsd {mean_r:.2f} ms")


@contextmanager
def servers(workers: int = 1, restarted: bool = False):
    """The scripted upstream and `responsd serve` (with `workers` processes) on it, each its
    own process on loopback: yields (upstream URL, responsd URL, responsd's pid). With
    `restarted`, responsd has run once on its database before (as on any start but the
    first: the database is migrated, so Alembic is not loaded)."""
    up_port, rd_port = free_port(), free_port()
    upstream, responsd = f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{rd_port}"
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "RESPONSD_UPSTREAM_URL": f"{upstream}/v1",
            "RESPONSD_DATA_DIR": data_dir,
            "RESPONSD_PORT": str(rd_port),
            "RESPONSD_LOG_LEVEL": "warning",
        }
        up_cmd = [sys.executable, "-m", "bench.fake_upstream", "--port", str(up_port)]
        rd_cmd = [sys.executable, "-m", "responsd", "serve", "--workers", str(workers)]
        if restarted:
            with _process(rd_cmd, env, f"{responsd}/healthz"):
                pass
        with (
            _process(up_cmd, env, f"{upstream}/v1/models"),
            _process(rd_cmd, env, f"{responsd}/healthz") as server,
        ):
            yield upstream, responsd, server.pid


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=1000, help="the long chain's turns")
    args = parser.parse_args()
    with servers() as (upstream, responsd, pid):
        asyncio.run(measure(upstream, responsd, args.requests, pid, args.depth))


if __name__ == "__main__":
    main()
