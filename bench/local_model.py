"""The embedded model through responsd vs llama-cpp-python called directly, and KV reuse.

Prints, in one run:
  - generation speed (output tokens/s, whole request) of the same prompt, greedy, through
    `responsd serve` (a separate process, streaming) and through llama-cpp-python in this
    process, and their ratio;
  - for a 10-turn previous_response_id conversation, the share of each turn's prompt
    served from the KV cache, and the share of the previous turn's context reused;
  - first run: the README's example (`What is the capital of France?`, no sampling
    settings) on a freshly started server: wall time and the answer;
  - fairness: 8 concurrent streaming clients against 1, 2 and 4 contexts
    (RESPONSD_LOCAL_PARALLEL): aggregate output tokens/s and time to first token p50/p99.

Usage: python -m bench.local_model [--tokens N] [--only first-run|concurrency]
"""

import argparse
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
from llama_cpp import Llama

from bench.overhead import _pct, _process
from bench.servers import free_port
from responsd.providers.local import default_model_path, model_id_for

PROMPT = "Write a long story about a lighthouse keeper and the sea."
RUNS = 3


def direct_speed(tokens: int) -> float:
    llama = Llama(str(default_model_path()), n_ctx=4096, verbose=False)
    speeds = []
    for _ in range(RUNS):
        start = time.perf_counter()
        reply = llama.create_chat_completion(
            [{"role": "user", "content": PROMPT}], max_tokens=tokens, temperature=0
        )
        speeds.append(reply["usage"]["completion_tokens"] / (time.perf_counter() - start))
    return statistics.median(speeds)


def served_speed(client: httpx.Client, model: str, tokens: int) -> float:
    body = {
        "model": model,
        "input": PROMPT,
        "max_output_tokens": tokens,
        "temperature": 0,
        "stream": True,
    }
    speeds = []
    for _ in range(RUNS):
        start = time.perf_counter()
        final = None
        with client.stream("POST", "/v1/responses", json=body) as reply:
            for line in reply.iter_lines():
                if (
                    line.startswith("data: {")
                    and '"response.incomplete"' in line
                    or (line.startswith("data: {") and '"response.completed"' in line)
                ):
                    final = orjson.loads(line[6:])["response"]
        speeds.append(final["usage"]["output_tokens"] / (time.perf_counter() - start))
    return statistics.median(speeds)


def conversation(client: httpx.Client, model: str) -> None:
    previous, context = None, 0
    header = ("turn", "input", "cached", "cached/input", "cached/previous context")
    print(f"{header[0]:>4} {header[1]:>6} {header[2]:>6} {header[3]:>12} {header[4]:>24}")
    for turn in range(1, 11):
        body = {
            "model": model,
            "input": f"Tell me one fact about the number {turn}.",
            "max_output_tokens": 24,
            "temperature": 0,
            "previous_response_id": previous,
        }
        response = client.post("/v1/responses", json=body).json()
        usage = response["usage"]
        cached = usage["input_tokens_details"]["cached_tokens"]
        reused = f"{cached / context:24.0%}" if context else f"{'-':>24}"
        share = cached / usage["input_tokens"]
        print(f"{turn:4d} {usage['input_tokens']:6d} {cached:6d} {share:12.0%} {reused}")
        previous, context = response["id"], usage["input_tokens"] + usage["output_tokens"]


_FINAL = re.compile(r'"type":\s*"response\.(completed|incomplete)"')
CLIENTS = 8
README_QUESTION = "What is the capital of France?"


@contextlib.contextmanager
def _server(data_dir: str, **settings: str):
    port = free_port()
    env = {
        **os.environ,
        "RESPONSD_DATA_DIR": data_dir,
        "RESPONSD_PORT": str(port),
        "RESPONSD_LOG_LEVEL": "warning",
        **{f"RESPONSD_{k.upper()}": v for k, v in settings.items()},
    }
    env.pop("RESPONSD_UPSTREAM_URL", None)
    url = f"http://127.0.0.1:{port}"
    with (
        _process([sys.executable, "-m", "responsd", "serve"], env, f"{url}/healthz"),
        httpx.Client(base_url=url, timeout=600) as client,
    ):
        yield client


def first_run(model: str) -> None:
    with tempfile.TemporaryDirectory() as data_dir, _server(data_dir) as client:
        start = time.perf_counter()
        reply = client.post("/v1/responses", json={"model": model, "input": README_QUESTION})
        wall = time.perf_counter() - start
        body = reply.json()
        text = body["output"][0]["content"][0]["text"] if body.get("output") else body
        print(f"first run (README example, fresh server): {wall:.2f} s, {body.get('status')}:")
        print(f"  {text!r:.200}")


def _stream_one(client: httpx.Client, model: str, n: int) -> tuple[float, int]:
    body = {"model": model, "input": f"Tell me a story about the number {n}.", "stream": True}
    start = time.perf_counter()
    first, tokens = None, 0
    with client.stream("POST", "/v1/responses", json={**body, "max_output_tokens": 128}) as r:
        for line in r.iter_lines():
            if first is None and '"response.output_text.delta"' in line:
                first = time.perf_counter() - start
            if line.startswith("data: {") and _FINAL.search(line):
                tokens = orjson.loads(line[6:])["response"]["usage"]["output_tokens"]
    return first if first is not None else time.perf_counter() - start, tokens


def concurrency(model: str) -> None:
    print(f"{CLIENTS} concurrent streaming clients, 128 output tokens each:")
    header = f"{'contexts':>8} {'threads':>7} {'tokens/s':>9} {'TTFT p50 ms':>12}"
    print(f"{header} {'TTFT p99 ms':>12} {'wall s':>7}")
    cores = os.cpu_count() or 1
    for parallel, threads in ((1, 1), (1, cores), (2, 1), (2, cores), (4, 1)):
        settings = {"local_parallel": str(parallel), "local_threads": str(threads)}
        with tempfile.TemporaryDirectory() as data_dir, _server(data_dir, **settings) as client:
            _stream_one(client, model, 0)  # warm up
            start = time.perf_counter()
            with ThreadPoolExecutor(CLIENTS) as pool:
                results = list(pool.map(lambda n: _stream_one(client, model, n), range(CLIENTS)))
            wall = time.perf_counter() - start
        ttft = [r[0] for r in results]
        rate = sum(r[1] for r in results) / wall
        p50, p99 = _pct(ttft, 0.5), _pct(ttft, 0.99)
        print(f"{parallel:8d} {threads:7d} {rate:9.1f} {p50:12.0f} {p99:12.0f} {wall:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--only", choices=("first-run", "concurrency"))
    args = parser.parse_args()
    model = model_id_for(default_model_path())
    if args.only == "concurrency":
        concurrency(model)
        return
    first_run(model)
    if args.only == "first-run":
        return
    with (
        tempfile.TemporaryDirectory() as data_dir,
        _server(data_dir, local_context="4096") as client,
    ):
        served = served_speed(client, model, args.tokens)
        direct = direct_speed(args.tokens)
        print(f"output tokens/s, {args.tokens} tokens, median of {RUNS}:")
        print(f"  llama-cpp-python direct {direct:8.1f}")
        print(f"  through responsd        {served:8.1f}")
        print(f"  ratio                   {served / direct:8.2f}")
        conversation(client, model)
    concurrency(model)


if __name__ == "__main__":
    main()
