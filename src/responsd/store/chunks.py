"""Reading indexed chunks: keyword search (FTS5 BM25 / PostgreSQL full text), the vectors of
a vector store, and chunk texts by id. Writing happens in vector_stores.finish_file."""

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Engine, bindparam, select, text

from responsd.store.tables import chunks, vector_stores

Run = Callable[..., Awaitable[Any]]

# bm25() is lower-is-better in SQLite; negated so both dialects rank higher-is-better.
_SQLITE_KEYWORD = text(
    """
    SELECT c.id, c.file_id, -bm25(chunks_fts) AS score FROM chunks_fts
    JOIN chunks c ON c.id = chunks_fts.rowid
    WHERE chunks_fts MATCH :query AND c.vector_store_id IN :stores
    ORDER BY bm25(chunks_fts) LIMIT :limit
    """
).bindparams(bindparam("stores", expanding=True))
_POSTGRES_KEYWORD = text(
    """
    SELECT id, file_id, ts_rank_cd(tsv, q) AS score FROM chunks, to_tsquery('english', :query) q
    WHERE tsv @@ q AND vector_store_id IN :stores
    ORDER BY score DESC LIMIT :limit
    """
).bindparams(bindparam("stores", expanding=True))


class ChunkStore:
    def __init__(self, engine: Engine, run: Run):
        self._engine = engine
        self._run = run
        self.postgres = engine.dialect.name == "postgresql"

    async def keyword(
        self, store_ids: list[str], terms: list[str], limit: int
    ) -> list[tuple[int, str, float]]:
        """(chunk id, file id, score) of chunks matching any of `terms`, best first."""
        if not terms:
            return []
        if self.postgres:
            query, statement = " | ".join(terms), _POSTGRES_KEYWORD
        else:
            query, statement = " OR ".join(f'"{t}"' for t in terms), _SQLITE_KEYWORD

        def search() -> list[tuple[int, str, float]]:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    statement, {"query": query, "stores": store_ids, "limit": limit}
                )
                return [(row[0], row[1], float(row[2])) for row in rows]

        return await self._run(search)

    async def versions(self, store_ids: list[str]) -> dict[str, tuple[int, str | None]]:
        """(version, embedder) of each store."""
        query = select(vector_stores.c.id, vector_stores.c.version, vector_stores.c.embedder).where(
            vector_stores.c.id.in_(store_ids)
        )

        def read() -> dict[str, tuple[int, str | None]]:
            with self._engine.connect() as conn:
                return {row[0]: (row[1], row[2]) for row in conn.execute(query)}

        return await self._run(read)

    async def vectors(self, store_id: str) -> tuple[int, list[int], list[str], list[bytes]]:
        """The store's version, and the ids, file ids and vectors of its embedded chunks."""
        query = (
            select(chunks.c.id, chunks.c.file_id, chunks.c.embedding)
            .where(chunks.c.vector_store_id == store_id, chunks.c.embedding.is_not(None))
            .order_by(chunks.c.id)
        )
        version = select(vector_stores.c.version).where(vector_stores.c.id == store_id)

        def read() -> tuple[int, list[int], list[str], list[bytes]]:
            # One snapshot: the version read with the rows it describes.
            with self._engine.begin() as conn:
                current = conn.execute(version).scalar_one_or_none() or 0
                rows = conn.execute(query).all()
            return current, [r[0] for r in rows], [r[1] for r in rows], [bytes(r[2]) for r in rows]

        return await self._run(read)

    async def texts(self, chunk_ids: list[int]) -> dict[int, tuple[str, str, str]]:
        """(store id, file id, text) of each chunk id found."""
        query = select(
            chunks.c.id, chunks.c.vector_store_id, chunks.c.file_id, chunks.c.text
        ).where(chunks.c.id.in_(chunk_ids))

        def read() -> dict[int, tuple[str, str, str]]:
            with self._engine.connect() as conn:
                return {row[0]: (row[1], row[2], row[3]) for row in conn.execute(query)}

        return await self._run(read)

    async def file_chunks(self, store_id: str, file_id: str) -> list[str]:
        """The texts of a file's chunks in a store, in file order."""
        query = (
            select(chunks.c.text)
            .where(chunks.c.vector_store_id == store_id, chunks.c.file_id == file_id)
            .order_by(chunks.c.position)
        )

        def read() -> list[str]:
            with self._engine.connect() as conn:
                return list(conn.execute(query).scalars())

        return await self._run(read)
