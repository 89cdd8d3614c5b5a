"""Files and Uploads: rows here, bytes in `FileBlobs` (a directory under the data dir).

A file's bytes are written first and its row last, so a listed file always has its bytes;
a delete removes the row first (and the file from every vector store, with its chunks), then
the bytes. With several machines on one PostgreSQL, the data dir must be shared storage.
"""

import hashlib
import os
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, delete, insert, select, update

from responsd.store.calls import Run
from responsd.store.paging import page
from responsd.store.tables import (
    chunks,
    files,
    upload_parts,
    uploads,
    vector_store_files,
    vector_stores,
)


class FileBlobs:
    """The bytes of files and upload parts, one file each, written through a temporary name."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def path(self, file_id: str) -> Path:
        return self._dir("files") / file_id

    def part_path(self, part_id: str) -> Path:
        return self._dir("parts") / part_id

    def incoming(self, name: str) -> Path:
        """Where bytes are written while they arrive; `commit` moves them into place."""
        return self._dir("incoming") / name

    def commit(self, incoming: Path, final: Path) -> None:
        os.replace(incoming, final)

    def join_parts(self, part_ids: list[str], file_id: str) -> tuple[Path, str]:
        """Parts joined in order into an incoming file (`commit` it); its path and MD5."""
        target = self.incoming(file_id)
        digest = hashlib.md5(usedforsecurity=False)
        with target.open("wb") as out:
            for part_id in part_ids:
                with self.part_path(part_id).open("rb") as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        return target, digest.hexdigest()

    def remove(self, *paths: Path) -> None:
        for path in paths:
            path.unlink(missing_ok=True)


class FileStore:
    def __init__(self, engine: Engine, run: Run, blobs: FileBlobs):
        self._engine = engine
        self._run = run
        self.blobs = blobs

    async def create(self, row: dict[str, Any]) -> None:
        def add() -> None:
            with self._engine.begin() as conn:
                conn.execute(insert(files), row)

        await self._run(add)

    async def get(self, file_id: str, now: int) -> dict[str, Any] | None:
        query = select(files).where(files.c.id == file_id)

        def get() -> dict[str, Any] | None:
            with self._engine.connect() as conn:
                row = conn.execute(query).mappings().first()
            if row is None or (row["expires_at"] is not None and row["expires_at"] <= now):
                return None
            return dict(row)

        return await self._run(get)

    async def get_many(self, file_ids: list[str]) -> dict[str, dict[str, Any]]:
        query = select(files).where(files.c.id.in_(file_ids))

        def get() -> dict[str, dict[str, Any]]:
            with self._engine.connect() as conn:
                return {row["id"]: dict(row) for row in conn.execute(query).mappings()}

        return await self._run(get)

    async def list_page(
        self,
        purpose: str | None,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
        now: int,
    ) -> tuple[list[dict[str, Any]], bool]:
        query = select(files).where((files.c.expires_at.is_(None)) | (files.c.expires_at > now))
        if purpose is not None:
            query = query.where(files.c.purpose == purpose)

        def list_() -> tuple[list[dict[str, Any]], bool]:
            with self._engine.connect() as conn:
                rows, more = page(conn, query, files, after, limit, order)
            return [dict(row._mapping) for row in rows], more

        return await self._run(list_)

    async def delete(self, file_id: str) -> bool:
        """Remove a file, its place in every vector store and its chunks, then its bytes."""

        def remove() -> bool:
            with self._engine.begin() as conn:
                gone = conn.execute(delete(files).where(files.c.id == file_id)).rowcount > 0
                stores = list(
                    conn.execute(
                        select(vector_store_files.c.vector_store_id).where(
                            vector_store_files.c.file_id == file_id
                        )
                    ).scalars()
                )
                if stores:
                    conn.execute(
                        delete(vector_store_files).where(vector_store_files.c.file_id == file_id)
                    )
                    conn.execute(delete(chunks).where(chunks.c.file_id == file_id))
                    conn.execute(
                        update(vector_stores)
                        .where(vector_stores.c.id.in_(stores))
                        .values(version=vector_stores.c.version + 1)
                    )
            if gone:
                self.blobs.remove(self.blobs.path(file_id))
            return gone

        return await self._run(remove)

    async def expired(self, now: int) -> list[str]:
        query = select(files.c.id).where(files.c.expires_at <= now)

        def find() -> list[str]:
            with self._engine.connect() as conn:
                return list(conn.execute(query).scalars())

        return await self._run(find)

    # -- uploads ---------------------------------------------------------------------------

    async def create_upload(self, row: dict[str, Any]) -> None:
        def add() -> None:
            with self._engine.begin() as conn:
                conn.execute(insert(uploads), row)

        await self._run(add)

    async def get_upload(self, upload_id: str) -> dict[str, Any] | None:
        def get() -> dict[str, Any] | None:
            with self._engine.connect() as conn:
                row = (
                    conn.execute(select(uploads).where(uploads.c.id == upload_id))
                    .mappings()
                    .first()
                )
            return dict(row) if row else None

        return await self._run(get)

    async def add_part(self, row: dict[str, Any]) -> None:
        def add() -> None:
            with self._engine.begin() as conn:
                conn.execute(insert(upload_parts), row)

        await self._run(add)

    async def part_sizes(self, upload_id: str) -> dict[str, int]:
        query = select(upload_parts.c.id, upload_parts.c.bytes).where(
            upload_parts.c.upload_id == upload_id
        )

        def sizes() -> dict[str, int]:
            with self._engine.connect() as conn:
                return {row[0]: row[1] for row in conn.execute(query)}

        return await self._run(sizes)

    async def finish_upload(
        self, upload_id: str, status: str, file_row: dict[str, Any] | None
    ) -> bool:
        """Move a pending upload to `status` (creating its file); False if no longer pending."""

        def finish() -> bool:
            with self._engine.begin() as conn:
                changed = conn.execute(
                    update(uploads)
                    .where(uploads.c.id == upload_id, uploads.c.status == "pending")
                    .values(status=status, file_id=file_row["id"] if file_row else None)
                ).rowcount
                if changed and file_row is not None:
                    conn.execute(insert(files), file_row)
                return bool(changed)

        return await self._run(finish)

    async def drop_parts(self, upload_id: str) -> None:
        def drop() -> None:
            with self._engine.begin() as conn:
                ids = list(
                    conn.execute(
                        select(upload_parts.c.id).where(upload_parts.c.upload_id == upload_id)
                    ).scalars()
                )
                conn.execute(delete(upload_parts).where(upload_parts.c.upload_id == upload_id))
            self.blobs.remove(*(self.blobs.part_path(i) for i in ids))

        await self._run(drop)
