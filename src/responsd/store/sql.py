"""The SQL store (SQLite by default, PostgreSQL for scale-out), on SQLAlchemy Core.

Items are stored as the JSON text clients see, so reading never re-encodes them.
"""

from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, bindparam, delete, event, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from responsd.errors import StoreError
from responsd.store.tables import INPUT, OUTPUT, response_items, responses

_MIGRATIONS = Path(__file__).parent / "migrations"

# One statement for any depth: walk previous_response_id links, then read every item of
# the chain, oldest response first, input before output.
_CHAIN = text(
    """
    WITH RECURSIVE chain(id, prev, depth) AS (
        SELECT id, previous_response_id, 0 FROM responses WHERE id = :id
        UNION ALL
        SELECT r.id, r.previous_response_id, chain.depth + 1
        FROM responses r JOIN chain ON r.id = chain.prev
    )
    SELECT i.body FROM chain
    LEFT JOIN response_items i ON i.response_id = chain.id
    ORDER BY chain.depth DESC, i.kind, i.position
    """
)


class SQLStore:
    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    @classmethod
    async def open(cls, url: str) -> "SQLStore":
        if url.startswith("sqlite"):
            Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(url)
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            engine = create_async_engine(url, pool_size=20, max_overflow=20)
        store = cls(engine)
        async with engine.begin() as conn:
            await conn.run_sync(_migrate)
        return store

    async def close(self) -> None:
        await self._engine.dispose()

    async def save_response(
        self,
        response_id: str,
        previous_response_id: str | None,
        created_at: int,
        body: str,
        input_items: list[tuple[str, str]],
        output_items: list[tuple[str, str]],
    ) -> None:
        """Store a finished response with its (item id, JSON) input and output, atomically."""
        rows = [
            {"response_id": response_id, "kind": kind, "position": n, "item_id": i, "body": b}
            for kind, items in ((INPUT, input_items), (OUTPUT, output_items))
            for n, (i, b) in enumerate(items)
        ]
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(responses).values(
                        id=response_id,
                        previous_response_id=previous_response_id,
                        created_at=created_at,
                        body=body,
                    )
                )
                if rows:
                    await conn.execute(insert(response_items), rows)
        except SQLAlchemyError as exc:
            raise StoreError(f"Could not store response {response_id}.") from exc

    async def get_response(self, response_id: str) -> str | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(responses.c.body).where(responses.c.id == response_id)
            )
            return result.scalar_one_or_none()

    async def delete_response(self, response_id: str) -> bool:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(response_items).where(response_items.c.response_id == response_id)
            )
            result = await conn.execute(delete(responses).where(responses.c.id == response_id))
            return result.rowcount > 0

    async def load_context(self, response_id: str) -> list[str] | None:
        """Every item the model saw and said along the chain ending at `response_id`.

        None when the response does not exist (or was not stored)."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_CHAIN, {"id": response_id})).all()
        if not rows:
            return None
        return [row[0] for row in rows if row[0] is not None]

    async def find_items(self, item_ids: list[str]) -> dict[str, str]:
        """The latest stored JSON of each item id found (for `item_reference`)."""
        query = (
            select(response_items.c.item_id, response_items.c.body)
            .where(response_items.c.item_id.in_(bindparam("ids", expanding=True)))
            .order_by(response_items.c.response_id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query, {"ids": item_ids})).all()
        return {item_id: body for item_id, body in rows}

    async def list_input_items(
        self, response_id: str, after: str | None, limit: int, order: Literal["asc", "desc"]
    ) -> tuple[list[tuple[str, str]], bool] | None:
        """A page of (item id, JSON) input items and whether more follow; None if no response."""
        items = response_items.c
        async with self._engine.connect() as conn:
            exists = await conn.execute(select(responses.c.id).where(responses.c.id == response_id))
            if exists.first() is None:
                return None
            query = select(items.item_id, items.body).where(
                items.response_id == response_id, items.kind == INPUT
            )
            if after is not None:
                position = (
                    select(items.position)
                    .where(
                        items.response_id == response_id,
                        items.kind == INPUT,
                        items.item_id == after,
                    )
                    .limit(1)
                    .scalar_subquery()
                )
                query = query.where(
                    items.position > position if order == "asc" else items.position < position
                )
            ordering = items.position.asc() if order == "asc" else items.position.desc()
            rows = (await conn.execute(query.order_by(ordering).limit(limit + 1))).all()
        return [(r[0], r[1]) for r in rows[:limit]], len(rows) > limit


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: durable across application crashes, and no fsync per commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _migrate(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
