"""Reading indexed chunks: keyword search (FTS5 BM25 / PostgreSQL full text), the vectors of
a vector store, and chunk texts by id. Writing happens in vector_stores.finish_file."""

from typing import Any

from sqlalchemy import Engine, bindparam, select

from responsd.store.calls import Run
from responsd.store.tables import chunks, files, vector_store_files, vector_stores

COMMON_TERM, COMMON_SHARE, COMMON_FLOOR = 1000, 50, 500
"""A term matching more than COMMON_TERM chunks, or more than one in COMMON_SHARE of all
chunks (but at least COMMON_FLOOR: small indexes are fast anyway), is left out of a
keyword query when rarer ones remain: ranking every chunk that holds a common word is what
makes a full-text query slow (~20 ms per 10k chunks; the cost grows with the index, not
with the answer), and a common word's BM25 weight is small anyway. A query of common words
only is answered by the chunks holding all of them (`all_words`), or left to the vectors."""
FIRST_CUT = 10
"""SQLite ranks the `limit × FIRST_CUT` best matches of the whole index, then keeps the
searched stores' (a join to `chunks` for every match would double the cost); the stores'
hits are ranked exactly when that cut was full and left fewer than `limit` of them."""


class _Dialect:
    """Keyword search statements of one dialect, as driver-level SQL: this is the hot path of
    every search, and SQLAlchemy's per-statement work would double its cost."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        if postgres:
            self.quote = lambda term: term
            self.any, self.all = " | ", " & "
            # PostgreSQL counts through the heap (~3 ms a term); the planner's estimate from
            # the column's statistics (ANALYZE keeps the most common words) costs a planning.
            self.count = "SELECT 1 FROM chunks WHERE tsv @@ to_tsquery('english', %s)"
            # Matched through the full-text index first, whatever the planner thinks of the
            # store's share of the table: with common words left out, matches are few.
            self.exact = (
                "WITH m AS MATERIALIZED (SELECT id, file_id, vector_store_id, tsv, q "
                "FROM chunks, to_tsquery('english', %s) q WHERE tsv @@ q) "
                "SELECT id, file_id, ts_rank_cd(tsv, q) AS score FROM m "
                "WHERE vector_store_id IN ({stores}) ORDER BY score DESC LIMIT %s"
            )
        else:
            self.quote = lambda term: f'"{term}"'
            self.any, self.all = " OR ", " AND "
            self.count = (
                "SELECT count(*) FROM (SELECT rowid FROM chunks_fts "
                "WHERE chunks_fts MATCH ? LIMIT ?)"
            )
            # bm25() is lower-is-better; negated so both dialects rank higher-is-better.
            self.cut = (
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY bm25(chunks_fts) LIMIT ?"
            )
            self.owners = "SELECT id, file_id, vector_store_id FROM chunks WHERE id IN ({ids})"
            self.exact = (
                "SELECT c.id, c.file_id, -bm25(chunks_fts) FROM chunks_fts "
                "JOIN chunks c ON c.id = chunks_fts.rowid "
                "WHERE chunks_fts MATCH ? AND c.vector_store_id IN ({stores}) "
                "ORDER BY bm25(chunks_fts) LIMIT ?"
            )

    def common(self, conn: Any) -> int:
        """How many matches make a word common here (see COMMON_TERM)."""
        if self.postgres:  # the planner's row count (-1 before the first ANALYZE)
            total = conn.exec_driver_sql(
                "SELECT reltuples::bigint FROM pg_class WHERE relname = 'chunks'"
            ).scalar()
        else:  # the highest rowid: an index lookup, where count(*) reads the table
            total = conn.exec_driver_sql("SELECT max(id) FROM chunks").scalar()
        if not total or total < 0:
            return COMMON_TERM
        return min(COMMON_TERM, max(COMMON_FLOOR, total // COMMON_SHARE))

    def counts(self, conn: Any, terms: list[str]) -> list[int]:
        """How many chunks each term matches: counted up to a cap (SQLite, one statement) or
        estimated by the planner (PostgreSQL)."""
        if self.postgres:  # one planning per term (a UNION's plan may drop branches)
            explain = "EXPLAIN (FORMAT JSON) " + self.count
            plans = [conn.exec_driver_sql(explain, (t,)).scalar() for t in terms]
            return [int(plan[0]["Plan"]["Plan Rows"]) for plan in plans]
        union = " UNION ALL ".join(
            f"SELECT {i}, * FROM ({self.count}) c{i}" for i in range(len(terms))
        )
        args = tuple(v for t in terms for v in (self.quote(t), COMMON_TERM + 1))
        found = dict(conn.exec_driver_sql(union, args).all())
        return [found[i] for i in range(len(terms))]

    @staticmethod
    def places(n: int, mark: str) -> str:
        return ", ".join([mark] * n)


c, f, vf = chunks.c, files.c, vector_store_files.c
_FOUND = (
    select(c.id, c.vector_store_id, c.file_id, f.filename, vf.attributes, c.text)
    .join(files, f.id == c.file_id)
    .join(vector_store_files, (vf.vector_store_id == c.vector_store_id) & (vf.file_id == c.file_id))
    .where(c.id.in_(bindparam("ids", expanding=True)))
)


class ChunkStore:
    def __init__(self, engine: Engine, run: Run):
        self._engine = engine
        self._run = run
        self.postgres = engine.dialect.name == "postgresql"
        self._sql = _Dialect(self.postgres)

    async def keyword(
        self, store_ids: list[str], terms: list[str], limit: int, all_words: bool = True
    ) -> list[tuple[int, str, float]]:
        """(chunk id, file id, score) of the best chunks matching any of `terms` (plain
        words); see COMMON_TERM for common words (`all_words`: answer those at all)."""
        if not terms:
            return []
        sql = self._sql

        def search() -> list[tuple[int, str, float]]:
            with self._engine.connect() as conn:
                found = sql.counts(conn, terms)
                common = sql.common(conn)
                rare = [sql.quote(t) for t, n in zip(terms, found, strict=True) if 0 < n <= common]
                if rare:
                    query = sql.any.join(rare)
                elif all_words and all(found):
                    query = sql.all.join(sql.quote(t) for t in terms)
                else:
                    return []
                return self._ranked(conn, query, store_ids, limit)

        return await self._run(search)

    def _ranked(self, conn: Any, query: str, store_ids: list[str], limit: int) -> list:
        sql = self._sql
        if not sql.postgres:
            cut = conn.exec_driver_sql(sql.cut, (query, limit * FIRST_CUT)).all()
            if cut:
                ids = tuple(row[0] for row in cut)
                owners = sql.owners.format(ids=sql.places(len(ids), "?"))
                kept = {row[0]: row for row in conn.exec_driver_sql(owners, ids)}
                wanted = set(store_ids)
                rows = [
                    (cid, kept[cid][1], float(score))
                    for cid, score in cut
                    if cid in kept and kept[cid][2] in wanted
                ]
                if len(rows) >= limit or len(cut) < limit * FIRST_CUT:
                    return rows[:limit]
        mark = "%s" if sql.postgres else "?"
        statement = sql.exact.format(stores=sql.places(len(store_ids), mark))
        rows = conn.exec_driver_sql(statement, (query, *store_ids, limit))
        return [(row[0], row[1], float(row[2])) for row in rows]

    async def analyze(self) -> None:
        """Refresh PostgreSQL's statistics of chunks (its word frequencies drive `keyword`)."""
        if not self.postgres:
            return

        def run() -> None:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE chunks")
                conn.commit()

        await self._run(run)

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

    async def found(self, chunk_ids: list[int]) -> dict[int, tuple[str, str, str, str, str]]:
        """(store id, file id, filename, attributes JSON, text) of each chunk id found."""

        def read() -> dict[int, tuple[str, str, str, str, str]]:
            with self._engine.connect() as conn:
                rows = conn.execute(_FOUND, {"ids": chunk_ids})
                return {row[0]: tuple(row[1:]) for row in rows}

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
