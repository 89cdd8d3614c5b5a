"""Retrieval quality and speed of vector stores, through the HTTP API of a real responsd.

1. Quality: the labelled set of bench/retrieval_corpus.py (the standard library's docs,
   837 documents; literal and hand-paraphrased queries), indexed once keyword-only
   (`embeddings=none`) and once hybrid (the default embedder); recall@5 and MRR@10 of the
   document that answers each query.
2. Speed: N chunks (static chunking, 100 tokens, no overlap) from files of ~100 chunks each,
   on SQLite and PostgreSQL: ingestion chunks/s (from the batch's creation to its last file
   indexed), then search p50/p99 over 200 queries (10 results each, vectors already loaded).

Usage: python -m bench.retrieval [--only quality|speed] [--sizes 10000,100000]
       [--dbs sqlite,postgres]
"""

import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx
import openai

from bench.overhead import _process
from bench.retrieval_corpus import documents, queries
from bench.servers import free_port

TARGET_P50_MS = 20.0


@contextlib.contextmanager
def responsd(database_url: str | None = None, **settings: str) -> Iterator[openai.OpenAI]:
    """`responsd serve` as its own process (the client here does not share its GIL)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="responsd-retrieval-") as data:
        env = {
            **os.environ,
            "RESPONSD_UPSTREAM_URL": "http://127.0.0.1:9/v1",  # no model is asked anything
            "RESPONSD_DATA_DIR": data,
            "RESPONSD_PORT": str(port),
            "RESPONSD_LOG_LEVEL": "warning",
            **({"RESPONSD_DATABASE_URL": database_url} if database_url else {}),
            **{f"RESPONSD_{k.upper()}": v for k, v in settings.items()},
        }
        url = f"http://127.0.0.1:{port}"
        with (
            _process([sys.executable, "-m", "responsd", "serve"], env, f"{url}/healthz"),
            openai.OpenAI(base_url=f"{url}/v1", api_key="x", timeout=600) as client,
        ):
            yield client


def index(
    client: openai.OpenAI, files: dict[str, bytes], strategy: dict | None = None
) -> tuple[str, float]:
    """A vector store holding `files`; (its id, seconds from batch creation to indexed)."""
    ids = [
        client.files.create(file=(name, data), purpose="assistants").id
        for name, data in files.items()
    ]
    store = client.vector_stores.create(name="bench")
    extra = {"chunking_strategy": strategy} if strategy else {}
    start = time.perf_counter()
    batch = client.vector_stores.file_batches.create(store.id, file_ids=ids, **extra)
    while batch.status == "in_progress":
        time.sleep(0.05)
        batch = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    elapsed = time.perf_counter() - start
    assert batch.file_counts.completed == len(ids), batch.file_counts
    return store.id, elapsed


def quality() -> None:
    docs = documents()
    labelled = queries(docs)
    files = {f"{name}.txt": text.encode() for name, text in docs.items()}
    print(
        f"quality: {len(docs)} documents, {len(labelled)} queries "
        f"({sum(k == 'paraphrased' for k, _, _ in labelled)} paraphrased)"
    )
    print(f"{'mode':10} {'queries':12} {'recall@5':>9} {'MRR@10':>8}")
    for mode in ("none", "wordllama"):
        with responsd(embeddings=mode) as client:
            store, _ = index(client, files)
            ranks: dict[str, list[int | None]] = {"literal": [], "paraphrased": []}
            for kind, query, answer in labelled:
                hits = client.vector_stores.search(store, query=query, max_num_results=10).data
                names = list(dict.fromkeys(h.filename.removesuffix(".txt") for h in hits))
                ranks[kind].append(names.index(answer) + 1 if answer in names else None)
        label = "keyword" if mode == "none" else "hybrid"
        for kind in ("literal", "paraphrased", "all"):
            found = ranks["literal"] + ranks["paraphrased"] if kind == "all" else ranks[kind]
            recall = sum(r is not None and r <= 5 for r in found) / len(found)
            mrr = sum(1 / r for r in found if r is not None) / len(found)
            print(f"{label:10} {kind:12} {recall:9.3f} {mrr:8.3f}")


def _bulk_files(chunks: int, per_file: int = 100) -> dict[str, bytes]:
    """Files of `per_file` 100-word chunks each, cut from the docs corpus (words reshuffled)."""
    words = " ".join(documents().values()).split()
    rng = random.Random(7)
    files = {}
    for n in range(chunks // per_file):
        start = rng.randrange(0, len(words) - 100 * per_file)
        body = words[start : start + 100 * per_file]
        files[f"bulk{n}.txt"] = " ".join(body).encode()
    return files


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def speed(sizes: list[int], dbs: list[str]) -> None:
    strategy = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0},
    }
    labelled = [q for _, q, _ in queries(documents())]
    rng = random.Random(3)
    print(
        f"{'db':9} {'chunks':>7} {'ingest s':>9} {'chunks/s':>9} {'search p50':>11} {'p99':>8} "
        f"(target p50 ≤ {TARGET_P50_MS:g} ms at 100k)"
    )
    for db in dbs:
        postgres = None
        if db == "postgres":
            from bench.postgres import PostgresServer

            postgres = PostgresServer().start()
        try:
            for size in sizes:
                url = postgres.create_database() if postgres else None
                files = _bulk_files(size)
                with responsd(url) as client:
                    store, seconds = index(client, files, strategy)
                    total = client.vector_stores.retrieve(store).file_counts.completed * 100
                    client.vector_stores.search(store, query="warm up the vectors")
                    timings = []
                    # Timed with a plain HTTP client: the SDK's own work per call (~10 ms
                    # here) would hide the server's.
                    url = f"{client.base_url}vector_stores/{store}/search"
                    with httpx.Client(timeout=60) as http:
                        for query in rng.sample(labelled, min(200, len(labelled))):
                            body = {"query": query, "max_num_results": 10}
                            start = time.perf_counter()
                            reply = http.post(url, json=body)
                            timings.append((time.perf_counter() - start) * 1000)
                            assert reply.status_code == 200, reply.text
                print(
                    f"{db:9} {total:7d} {seconds:9.1f} {total / seconds:9.0f} "
                    f"{statistics.median(timings):9.1f}ms {_pct(timings, 0.99):6.1f}ms"
                )
        finally:
            if postgres:
                postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=("quality", "speed"))
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dbs", default="sqlite,postgres")
    args = parser.parse_args()
    if args.only in (None, "quality"):
        quality()
    if args.only in (None, "speed"):
        speed([int(s) for s in args.sizes.split(",")], args.dbs.split(","))


if __name__ == "__main__":
    main()
