"""Does one huge request stall the others? /healthz latency while a 100,000-item input runs.

Starts the scripted upstream and `responsd serve` as processes of their own, sends one
request whose input holds ITEMS easy messages (about 4 MB of JSON), and polls /healthz
every 5 ms from a thread until it is answered. Prints the poll latencies and the request's
own time; the last line is machine-readable for tests (`p99_ms=…`).

Usage: python -m bench.big_input [--items N]
"""

import argparse
import os
import sys
import tempfile
import threading
import time

import httpx
import orjson

from bench.overhead import _pct, _process
from bench.servers import free_port


def measure(base: str, items: int) -> tuple[list[float], float, int]:
    messages = [{"role": "user", "content": f"message {i}"} for i in range(items)]
    body = orjson.dumps({"model": "fake-model", "input": messages, "store": False})
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                started = time.perf_counter()
                client.get(f"{base}/healthz")
                latencies.append(time.perf_counter() - started)
                time.sleep(0.005)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)
    started = time.perf_counter()
    try:
        reply = httpx.post(
            f"{base}/v1/responses",
            content=body,
            headers={"content-type": "application/json"},
            timeout=300,
        )
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        poller.join()
    return latencies, elapsed, reply.status_code


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    up_port, port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "RESPONSD_UPSTREAM_URL": f"http://127.0.0.1:{up_port}/v1",
            "RESPONSD_DATA_DIR": data_dir,
            "RESPONSD_PORT": str(port),
            "RESPONSD_LOG_LEVEL": "warning",
        }
        up_cmd = [sys.executable, "-m", "bench.fake_upstream", "--port", str(up_port)]
        with (
            _process(up_cmd, env, f"http://127.0.0.1:{up_port}/v1/models"),
            _process(
                [sys.executable, "-m", "responsd", "serve"], env, f"http://127.0.0.1:{port}/healthz"
            ),
        ):
            latencies, elapsed, status = measure(f"http://127.0.0.1:{port}", args.items)
    print(f"input items: {args.items}; request: HTTP {status} in {elapsed:.2f} s")
    print(
        f"/healthz during it: {len(latencies)} polls, p50 {_pct(latencies, 0.5):.1f} ms, "
        f"p99 {_pct(latencies, 0.99):.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    print(f"status={status} polls={len(latencies)} p99_ms={_pct(latencies, 0.99):.1f}")


if __name__ == "__main__":
    main()
