"""Instructions per stored request, counted by valgrind: a figure that holds still.

On a busy 2-core machine the CPU figures of `bench.overhead` move by ±20% between runs;
a change worth 3% cannot be seen there. Instructions executed are nearly the same from
run to run (±1% here), so this is the bench for small changes, before and after.

responsd's app runs in this process under `valgrind --tool=callgrind` (ASGI calls made
here, no uvicorn and no sockets in front; the scripted upstream in its own process, not
counted), twice: once with N/3 requests and once with N, so start-up cancels out. Counted:
a fresh stored request, one more turn on a chain DEPTH turns deep (each continuing the
same response, as `bench.overhead` does), and a streamed long answer (~250 chunks from the
upstream, ~250 events to the client: what each streamed token costs). Timers that tick by
the wall clock (the queue polls) are stopped, and hash randomisation is fixed: valgrind runs
~50× slower, and both would add work per request that depends on that speed.

Not counted: what instructions cannot show (cache misses: a deep turn touching 2,000
items costs more time than its instruction count says; system calls in the kernel).

Usage: python -m bench.instructions [--requests N] [--depth DEPTH]   (needs valgrind)
"""

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile

import orjson

from bench.overhead import _process
from bench.servers import free_port

STREAMED = -1
"""`depth` of the streamed long answer's runs (no chain)."""


def count(upstream: str, requests: int, depth: int) -> int:
    """Instructions valgrind counted for a run of this module's `--drive` mode."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    command += ["-m", "bench.instructions", "--drive", upstream, str(requests), str(depth)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    found = re.search(r"refs:\s*([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"valgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def drive(upstream: str, requests: int, depth: int) -> None:
    """`requests` stored requests through the app in this process (a chain first, if
    `depth`: then each request continues its last response; STREAMED: a streamed long
    answer each)."""
    import uvloop

    import responsd.engine.background as background
    import responsd.engine.library as library
    from responsd.app import create_app
    from responsd.concurrency import tune_gc
    from responsd.config import Settings

    tune_gc()
    background.POLL = library.POLL = 1e9  # no wall-clock polls (see the module doc)

    async def main() -> None:
        with tempfile.TemporaryDirectory() as data:
            app = create_app(Settings(upstream_url=upstream, data_dir=data, log_level="warning"))
            to_app: asyncio.Queue = asyncio.Queue()
            from_app: asyncio.Queue = asyncio.Queue()
            lifespan = asyncio.create_task(
                app({"type": "lifespan", "asgi": {"version": "3.0"}}, to_app.get, from_app.put)
            )
            await to_app.put({"type": "lifespan.startup"})
            assert (await from_app.get())["type"] == "lifespan.startup.complete"
            if depth == STREAMED:
                for _ in range(requests):
                    await _create(app, {"input": "!long", "stream": True})
                return
            head = None
            for turn in range(depth):
                head = await _create(app, {"input": f"turn {turn}", "previous_response_id": head})
            for _ in range(requests):
                await _create(app, {"input": "hi", "previous_response_id": head})
            await to_app.put({"type": "lifespan.shutdown"})
            await lifespan

    uvloop.run(main())


async def _create(app, fields: dict) -> str:
    """POST /v1/responses straight to the ASGI app; the new response's id."""
    body = orjson.dumps({"model": "fake-model", **{k: v for k, v in fields.items() if v}})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/responses",
        "raw_path": b"/v1/responses",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never leaves
        raise AssertionError

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"POST /v1/responses answered {sent[0]['status']}: {sent[1:]}")
    if fields.get("stream"):
        body = b"".join(message.get("body", b"") for message in sent[1:])
        if b"event: response.completed" not in body:
            raise RuntimeError(f"the stream did not complete: {body[-500:]!r}")
        return ""
    return orjson.loads(sent[1]["body"])["id"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--drive", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args.drive[0], int(args.drive[1]), int(args.drive[2]))
        return
    if shutil.which("valgrind") is None:
        sys.exit("bench.instructions needs valgrind (Debian: apt-get install valgrind)")
    port = free_port()
    upstream = f"http://127.0.0.1:{port}"
    few, many = args.requests // 3, args.requests
    with _process(
        [sys.executable, "-m", "bench.fake_upstream", "--port", str(port)],
        dict(os.environ),
        f"{upstream}/v1/models",
    ):
        figures = {}
        runs = (
            ("fresh stored request", 0, few, many),
            (f"turn {args.depth + 1}", args.depth, few, many),
            # ~8x a fresh request's work each: fewer of them
            ("streamed long answer", STREAMED, max(1, few // 8), max(2, many // 8)),
        )
        for label, depth, low, high in runs:
            extra = count(f"{upstream}/v1", high, depth) - count(f"{upstream}/v1", low, depth)
            figures[label] = extra / (high - low)
    fresh = figures["fresh stored request"]
    for label, value in figures.items():
        print(f"{label:28} {value / 1e6:6.3f} M instructions   {value / fresh:.2f}x")


if __name__ == "__main__":
    main()
