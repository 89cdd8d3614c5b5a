"""The user's files as a library: indexing vector store files in the background, searching
them, and reading a file's text for the model.

Indexing is a queue in the database (store/vector_stores.py): every worker process runs one
`Library`, which claims a waiting file, extracts its text, chunks and embeds it on a worker
thread, and stores its chunks in one transaction. A worker beats a heartbeat on the file it
indexes; a file whose worker died is claimed again once the heartbeat is STALE_AFTER old, so
an upload never blocks a request and indexing survives restarts.
"""

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson

from responsd.errors import InvalidRequestError, NotFoundError
from responsd.ids import new_id
from responsd.retrieval.chunking import chunk_text
from responsd.retrieval.embedders import Embedder, EmbedderError, pack
from responsd.retrieval.extract import UnreadableFile, extract_text
from responsd.retrieval.search import Ranking, Searcher, SearchHit
from responsd.store.sql import SQLStore

log = logging.getLogger("responsd.library")

POLL = 1.0
"""Seconds between looks for files queued by other workers."""
HEARTBEAT = 2.0
STALE_AFTER = 30.0
"""Seconds without a heartbeat after which a file being indexed is taken up again."""
SWEEP_EVERY = 60.0
"""Seconds between removals of expired files."""
_TEXT_CACHE_CHARS = 64_000_000
TOUCH_EVERY = 60
"""Seconds between updates of a searched store's `last_active_at` (and expiry) by a worker."""


class Library:
    def __init__(
        self, store: SQLStore, embedder: Embedder | None, stale_after: float = STALE_AFTER
    ):
        self.store = store
        self.embedder = embedder
        self.searcher = Searcher(store, embedder)
        self.stale_after = stale_after
        self.worker_id = new_id("wrk")
        self._wake = asyncio.Event()
        self._loop: asyncio.Task | None = None
        self._touched: dict[str, int] = {}
        self._analyzed = self._unanalyzed = 0
        """Chunks this worker indexed before / since its last ANALYZE."""
        self._texts: dict[str, str] = {}
        self._text_chars = 0

    @property
    def embedder_name(self) -> str | None:
        return self.embedder.name if self.embedder else None

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._work(), name="responsd-indexing")

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self.embedder is not None:
            self.embedder.close()

    def wake(self) -> None:
        """New files are waiting: look now rather than at the next poll."""
        self._wake.set()

    # -- indexing --------------------------------------------------------------------------

    async def _work(self) -> None:
        swept = 0.0
        while True:
            try:
                if time.monotonic() - swept > SWEEP_EVERY:
                    swept = time.monotonic()
                    await self._sweep()
                now = time.time()
                job = await self.store.vector_stores.claim(
                    self.worker_id, now, now - self.stale_after
                )
                if job is not None:
                    await self._index(job)
                    continue
                if self._unanalyzed:  # the queue ran dry: statistics for the new chunks
                    await self._analyze()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("indexing failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL):
                    await self._wake.wait()

    async def _index(self, job: dict[str, Any]) -> None:
        store_id, file_id = job["vector_store_id"], job["file_id"]
        beat = asyncio.create_task(self._beat())
        try:
            chunk_rows, usage, error = await asyncio.to_thread(self._chunks, job)
        finally:
            beat.cancel()
        if error:
            log.info("file %s could not be indexed for %s: %s", file_id, store_id, error)
        await self.store.vector_stores.finish_file(
            store_id,
            file_id,
            self.worker_id,
            chunk_rows,
            usage,
            orjson.dumps(error).decode() if error else None,
        )
        # PostgreSQL's word statistics decide which words keyword search leaves out; they
        # follow the table as it grows by a fifth (and when indexing pauses).
        self._unanalyzed += len(chunk_rows)
        if self._unanalyzed > 0.2 * max(self._analyzed, 1000):
            await self._analyze()

    async def _analyze(self) -> None:
        await self.store.chunks.analyze()
        self._analyzed += self._unanalyzed
        self._unanalyzed = 0

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(min(HEARTBEAT, self.stale_after / 3))
            await self.store.vector_stores.heartbeat(self.worker_id, time.time())

    def _chunks(
        self, job: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], int, dict[str, str] | None]:
        """On a worker thread: the file's chunk rows, their bytes, or the error to record."""
        store_id, file_id = job["vector_store_id"], job["file_id"]
        path = self.store.files.blobs.path(file_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return [], 0, {"code": "invalid_file", "message": f"File '{file_id}' was deleted."}
        try:
            text = extract_text(data, job.get("filename") or file_id)
        except UnreadableFile as exc:
            return [], 0, {"code": exc.code, "message": str(exc)}
        pieces = chunk_text(text, orjson.loads(job["chunking_strategy"]))
        vectors = None
        if self.embedder is not None and job["embedder"] == self.embedder.name and pieces:
            try:
                vectors = self.embedder.embed(pieces)
            except EmbedderError as exc:
                return [], 0, {"code": "server_error", "message": str(exc)}
        rows = []
        usage = 0
        for n, piece in enumerate(pieces):
            blob = pack(vectors[n]) if vectors is not None else None
            usage += len(piece.encode()) + (len(blob) if blob else 0)
            rows.append(
                {
                    "vector_store_id": store_id,
                    "file_id": file_id,
                    "position": n,
                    "text": piece,
                    "embedding": blob,
                }
            )
        return rows, usage, None

    async def _sweep(self) -> None:
        for file_id in await self.store.files.expired(int(time.time())):
            await self.store.files.delete(file_id)

    # -- searching -------------------------------------------------------------------------

    async def usable_stores(self, store_ids: list[str], params: list[str]) -> dict[str, Any]:
        """The rows of `store_ids`; 404 for one that does not exist, 400 for one that expired
        (each naming its entry of `params`)."""
        found = await self.store.vector_stores.get_many(store_ids)
        now = int(time.time())
        for store_id, param in zip(store_ids, params, strict=True):
            row = found.get(store_id)
            if row is None:
                raise NotFoundError(f"Vector store with id '{store_id}' not found.", param=param)
            if row["expires_at"] is not None and row["expires_at"] <= now:
                raise InvalidRequestError(
                    f"Vector store '{store_id}' has expired; create a new one.", param=param
                )
        return found

    async def search(
        self,
        store_ids: list[str],
        queries: list[str],
        limit: int,
        filters: dict[str, Any] | None,
        ranking: Ranking,
        params: list[str] | None = None,
    ) -> list[SearchHit]:
        """Hits of `queries` in usable stores (see usable_stores; `params` name the ids)."""
        rows = await self.usable_stores(store_ids, params or ["vector_store_ids"] * len(store_ids))
        stores = {sid: (row["version"], row["embedder"]) for sid, row in rows.items()}
        hits = await self.searcher.search(stores, queries, limit, filters, ranking)
        now = int(time.time())
        stale = [s for s in store_ids if now - self._touched.get(s, 0) >= TOUCH_EVERY]
        if stale:  # a write per search would cost more than the search
            await self.store.vector_stores.touch(stale, now)
            self._touched.update(dict.fromkeys(stale, now))
        return hits

    # -- a file's text for the model -------------------------------------------------------

    async def _file(self, file_id: str, param: str) -> dict[str, Any]:
        row = await self.store.files.get(file_id, int(time.time()))
        if row is None:
            raise NotFoundError(f"File with id '{file_id}' not found.", param=param)
        return row

    async def file_bytes(self, file_id: str, param: str) -> bytes:
        await self._file(file_id, param)
        return await asyncio.to_thread(self.store.files.blobs.path(file_id).read_bytes)

    async def file_text(self, file_id: str, param: str) -> tuple[str, str]:
        """(filename, text) of a stored file; 404 when unknown, 400 when it has no text."""
        row = await self._file(file_id, param)
        cached = self._texts.get(file_id)
        if cached is None:
            data = await asyncio.to_thread(self.store.files.blobs.path(file_id).read_bytes)
            cached = await self.to_text(data, row["filename"], param)
            self.remember_text(file_id, cached)
        return row["filename"], cached

    async def to_text(self, data: bytes, filename: str, param: str) -> str:
        return await asyncio.to_thread(readable_text, data, filename, param)

    def cached_text(self, key: str) -> str | None:
        return self._texts.get(key)

    def remember_text(self, key: str, text: str) -> None:
        self._texts[key] = text
        self._text_chars += len(text)
        while self._text_chars > _TEXT_CACHE_CHARS and self._texts:
            oldest = next(iter(self._texts))
            self._text_chars -= len(self._texts.pop(oldest))


def readable_text(data: bytes, filename: str, param: str) -> str:
    """A file's text, or a 400 naming the input part that held it."""
    try:
        return extract_text(data, filename)
    except UnreadableFile as exc:
        raise InvalidRequestError(f"{exc}", param=param) from exc
