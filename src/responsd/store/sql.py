"""The SQL store (SQLite by default), on SQLAlchemy Core.

Each store operation runs as one plain function on a worker thread. Measured on SQLite
(bench note in the README): one thread hop per operation costs ~0.2 ms for a save,
against ~0.9 ms through an async driver, which hops once per statement and cursor call.
The event loop never blocks on the database either way. On SQLite a small save and the
chain-head read are first tried on the loop's own connection, which never waits for a lock
(store/sqlite_inline.py): the hop cost more than the statements.

Items are stored as the JSON text clients see, so reading never re-encodes them.
"""

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from responsd.errors import StoreError
from responsd.store.background import BackgroundStore
from responsd.store.calls import Reader
from responsd.store.chat_completions import ChatCompletionStore
from responsd.store.chunks import ChunkStore
from responsd.store.conversations import ConversationStore, append_items
from responsd.store.files import FileBlobs, FileStore
from responsd.store.sqlite_inline import CHECKPOINT_EVERY, Busy, LoopConnection
from responsd.store.tables import INPUT, OUTPUT, counters, response_items, responses
from responsd.store.vector_stores import VectorStoreStore

log = logging.getLogger("responsd.store")

_MIGRATIONS = Path(__file__).parent / "migrations"
HEAD_REVISION = max(p.name.split("_", 1)[0] for p in (_MIGRATIONS / "versions").glob("0*.py"))
"""The newest migration: each file is named after its revision (`0006_counters.py`)."""
_WORKERS = 8
"""Database threads; SQLite serializes writers anyway, readers run side by side (WAL)."""
INLINE_BYTES = 256 * 1024
"""The largest save (JSON bytes) tried on the event loop (store/sqlite_inline.py)."""

T = TypeVar("T")

# One statement for any depth: walk previous_response_id links, then read every item of
# the chain, oldest response first, input before output.
_CHAIN = text(
    """
    WITH RECURSIVE chain(id, prev, depth, status) AS (
        SELECT id, previous_response_id, 0, status FROM responses WHERE id = :id
        UNION ALL
        SELECT r.id, r.previous_response_id, chain.depth + 1, r.status
        FROM responses r JOIN chain ON r.id = chain.prev
    )
    SELECT i.body, chain.depth, chain.status FROM chain
    LEFT JOIN response_items i ON i.response_id = chain.id
    ORDER BY chain.depth DESC, i.kind, i.position
    """
)
_DELETES = counters.c.name == "response_deletes"
_BUMP_DELETES = update(counters).where(_DELETES).values(value=counters.c.value + 1)
_CHAIN_HEAD = select(
    responses.c.status, select(counters.c.value).where(_DELETES).scalar_subquery()
).where(responses.c.id == bindparam("id"))
# Statements built once: plain parameters keep SQLAlchemy's compiled form cached.
_GET_RESPONSE = select(responses.c.body).where(responses.c.id == bindparam("id"))
_FIND_ITEMS = (
    select(response_items.c.item_id, response_items.c.body)
    .where(response_items.c.item_id.in_(bindparam("ids", expanding=True)))
    .order_by(response_items.c.response_id)
)


class ResponseRow(NamedTuple):
    """A finished response as stored: its row of `responses`."""

    id: str
    previous_response_id: str | None
    created_at: int
    body: str
    conversation_id: str | None = None
    """Its input and output are appended to this conversation in the same transaction."""
    status: str = "completed"


_ITEM_ROW = ("response_id", "kind", "position", "item_id", "body")


class _Direct:
    """A statement of every request's path, compiled once for the database's driver and run
    on the DBAPI cursor of a SQLAlchemy connection (in its transaction). It skips what
    SQLAlchemy does per execute, which is most of a small statement's cost: a stored
    response's save went from 0.39 to 0.30 ms of CPU (bench note in the README). Only for
    statements whose values need no type conversion (strings and integers)."""

    def __init__(self, statement: Any, engine: Engine, keys: tuple[str, ...] | None = None):
        compiled = statement.compile(dialect=engine.dialect, column_keys=keys)
        self.sql = compiled.string
        self._order = compiled.positiontup  # None: the driver takes named parameters
        self._fixed = {k: v for k, v in compiled.params.items() if v is not None}
        """Values written in the statement itself (`name == "response_deletes"`)."""

    def params(self, row: dict[str, Any]) -> Any:
        if self._fixed:
            row = {**self._fixed, **row}
        return row if self._order is None else tuple(row[key] for key in self._order)

    def execute(self, conn: Connection, row: dict[str, Any]) -> Any:
        cursor = conn.connection.cursor()
        cursor.execute(self.sql, self.params(row))
        return cursor

    def execute_many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        cursor = conn.connection.cursor()
        cursor.executemany(self.sql, [self.params(row) for row in rows])
        cursor.close()


class Chain(NamedTuple):
    """A previous_response_id chain: the status of its last response, and its items' JSON."""

    status: str | None
    bodies: list[str]


class ConversationGone(Exception):
    """Raised inside a save to roll it back when its conversation no longer exists."""


class SQLStore:
    def __init__(self, engine: Engine, blobs: FileBlobs):
        self._engine = engine
        self._database_errors = (SQLAlchemyError, engine.dialect.loaded_dbapi.Error)
        self._insert_response = _Direct(insert(responses), engine, ResponseRow._fields)
        self._insert_items = _Direct(insert(response_items), engine, _ITEM_ROW)
        self._chain_head = _Direct(_CHAIN_HEAD, engine)
        self._get_response = _Direct(_GET_RESPONSE, engine)
        self._threads = ThreadPoolExecutor(_WORKERS, thread_name_prefix="responsd-db")
        self._inline = _loop_connection(engine)
        self._checkpoint: asyncio.Future[None] | None = None
        self.conversations = ConversationStore(engine, self._run, self._reader)
        self.background = BackgroundStore(engine, self._run, self._reader)
        self.files = FileStore(engine, self._run, blobs)
        self.vector_stores = VectorStoreStore(engine, self._run, self._reader)
        self.chunks = ChunkStore(engine, self._run)
        self.chat_completions = ChatCompletionStore(engine, self._run)

    @classmethod
    async def open(cls, url: str, blob_dir: Path = Path(".responsd")) -> "SQLStore":
        """The store at `url`; uploaded files' bytes live under `blob_dir`."""
        if url.startswith("sqlite"):
            Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, pool_size=_WORKERS, max_overflow=0)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_size=_WORKERS, max_overflow=0, pool_pre_ping=True)
        store = cls(engine, FileBlobs(blob_dir))
        await store._run(_migrate, engine)
        return store

    async def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
        if self._checkpoint is not None:
            await self._checkpoint
        await asyncio.to_thread(self._close_pool)

    def _close_pool(self) -> None:
        # Work still on the store's threads (a poll whose task was cancelled at shutdown)
        # holds its connection until it ends: a connection handed back after the pool was
        # disposed would be dropped unclosed. So the threads finish first.
        self._threads.shutdown(wait=True)
        self._engine.dispose()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)
        except self._database_errors as exc:
            raise _failed(exc) from exc

    async def save_response(
        self,
        row: ResponseRow,
        input_items: list[tuple[str, str]],
        output_items: list[tuple[str, str]],
        background: bool = False,
    ) -> None:
        """Store a finished response with its (item id, JSON) input and output, atomically,
        appending both to its conversation, if any, in the same transaction."""

        def save() -> None:
            # Rows are built here, on the store's thread: a long history would hold the loop.
            items = _item_rows(row.id, input_items, output_items)
            with self._engine.begin() as conn:
                if background:  # its row exists since it was queued; its worker lets go
                    # of it once the log's last events are written (`append_events`)
                    conn.execute(
                        update(responses)
                        .where(responses.c.id == row.id)
                        .values(body=row.body, status=row.status)
                    )
                else:
                    self._insert_response.execute(conn, row._asdict()).close()
                if items:
                    self._insert_items.execute_many(conn, items)
                if row.conversation_id and not append_items(
                    conn, row.conversation_id, [*input_items, *output_items]
                ):
                    raise ConversationGone(row.conversation_id)

        if self._checkpoint is not None and not self._checkpoint.done():
            # Saves wait for a checkpoint in flight, as they would for SQLite's own at
            # commit: with nothing written meanwhile it copies the whole WAL, which then
            # starts over (one that saves kept appending to grew without end, measured).
            await asyncio.shield(self._checkpoint)
        if not background and self.save_now(row, input_items, output_items):
            return
        try:
            await self._run(save)
        except ConversationGone as exc:
            raise StoreError(
                f"Conversation '{exc}' was deleted while this response ran; nothing was stored."
            ) from None

    def save_now(
        self,
        row: ResponseRow,
        input_items: list[tuple[str, str]],
        output_items: list[tuple[str, str]],
    ) -> bool:
        """`save_response` of a response not in the background, done at once on the event
        loop's own SQLite connection. False when that cannot be done without waiting (not
        SQLite, in a conversation, too big, a checkpoint in flight, the database locked by
        another writer): then `save_response` stores it. Most saves end here, without the
        task and the loop turns of an awaited, shielded save."""
        if (
            self._inline is None
            or row.conversation_id is not None
            or (self._checkpoint is not None and not self._checkpoint.done())
        ):
            return False
        pairs = (*input_items, *output_items)
        if len(row.body) + sum(len(body) for _, body in pairs) > INLINE_BYTES:
            return False
        items = _item_rows(row.id, input_items, output_items)
        params = self._insert_response.params(row._asdict())
        statements = [(self._insert_response.sql, params, False)]
        if items:
            statements.append(
                (self._insert_items.sql, [self._insert_items.params(i) for i in items], True)
            )
        try:
            self._inline.write(statements)
        except Busy:
            return False  # locked: the thread path waits for the lock
        except sqlite3.Error as exc:
            raise _failed(exc) from exc
        if self._inline.commits % CHECKPOINT_EVERY == 0:
            self._checkpoint_soon()
        return True

    def _checkpoint_soon(self) -> None:
        """A WAL checkpoint on a worker thread (the loop's connection never runs one)."""
        if self._checkpoint is None or self._checkpoint.done():
            loop = asyncio.get_running_loop()
            self._checkpoint = loop.run_in_executor(self._threads, self._checkpoint_wal)

    def _checkpoint_wal(self) -> None:
        # PASSIVE, as SQLite's own: it never waits for readers or writers.
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except self._database_errors:
            log.exception("WAL checkpoint failed (the next one retries)")

    async def get_response(self, response_id: str) -> str | None:
        row = await self._one_row(self._get_response, {"id": response_id})
        return row[0] if row else None

    async def _one_row(self, direct: _Direct, params: dict[str, Any]) -> Any:
        """The first row of a small query, read as `_rows` reads."""
        rows = await self._rows(direct, params)
        return rows[0] if rows else None

    async def _rows(self, direct: _Direct, params: dict[str, Any]) -> list[Any]:
        """The rows of a small query: on SQLite from the loop's own connection when it can
        be read at once (store/sqlite_inline.py), else on a thread."""
        if self._inline is not None:
            try:
                return self._inline.read(direct.sql, direct.params(params))
            except Busy:
                pass
            except sqlite3.Error as exc:
                raise _failed(exc) from exc

        def read() -> list[Any]:
            with self._engine.connect() as conn:
                cursor = direct.execute(conn, params)
                rows = cursor.fetchall()
                cursor.close()
            return rows

        return await self._run(read)

    def _reader(self, statement: Any) -> Reader:
        """A function reading the rows of `statement` (a small query) for its parameters, as
        `_rows` reads: what the stores read every turn or poll, without a thread trip."""
        direct = _Direct(statement, self._engine)
        return lambda params: self._rows(direct, params)

    async def delete_response(self, response_id: str) -> bool:
        def remove() -> bool:
            with self._engine.begin() as conn:
                conn.execute(
                    delete(response_items).where(response_items.c.response_id == response_id)
                )
                gone = conn.execute(delete(responses).where(responses.c.id == response_id))
                if gone.rowcount > 0:
                    conn.execute(_BUMP_DELETES)
                return gone.rowcount > 0

        return await self._run(remove)

    async def chain_head(self, response_id: str) -> tuple[str | None, int] | None:
        """The status of `response_id` and the count of response deletes so far (chains read
        under the same count are still whole); None when no such response is stored."""

        row = await self._one_row(self._chain_head, {"id": response_id})
        return (row[0], row[1]) if row else None

    async def load_context(self, response_id: str) -> Chain | None:
        """Every item the model saw and said along the chain ending at `response_id`, and
        that response's status. None when the response does not exist (or was not stored)."""

        def load() -> Chain | None:
            with self._engine.connect() as conn:
                rows = conn.execute(_CHAIN, {"id": response_id}).all()
            if not rows:
                return None
            status = next(row[2] for row in rows if row[1] == 0)
            return Chain(status, [row[0] for row in rows if row[0] is not None])

        return await self._run(load)

    async def find_items(self, item_ids: list[str]) -> dict[str, str]:
        """The latest stored JSON of each item id found (for `item_reference`)."""

        def find() -> dict[str, str]:
            with self._engine.connect() as conn:
                return dict(conn.execute(_FIND_ITEMS, {"ids": item_ids}).all())

        return await self._run(find)

    async def list_input_items(
        self, response_id: str, after: str | None, limit: int, order: Literal["asc", "desc"]
    ) -> tuple[list[tuple[str, str]], bool] | None:
        """A page of (item id, JSON) input items and whether more follow; None if no response."""
        items = response_items.c
        query = select(items.item_id, items.body).where(
            items.response_id == response_id, items.kind == INPUT
        )
        if after is not None:
            position = (
                select(items.position)
                .where(
                    items.response_id == response_id, items.kind == INPUT, items.item_id == after
                )
                .limit(1)
                .scalar_subquery()
            )
            query = query.where(
                items.position > position if order == "asc" else items.position < position
            )
        ordering = items.position.asc() if order == "asc" else items.position.desc()
        query = query.order_by(ordering).limit(limit + 1)

        def page() -> tuple[list[tuple[str, str]], bool] | None:
            with self._engine.connect() as conn:
                if conn.execute(_GET_RESPONSE, {"id": response_id}).first() is None:
                    return None
                rows = conn.execute(query).all()
            return [(r[0], r[1]) for r in rows[:limit]], len(rows) > limit

        return await self._run(page)


def _item_rows(
    response_id: str, input_items: list[tuple[str, str]], output_items: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The response_items rows of a response's (item id, JSON) input and output."""
    return [
        {"response_id": response_id, "kind": kind, "position": n, "item_id": i, "body": b}
        for kind, pairs in ((INPUT, input_items), (OUTPUT, output_items))
        for n, (i, b) in enumerate(pairs)
    ]


def _failed(exc: Exception) -> StoreError:
    """A database error as clients see it: its kind, never its text (it may hold data)."""
    return StoreError(f"The database failed: {type(exc).__name__}.")


def _loop_connection(engine: Engine) -> LoopConnection | None:
    """The event loop's own connection, for a SQLite database in a file."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.query or url.database in (None, "", ":memory:"):
        return None
    return LoopConnection(url.database)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: durable across application crashes, and no fsync per commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _migrate(engine: Engine) -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Workers starting together take turns; the later ones find nothing to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(7263001)"))
        if _revision(connection) == HEAD_REVISION:
            return
        # Alembic only when there is something to do: loaded, it holds ~11 MiB of memory
        # for the server's whole life.
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _revision(connection: Connection) -> str | None:
    """The database's migration revision (Alembic's table); None for a new database."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
