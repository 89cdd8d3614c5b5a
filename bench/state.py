"""Cost of state: one more turn on deep previous_response_id chains and long conversations.

For SQLite and PostgreSQL (a throwaway server), with the scripted upstream answering
instantly, builds chains of depth 1, 100 and 1,000 and conversations of 10, 1,000 and
10,000 items, then measures p50 latency of one more turn. Every turn reads its history
from the database (one statement); parsing is skipped for items parsed before.

Usage: python -m bench.state [--samples N]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import httpx

from bench.overhead import _process
from bench.postgres import PostgresServer
from bench.servers import free_port

DEPTHS = (1, 100, 1000)
SIZES = (10, 1000, 10000)


def _p50(call, samples: int) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(client: httpx.Client, samples: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    tip, depth = None, 0
    for target in DEPTHS:
        while depth < target:
            body = {"model": "fake-model", "input": f"turn {depth}", "previous_response_id": tip}
            tip = client.post("/v1/responses", json=body).json()["id"]
            depth += 1
        body = {"model": "fake-model", "input": "one more", "previous_response_id": tip}
        figures[f"chain depth {target}"] = _p50(
            lambda body=body: client.post("/v1/responses", json=body).raise_for_status(), samples
        )
    for size in SIZES:
        conv = client.post("/v1/conversations", json={}).json()["id"]
        for start in range(0, size, 20):
            items = [
                {"role": "user", "content": f"item {n}"}
                for n in range(start, min(size, start + 20))
            ]
            client.post(f"/v1/conversations/{conv}/items", json={"items": items}).raise_for_status()
        body = {"model": "fake-model", "input": "one more", "conversation": conv}
        # Each turn appends two items; the growth over the samples is negligible.
        figures[f"conversation of {size} items"] = _p50(
            lambda body=body: client.post("/v1/responses", json=body).raise_for_status(), samples
        )
    return figures


def run(database_url: str | None, samples: int) -> dict[str, float]:
    up_port, rd_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "RESPONSD_UPSTREAM_URL": f"http://127.0.0.1:{up_port}/v1",
            "RESPONSD_DATA_DIR": data_dir,
            "RESPONSD_PORT": str(rd_port),
            "RESPONSD_LOG_LEVEL": "warning",
        }
        if database_url:
            env["RESPONSD_DATABASE_URL"] = database_url
        up_cmd = [sys.executable, "-m", "bench.fake_upstream", "--port", str(up_port)]
        rd_cmd = [sys.executable, "-m", "responsd", "serve"]
        url = f"http://127.0.0.1:{rd_port}"
        with (
            _process(up_cmd, env, f"http://127.0.0.1:{up_port}/v1/models"),
            _process(rd_cmd, env, f"{url}/healthz"),
            httpx.Client(base_url=url, timeout=60) as client,
        ):
            return measure(client, samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    sqlite = run(None, args.samples)
    postgres_server = PostgresServer().start()
    try:
        postgres = run(postgres_server.create_database(), args.samples)
    finally:
        postgres_server.stop()
    print(
        f"p50 latency of one more turn (ms), {args.samples} samples, history read from the database"
    )
    print(f"{'':28}{'SQLite':>10}{'PostgreSQL':>12}")
    for key in sqlite:
        print(f"{key:28}{sqlite[key]:10.2f}{postgres[key]:12.2f}")


if __name__ == "__main__":
    main()
