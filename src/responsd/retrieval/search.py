"""Hybrid search over vector stores: keyword and vector rankings fused by reciprocal rank.

For each query, the keyword side (SQLite FTS5 BM25, PostgreSQL full text) and the vector
side (cosine similarity over the store's chunk vectors) each rank up to `pool` chunks; a
chunk's fused score is Σ weight / (60 + rank) over both sides and every query, divided by
the best possible sum (first on both sides for every query), so scores fall in [0, 1] and
`score_threshold` compares against that. A store without vectors (no embedder, or vectors
made by another embedder than the one configured now) is searched by keywords only.

Vectors are searched exactly, in memory: a store's vectors are loaded once per change
(its `version`), then one matrix product ranks them all (~3 ms for 100k chunks). An exact
scan needs no index to build or tune and returns the true nearest chunks; sqlite-vec (which
the stdlib sqlite3 here cannot load) and pgvector without an index scan the same way.
numpy is imported on first use (embedders.py says why).
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import numpy as np

from responsd.retrieval.embedders import Embedder, unpack_all
from responsd.retrieval.filters import matches

RRF_K = 60
_WORD = re.compile(r"\w+")
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


@dataclass(slots=True)
class SearchHit:
    store_id: str
    file_id: str
    filename: str
    score: float
    text: str
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ranking:
    score_threshold: float = 0.0
    text_weight: float = 1.0
    embedding_weight: float = 1.0


def keywords(query: str) -> list[str]:
    """The words of a query worth matching: stop words dropped unless nothing else is left."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))
    kept = [w for w in words if w not in STOPWORDS]
    return (kept or words)[:32]


def rewrite(query: str) -> str:
    """`rewrite_query`: the query as its keywords (a deterministic rewrite, no model call)."""
    return " ".join(keywords(query)) or query


@dataclass(slots=True)
class _Vectors:
    version: int
    ids: np.ndarray
    file_ids: np.ndarray
    matrix: np.ndarray


def _top(
    matrix: np.ndarray, query: np.ndarray, k: int, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the `k` best cosine scores (rows left out by `mask` excluded)."""
    import numpy as np

    scores = matrix @ query
    if mask is not None:
        scores[~mask] = -np.inf
    k = min(k, len(scores))
    top = np.argpartition(scores, len(scores) - k)[len(scores) - k :]
    top = top[np.isfinite(scores[top])]
    return top, scores[top]


class Searcher:
    """Searches vector stores; holds the in-memory vectors of recently searched stores."""

    def __init__(self, store: Any, embedder: Embedder | None, max_cached_rows: int = 2_000_000):
        self.store = store
        self.embedder = embedder
        self._cache: OrderedDict[str, _Vectors] = OrderedDict()
        self._max_rows = max_cached_rows

    async def embed(self, texts: list[str]) -> np.ndarray:
        assert self.embedder is not None  # only stores with vectors are searched by vectors
        return await asyncio.to_thread(self.embedder.embed, texts)

    async def search(
        self,
        stores: dict[str, tuple[int, str | None]],
        queries: list[str],
        limit: int,
        filters: dict[str, Any] | None = None,
        ranking: Ranking = Ranking(),
    ) -> list[SearchHit]:
        """Hits in `stores` (id → its version and embedder, as stored), best first."""
        queries = [q for q in queries if q.strip()]
        if not queries or not stores:
            return []
        store_ids = list(stores)
        pool = max(50, limit * 5)
        allowed = await self._allowed_files(store_ids, filters) if filters else None
        vector_stores = [
            sid
            for sid, (_, embedder) in stores.items()
            if self.embedder is not None and embedder == self.embedder.name
        ]
        weights = ranking.text_weight + (ranking.embedding_weight if vector_stores else 0.0)
        versions = {sid: stores[sid][0] for sid in vector_stores}

        async def by_keywords(query: str) -> list[int]:
            found = await self.store.chunks.keyword(
                store_ids, keywords(query), pool * (3 if allowed else 1), not vector_stores
            )
            return [cid for cid, fid, _ in found if allowed is None or fid in allowed][:pool]

        async def by_vectors() -> list[list[int]]:
            if not vector_stores:
                return []
            query_vectors = await self.embed(queries)
            return [await self._nearest(versions, v, pool, allowed) for v in query_vectors]

        # Both sides at once: the database and numpy each let go of the GIL while they work.
        found: list[list[Any]] = await asyncio.gather(*map(by_keywords, queries), by_vectors())
        *textual, semantic = found
        fused: dict[int, float] = {}
        for weight, rankings in (
            (ranking.text_weight, textual),
            (ranking.embedding_weight, semantic),
        ):
            for chunk_ids in rankings:
                for rank, chunk_id in enumerate(chunk_ids):
                    fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (RRF_K + rank + 1)
        best = len(queries) * weights / (RRF_K + 1)
        ranked = sorted(fused.items(), key=lambda kv: kv[1], reverse=True)
        ranked = [(cid, s / best) for cid, s in ranked if s / best >= ranking.score_threshold][
            :limit
        ]
        return await self._hits(ranked)

    async def _allowed_files(self, store_ids: list[str], filters: dict[str, Any]) -> set[str]:
        rows = await self.store.vector_stores.file_attributes(store_ids)
        return {file_id for _, file_id, attrs in rows if matches(filters, orjson.loads(attrs))}

    async def _nearest(
        self, stores: dict[str, int], query: np.ndarray, pool: int, allowed: set[str] | None
    ) -> list[int]:
        """Ids of the `pool` chunks nearest to `query` in `stores` (id → version)."""
        import numpy as np

        scored: list[tuple[float, int]] = []
        for store_id, version in stores.items():
            vectors = await self._vectors(store_id, version)
            if not len(vectors.ids):
                continue
            mask = None
            if allowed is not None:
                mask = np.fromiter(
                    (f in allowed for f in vectors.file_ids), bool, len(vectors.file_ids)
                )
            # numpy lets go of the GIL in the product: other requests run meanwhile.
            top, scores = await asyncio.to_thread(_top, vectors.matrix, query, pool, mask)
            scored.extend(zip(scores.tolist(), vectors.ids[top].tolist(), strict=True))
        scored.sort(reverse=True)
        return [chunk_id for _, chunk_id in scored[:pool]]

    async def _vectors(self, store_id: str, version: int) -> _Vectors:
        import numpy as np

        cached = self._cache.get(store_id)
        if cached is not None and cached.version == version:
            self._cache.move_to_end(store_id)
            return cached
        version, ids, file_ids, blobs = await self.store.chunks.vectors(store_id)
        dimensions = len(blobs[0]) // 2 if blobs else 0
        matrix = (
            await asyncio.to_thread(unpack_all, blobs, dimensions)
            if blobs
            else np.zeros((0, 0), np.float32)
        )
        fresh = _Vectors(version, np.array(ids, np.int64), np.array(file_ids, object), matrix)
        self._cache[store_id] = fresh
        while (
            sum(len(v.ids) for v in self._cache.values()) > self._max_rows and len(self._cache) > 1
        ):
            self._cache.popitem(last=False)
        return fresh

    async def _hits(self, ranked: list[tuple[int, float]]) -> list[SearchHit]:
        if not ranked:
            return []
        found = await self.store.chunks.found([chunk_id for chunk_id, _ in ranked])
        hits = []
        for chunk_id, score in ranked:
            if chunk_id not in found:
                continue  # removed since it was ranked
            store_id, file_id, filename, attributes, text = found[chunk_id]
            score = round(min(score, 1.0), 6)
            hits.append(
                SearchHit(store_id, file_id, filename, score, text, orjson.loads(attributes))
            )
        return hits
