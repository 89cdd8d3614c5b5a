"""Conversations: an ordered, append-mostly list of items per conversation.

Order is the order of appends: `conversations.item_count` is bumped first in each append
transaction, which takes the write lock (SQLite) or row lock (PostgreSQL) and hands out the
positions, so two responses finishing at once on one conversation append one after the
other, each keeping its input and output items together.
"""

from typing import Literal

from sqlalchemy import Connection, Engine, and_, bindparam, delete, insert, select, update

from responsd.store.calls import Readers, Run
from responsd.store.tables import conversation_items, conversations, counters

Page = tuple[list[tuple[str, str]], bool]

_BUMP = (
    update(conversations)
    .where(conversations.c.id == bindparam("cid"))
    .values(item_count=conversations.c.item_count + bindparam("n"))
    .returning(conversations.c.item_count)
)
_INSERT_ITEMS = insert(conversation_items)
_GET = select(conversations.c.created_at, conversations.c.metadata).where(
    conversations.c.id == bindparam("cid")
)
_ITEM_DELETES = counters.c.name == "conversation_item_deletes"
_ITEMS = (  # built once: its compiled form is cached (a select built per call costs ~0.1 ms)
    select(conversations.c.id, conversation_items.c.body)
    .select_from(conversations)
    .outerjoin(
        conversation_items,
        and_(
            conversation_items.c.conversation_id == conversations.c.id,
            conversation_items.c.position >= bindparam("start"),
            conversation_items.c.position < bindparam("end"),
        ),
    )
    .where(conversations.c.id == bindparam("cid"))
    .order_by(conversation_items.c.position)
)
_HEAD = select(
    conversations.c.item_count, select(counters.c.value).where(_ITEM_DELETES).scalar_subquery()
).where(conversations.c.id == bindparam("cid"))


def append_items(conn: Connection, conversation_id: str, items: list[tuple[str, str]]) -> bool:
    """Append (item id, JSON) pairs in order; False when the conversation does not exist."""
    end = conn.execute(_BUMP, {"cid": conversation_id, "n": len(items)}).scalar_one_or_none()
    if end is None:
        return False
    start = end - len(items)
    if items:
        rows = [
            {"conversation_id": conversation_id, "position": start + n, "item_id": i, "body": b}
            for n, (i, b) in enumerate(items)
        ]
        conn.execute(_INSERT_ITEMS, rows)
    return True


class ConversationStore:
    def __init__(self, engine: Engine, run: Run, readers: Readers):
        self._engine = engine
        self._run = run
        self._head = readers(_HEAD)  # read every turn: like a chain's head, not on a thread

    async def create(
        self, conversation_id: str, created_at: int, metadata: str, items: list[tuple[str, str]]
    ) -> None:
        def create() -> None:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(conversations),
                    {"id": conversation_id, "created_at": created_at, "metadata": metadata},
                )
                append_items(conn, conversation_id, items)

        await self._run(create)

    async def get(self, conversation_id: str) -> tuple[int, str] | None:
        def get() -> tuple[int, str] | None:
            with self._engine.connect() as conn:
                row = conn.execute(_GET, {"cid": conversation_id}).first()
            return (row[0], row[1]) if row else None

        return await self._run(get)

    async def update_metadata(self, conversation_id: str, metadata: str) -> tuple[int, str] | None:
        def change() -> tuple[int, str] | None:
            with self._engine.begin() as conn:
                conn.execute(
                    update(conversations)
                    .where(conversations.c.id == conversation_id)
                    .values(metadata=metadata)
                )
                row = conn.execute(_GET, {"cid": conversation_id}).first()
            return (row[0], row[1]) if row else None

        return await self._run(change)

    async def delete(self, conversation_id: str) -> bool:
        def remove() -> bool:
            with self._engine.begin() as conn:
                conn.execute(
                    delete(conversation_items).where(
                        conversation_items.c.conversation_id == conversation_id
                    )
                )
                result = conn.execute(
                    delete(conversations).where(conversations.c.id == conversation_id)
                )
                return result.rowcount > 0

        return await self._run(remove)

    async def append(self, conversation_id: str, items: list[tuple[str, str]]) -> bool:
        def add() -> bool:
            with self._engine.begin() as conn:
                return append_items(conn, conversation_id, items)

        return await self._run(add)

    async def head(self, conversation_id: str) -> tuple[int, int] | None:
        """(positions handed out so far, conversation item deletes so far), or None when
        there is no such conversation. Items are only appended, each at the next position,
        or deleted: items read under the same head are the whole conversation; read under
        the same deletes and a smaller count, they lack only those from that count on."""
        rows = await self._head({"cid": conversation_id})
        return (rows[0][0], rows[0][1]) if rows else None

    async def load_items(self, conversation_id: str, start: int, end: int) -> list[str] | None:
        """The conversation's items at positions start..end-1, in order, in one statement;
        None if the conversation does not exist."""
        params = {"cid": conversation_id, "start": start, "end": end}

        def load() -> list[str] | None:
            with self._engine.connect() as conn:
                rows = conn.execute(_ITEMS, params).all()
            return [r[1] for r in rows if r[1] is not None] if rows else None

        return await self._run(load)

    async def list_items(
        self, conversation_id: str, after: str | None, limit: int, order: Literal["asc", "desc"]
    ) -> Page | None:
        c = conversation_items.c
        query = select(c.item_id, c.body).where(c.conversation_id == conversation_id)
        if after is not None:
            position = (
                select(c.position)
                .where(c.conversation_id == conversation_id, c.item_id == after)
                .order_by(c.position.desc())
                .limit(1)
                .scalar_subquery()
            )
            query = query.where(c.position > position if order == "asc" else c.position < position)
        ordering = c.position.asc() if order == "asc" else c.position.desc()
        query = query.order_by(ordering).limit(limit + 1)

        def page() -> Page | None:
            with self._engine.connect() as conn:
                if conn.execute(_GET, {"cid": conversation_id}).first() is None:
                    return None
                rows = conn.execute(query).all()
            return [(r[0], r[1]) for r in rows[:limit]], len(rows) > limit

        return await self._run(page)

    async def get_item(self, conversation_id: str, item_id: str) -> str | None:
        c = conversation_items.c
        query = (
            select(c.body)
            .where(c.conversation_id == conversation_id, c.item_id == item_id)
            .order_by(c.position.desc())
            .limit(1)
        )

        def get() -> str | None:
            with self._engine.connect() as conn:
                return conn.execute(query).scalar_one_or_none()

        return await self._run(get)

    async def delete_item(self, conversation_id: str, item_id: str) -> bool:
        c = conversation_items.c

        def remove() -> bool:
            with self._engine.begin() as conn:
                result = conn.execute(
                    delete(conversation_items).where(
                        c.conversation_id == conversation_id, c.item_id == item_id
                    )
                )
                if result.rowcount > 0:  # cached copies of the conversation are stale now
                    conn.execute(
                        update(counters).where(_ITEM_DELETES).values(value=counters.c.value + 1)
                    )
                return result.rowcount > 0

        return await self._run(remove)
