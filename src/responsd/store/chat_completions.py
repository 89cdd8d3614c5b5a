"""Stored chat completions: the completion as returned, its metadata and its request messages."""

import time
from typing import Literal

from sqlalchemy import Engine, delete, insert, select, update

from responsd.store.calls import Run
from responsd.store.paging import page
from responsd.store.tables import chat_completions

_T = chat_completions


class ChatCompletionStore:
    def __init__(self, engine: Engine, run: Run):
        self._engine = engine
        self._run = run

    async def create(
        self,
        completion_id: str,
        created_at: int,
        model: str,
        metadata: dict[str, str],
        body: str,
        messages: str,
    ) -> None:
        row = {
            "id": completion_id,
            "created_at": created_at,
            "created_ns": time.time_ns(),
            "model": model,
            "metadata": metadata,
            "body": body,
            "messages": messages,
        }

        def add() -> None:
            with self._engine.begin() as conn:
                conn.execute(insert(_T), row)

        await self._run(add)

    async def get(self, completion_id: str) -> tuple[str, dict[str, str]] | None:
        """The completion's JSON and its metadata."""

        def get() -> tuple[str, dict[str, str]] | None:
            with self._engine.connect() as conn:
                query = select(_T.c.body, _T.c.metadata).where(_T.c.id == completion_id)
                row = conn.execute(query).first()
            return (row[0], row[1]) if row else None

        return await self._run(get)

    async def messages(self, completion_id: str) -> str | None:
        def get() -> str | None:
            with self._engine.connect() as conn:
                query = select(_T.c.messages).where(_T.c.id == completion_id)
                return conn.execute(query).scalar_one_or_none()

        return await self._run(get)

    async def list(
        self,
        model: str | None,
        metadata: dict[str, str],
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
    ) -> tuple[list[tuple[str, dict[str, str]]], bool]:
        query = select(_T.c.body, _T.c.metadata)
        if model is not None:
            query = query.where(_T.c.model == model)
        for key, value in metadata.items():
            query = query.where(_T.c.metadata[key].as_string() == value)

        def read() -> tuple[list[tuple[str, dict[str, str]]], bool]:
            with self._engine.connect() as conn:
                rows, more = page(conn, query, _T, after, limit, order)
            return [(row[0], row[1]) for row in rows], more

        return await self._run(read)

    async def update_metadata(
        self, completion_id: str, metadata: dict[str, str]
    ) -> tuple[str, dict[str, str]] | None:
        def change() -> bool:
            with self._engine.begin() as conn:
                result = conn.execute(
                    update(_T).where(_T.c.id == completion_id).values(metadata=metadata)
                )
                return result.rowcount > 0

        if not await self._run(change):
            return None
        return await self.get(completion_id)

    async def delete(self, completion_id: str) -> bool:
        def remove() -> bool:
            with self._engine.begin() as conn:
                return conn.execute(delete(_T).where(_T.c.id == completion_id)).rowcount > 0

        return await self._run(remove)
