"""Vector stores, their files and file batches, and the ingestion queue over those files.

A vector store file is `in_progress` until a worker has indexed it. Ingestion is claimed
like a background response: a compare-and-set on (status, worker, heartbeat), so exactly
one worker indexes a file, and a file whose worker died is taken up again once its
heartbeat is stale. A file's chunks are replaced in the same transaction that marks it
`completed`, so a search never sees half a file.
"""

from collections.abc import Callable
from typing import Any, Literal

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from responsd.store.calls import Readers, Run
from responsd.store.paging import page
from responsd.store.tables import (
    chunks,
    files,
    vector_store_file_batches,
    vector_store_files,
    vector_stores,
)

vs, vf, vb = vector_stores.c, vector_store_files.c, vector_store_file_batches.c
STATUSES = ("in_progress", "completed", "cancelled", "failed")


def _counts(conn: Connection, *where: Any) -> dict[str, dict[str, int]]:
    """file_counts (and usage_bytes under "usage") per vector store or batch key."""
    key = where[0]
    columns = [func.sum(case((vf.status == s, 1), else_=0)) for s in STATUSES]
    query = select(key, *columns, func.count(), func.coalesce(func.sum(vf.usage_bytes), 0))
    query = query.where(*where[1:]).group_by(key)
    result: dict[str, dict[str, Any]] = {}
    for row in conn.execute(query):
        counts = {s: int(n or 0) for s, n in zip(STATUSES, row[1:5], strict=True)}
        counts["total"] = int(row[5])
        result[row[0]] = {"file_counts": counts, "usage_bytes": int(row[6])}
    return result


_EMPTY = {"file_counts": dict.fromkeys((*STATUSES, "total"), 0), "usage_bytes": 0}


_WAITING = and_(  # a file to index: never claimed, or its worker's heartbeat went stale
    vf.status == "in_progress",
    or_(vf.worker_id.is_(None), vf.heartbeat_at < bindparam("stale_before")),
)
_ANY_WAITING = select(vf.file_id).where(_WAITING).limit(1)


class VectorStoreStore:
    def __init__(self, engine: Engine, run: Run, readers: Readers):
        self._engine = engine
        self._run = run
        self._any_waiting = readers(_ANY_WAITING)

    async def _write(self, fn: Callable[[Connection], Any]) -> Any:
        def write() -> Any:
            with self._engine.begin() as conn:
                return fn(conn)

        return await self._run(write)

    async def _read(self, fn: Callable[[Connection], Any]) -> Any:
        def read() -> Any:
            with self._engine.connect() as conn:
                return fn(conn)

        return await self._run(read)

    # -- vector stores ---------------------------------------------------------------------

    async def create(self, row: dict[str, Any], file_rows: list[dict[str, Any]]) -> None:
        def add(conn: Connection) -> None:
            conn.execute(insert(vector_stores), row)
            if file_rows:
                conn.execute(insert(vector_store_files), file_rows)

        await self._write(add)

    async def get(self, store_id: str) -> dict[str, Any] | None:
        def get(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(select(vector_stores).where(vs.id == store_id)).mappings().first()
            if row is None:
                return None
            stats = _counts(conn, vf.vector_store_id, vf.vector_store_id == store_id)
            return {**row, **stats.get(store_id, _EMPTY)}

        return await self._read(get)

    async def get_many(self, store_ids: list[str]) -> dict[str, dict[str, Any]]:
        def get(conn: Connection) -> dict[str, dict[str, Any]]:
            rows = conn.execute(select(vector_stores).where(vs.id.in_(store_ids))).mappings()
            return {row["id"]: dict(row) for row in rows}

        return await self._read(get)

    async def list_page(
        self,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
        before: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        def list_(conn: Connection) -> tuple[list[dict[str, Any]], bool]:
            rows, more = page(
                conn, select(vector_stores), vector_stores, after, limit, order, before=before
            )
            ids = [row.id for row in rows]
            stats = _counts(conn, vf.vector_store_id, vf.vector_store_id.in_(ids)) if ids else {}
            return [{**row._mapping, **stats.get(row.id, _EMPTY)} for row in rows], more

        return await self._read(list_)

    async def update(self, store_id: str, values: dict[str, Any]) -> bool:
        def change(conn: Connection) -> bool:
            return (
                conn.execute(
                    update(vector_stores).where(vs.id == store_id).values(**values)
                ).rowcount
                > 0
            )

        return await self._write(change)

    async def delete(self, store_id: str) -> bool:
        def remove(conn: Connection) -> bool:
            gone = conn.execute(delete(vector_stores).where(vs.id == store_id)).rowcount > 0
            conn.execute(delete(vector_store_files).where(vf.vector_store_id == store_id))
            conn.execute(delete(vector_store_file_batches).where(vb.vector_store_id == store_id))
            conn.execute(delete(chunks).where(chunks.c.vector_store_id == store_id))
            return gone

        return await self._write(remove)

    async def touch(self, store_ids: list[str], now: int) -> None:
        """Mark stores used (`last_active_at`), moving an `expires_after` deadline with it."""

        def bump(conn: Connection) -> None:
            for row in conn.execute(select(vs.id, vs.expires_after).where(vs.id.in_(store_ids))):
                values: dict[str, Any] = {"last_active_at": now}
                if row.expires_after:
                    values["expires_at"] = now + orjson.loads(row.expires_after)["days"] * 86400
                conn.execute(update(vector_stores).where(vs.id == row.id).values(**values))

        await self._write(bump)

    # -- files of a store ------------------------------------------------------------------

    async def add_files(
        self, store_id: str, rows: list[dict[str, Any]], batch: dict[str, Any] | None = None
    ) -> bool:
        """Add (or re-add, which indexes again) files; False when the store does not exist."""

        def add(conn: Connection) -> bool:
            if conn.execute(select(vs.id).where(vs.id == store_id)).first() is None:
                return False
            if batch is not None:
                conn.execute(insert(vector_store_file_batches), batch)
            ids = [row["file_id"] for row in rows]
            conn.execute(
                delete(vector_store_files).where(
                    vf.vector_store_id == store_id, vf.file_id.in_(ids)
                )
            )
            if rows:
                conn.execute(insert(vector_store_files), rows)
            return True

        return await self._write(add)

    async def get_file(self, store_id: str, file_id: str) -> dict[str, Any] | None:
        query = select(vector_store_files).where(
            vf.vector_store_id == store_id, vf.file_id == file_id
        )
        return await self._read(lambda conn: _mapping(conn.execute(query).mappings().first()))

    async def list_files(
        self,
        store_id: str,
        status: str | None,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
        batch_id: str | None = None,
        before: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        query = select(vector_store_files).where(vf.vector_store_id == store_id)
        if status is not None:
            query = query.where(vf.status == status)
        if batch_id is not None:
            query = query.where(vf.batch_id == batch_id)

        def list_(conn: Connection) -> tuple[list[dict[str, Any]], bool]:
            rows, more = page(
                conn, query, vector_store_files, after, limit, order, "file_id", before
            )
            return [dict(row._mapping) for row in rows], more

        return await self._read(list_)

    async def update_file(self, store_id: str, file_id: str, attributes: str) -> bool:
        def change(conn: Connection) -> bool:
            done = conn.execute(
                update(vector_store_files)
                .where(vf.vector_store_id == store_id, vf.file_id == file_id)
                .values(attributes=attributes)
            ).rowcount
            conn.execute(
                update(vector_stores).where(vs.id == store_id).values(version=vs.version + 1)
            )
            return bool(done)

        return await self._write(change)

    async def remove_file(self, store_id: str, file_id: str) -> bool:
        def remove(conn: Connection) -> bool:
            gone = conn.execute(
                delete(vector_store_files).where(
                    vf.vector_store_id == store_id, vf.file_id == file_id
                )
            ).rowcount
            conn.execute(
                delete(chunks).where(
                    chunks.c.vector_store_id == store_id, chunks.c.file_id == file_id
                )
            )
            conn.execute(
                update(vector_stores).where(vs.id == store_id).values(version=vs.version + 1)
            )
            return bool(gone)

        return await self._write(remove)

    async def file_attributes(self, store_ids: list[str]) -> list[tuple[str, str, str]]:
        """(store id, file id, attributes JSON) of the completed files of `store_ids`."""
        query = select(vf.vector_store_id, vf.file_id, vf.attributes).where(
            vf.vector_store_id.in_(store_ids), vf.status == "completed"
        )
        return await self._read(lambda conn: [tuple(row) for row in conn.execute(query)])

    # -- batches ---------------------------------------------------------------------------

    async def get_batch(self, store_id: str, batch_id: str) -> dict[str, Any] | None:
        def get(conn: Connection) -> dict[str, Any] | None:
            row = (
                conn.execute(
                    select(vector_store_file_batches).where(
                        vb.id == batch_id, vb.vector_store_id == store_id
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            stats = _counts(conn, vf.batch_id, vf.batch_id == batch_id)
            return {**row, **stats.get(batch_id, _EMPTY)}

        return await self._read(get)

    async def cancel_batch(self, store_id: str, batch_id: str) -> bool:
        """Cancel the batch's files not yet indexed (a file being indexed stops at its end)."""

        def cancel(conn: Connection) -> bool:
            found = conn.execute(
                update(vector_store_file_batches)
                .where(vb.id == batch_id, vb.vector_store_id == store_id)
                .values(cancelled=True)
            ).rowcount
            conn.execute(
                update(vector_store_files)
                .where(vf.batch_id == batch_id, vf.status == "in_progress")
                .values(status="cancelled", worker_id=None)
            )
            return bool(found)

        return await self._write(cancel)

    # -- ingestion queue -------------------------------------------------------------------

    async def claim(self, worker_id: str, now: float, stale_before: float) -> dict[str, Any] | None:
        """Take one file waiting for indexing (or abandoned by a dead worker)."""
        # Polled every second by every worker: a small read first, a write only for work.
        if not await self._any_waiting({"stale_before": stale_before}):
            return None
        candidates = (
            select(vf.vector_store_id, vf.file_id, vf.worker_id, vf.heartbeat_at)
            .where(_WAITING)
            .order_by(vf.created_at)
            .limit(8)
        )

        def take(conn: Connection) -> dict[str, Any] | None:
            for row in conn.execute(candidates, {"stale_before": stale_before}).all():
                same = [
                    vf.vector_store_id == row[0],
                    vf.file_id == row[1],
                    vf.status == "in_progress",
                ]
                same.append(vf.worker_id.is_(None) if row[2] is None else vf.heartbeat_at == row[3])
                won = conn.execute(
                    update(vector_store_files)
                    .where(*same)
                    .values(worker_id=worker_id, heartbeat_at=now)
                ).rowcount
                if won:
                    found = (
                        conn.execute(
                            select(vector_store_files, vs.embedder, files.c.filename)
                            .join(vector_stores, vs.id == vf.vector_store_id)
                            .outerjoin(files, files.c.id == vf.file_id)
                            .where(vf.vector_store_id == row[0], vf.file_id == row[1])
                        )
                        .mappings()
                        .first()
                    )
                    return dict(found) if found else None
            return None

        return await self._write(take)

    async def heartbeat(self, worker_id: str, now: float) -> None:
        await self._write(
            lambda conn: conn.execute(
                update(vector_store_files)
                .where(vf.worker_id == worker_id, vf.status == "in_progress")
                .values(heartbeat_at=now)
            )
        )

    async def finish_file(
        self,
        store_id: str,
        file_id: str,
        worker_id: str,
        chunk_rows: list[dict[str, Any]],
        usage_bytes: int,
        error: str | None,
    ) -> bool:
        """Store a file's chunks and mark it completed (or failed with `error`), if this
        worker still owns it (not cancelled, removed or re-added meanwhile)."""

        def finish(conn: Connection) -> bool:
            owned = conn.execute(
                update(vector_store_files)
                .where(
                    vf.vector_store_id == store_id,
                    vf.file_id == file_id,
                    vf.worker_id == worker_id,
                    vf.status == "in_progress",
                )
                .values(
                    status="failed" if error else "completed",
                    last_error=error,
                    usage_bytes=usage_bytes,
                    worker_id=None,
                )
            ).rowcount
            if not owned:
                return False
            conn.execute(
                delete(chunks).where(
                    chunks.c.vector_store_id == store_id, chunks.c.file_id == file_id
                )
            )
            if chunk_rows:
                conn.execute(insert(chunks), chunk_rows)
            conn.execute(
                update(vector_stores).where(vs.id == store_id).values(version=vs.version + 1)
            )
            return True

        return await self._write(finish)


def _mapping(row: Any) -> dict[str, Any] | None:
    return dict(row) if row is not None else None
