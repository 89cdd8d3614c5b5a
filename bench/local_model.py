"""The embedded model through responsd vs llama-cpp-python called directly, and KV reuse.

Prints, in one run:
  - generation speed (output tokens/s, whole request) of the same prompt, greedy, through
    `responsd serve` (a separate process, streaming) and through llama-cpp-python in this
    process, and their ratio;
  - for a 10-turn previous_response_id conversation, the share of each turn's prompt
    served from the KV cache, and the share of the previous turn's context reused.

Usage: python -m bench.local_model [--tokens N]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import httpx
import orjson
from llama_cpp import Llama

from bench.overhead import _process
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=256)
    args = parser.parse_args()
    model = model_id_for(default_model_path())
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "RESPONSD_DATA_DIR": data_dir,
            "RESPONSD_PORT": str(port),
            "RESPONSD_LOG_LEVEL": "warning",
            "RESPONSD_LOCAL_CONTEXT": "4096",
        }
        env.pop("RESPONSD_UPSTREAM_URL", None)
        url = f"http://127.0.0.1:{port}"
        with (
            _process([sys.executable, "-m", "responsd", "serve"], env, f"{url}/healthz"),
            httpx.Client(base_url=url, timeout=300) as client,
        ):
            served = served_speed(client, model, args.tokens)
            direct = direct_speed(args.tokens)
            print(f"output tokens/s, {args.tokens} tokens, median of {RUNS}:")
            print(f"  llama-cpp-python direct {direct:8.1f}")
            print(f"  through responsd        {served:8.1f}")
            print(f"  ratio                   {served / direct:8.2f}")
            conversation(client, model)


if __name__ == "__main__":
    main()
