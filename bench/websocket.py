"""What a turn of an agent loop costs over WebSocket mode vs over HTTP.

Starts the scripted upstream and `responsd serve` (bench/overhead.py's servers()), then
runs chains of TURNS turns, each continuing the last with `previous_response_id`, the way
an agent loop (Codex) does, and measures per turn: latency until `response.completed` (over
all turns, and over each chain's last DEEP turns: what a long session's turns cost) and
responsd's CPU. Three ways, interleaved chain by chain so drift hits all alike:
  - HTTP, streamed (SSE), store=true: the chain continues from the database;
  - WebSocket, store=true: one socket, events as frames, the chain from the socket's memory;
  - WebSocket, store=false: the same, nothing written (zero data retention).

Usage: python -m bench.websocket [--chains N] [--turns T]
"""

import argparse
import asyncio
import json
import time

import httpx
from websockets.asyncio.client import connect

from bench.overhead import _cpu_seconds, _pct, servers

CREATE = {"model": "fake-model"}
DEEP = 10


async def _http_chain(client: httpx.AsyncClient, url: str, turns: int) -> list[float]:
    times, previous = [], None
    for turn in range(turns):
        body = {**CREATE, "input": f"turn {turn}", "stream": True}
        if previous:
            body["previous_response_id"] = previous
        start = time.perf_counter()
        async with client.stream("POST", f"{url}/v1/responses", json=body) as reply:
            async for line in reply.aiter_lines():
                if line.startswith("data: ") and '"response.completed"' in line:
                    previous = json.loads(line[6:])["response"]["id"]
        times.append(time.perf_counter() - start)
        assert previous is not None, "no response.completed"
    return times


async def _socket_chain(url: str, turns: int, store: bool) -> list[float]:
    times, previous = [], None
    async with connect(url.replace("http", "ws", 1) + "/v1/responses") as socket:
        for turn in range(turns):
            frame = {"type": "response.create", **CREATE, "input": f"turn {turn}"}
            frame["store"] = store
            if previous:
                frame["previous_response_id"] = previous
            start = time.perf_counter()
            await socket.send(json.dumps(frame))
            while True:
                event = json.loads(await socket.recv())
                if event["type"] == "response.completed":
                    previous = event["response"]["id"]
                    break
                if event["type"] in ("error", "response.failed"):
                    raise RuntimeError(f"the turn failed: {event}")
            times.append(time.perf_counter() - start)
    return times


async def measure(url: str, pid: int, chains: int, turns: int) -> None:
    ways = {
        "HTTP + SSE, store=true": None,
        "WebSocket, store=true": True,
        "WebSocket, store=false": False,
    }
    latency: dict[str, list[float]] = {way: [] for way in ways}
    deep: dict[str, list[float]] = {way: [] for way in ways}
    cpu: dict[str, float] = dict.fromkeys(ways, 0.0)
    async with httpx.AsyncClient(timeout=60) as client:
        await _http_chain(client, url, turns)  # warm connections and caches
        await _socket_chain(url, turns, False)
        for _ in range(chains):
            for way, store in ways.items():
                before = _cpu_seconds(pid)
                if store is None:
                    samples = await _http_chain(client, url, turns)
                else:
                    samples = await _socket_chain(url, turns, store)
                cpu[way] += _cpu_seconds(pid) - before
                latency[way] += samples
                deep[way] += samples[-DEEP:]
    print(f"{chains} chains of {turns} turns each way")
    heads = ("turn p50", "turn p99", f"last {DEEP} p50", "CPU/turn")
    print(f"{'(ms)':28}" + "".join(f"{head:>14}" for head in heads))
    for way, samples in latency.items():
        figures = (
            _pct(samples, 0.5),
            _pct(samples, 0.99),
            _pct(deep[way], 0.5),
            cpu[way] / len(samples) * 1000,
        )
        print(f"{way:28}" + "".join(f"{figure:14.2f}" for figure in figures))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chains", type=int, default=5)
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    with servers() as (_, url, pid):
        asyncio.run(measure(url, pid, args.chains, args.turns))


if __name__ == "__main__":
    main()
