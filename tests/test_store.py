"""The SQL store on a real SQLite file: atomic saves and one-query chains."""

import asyncio
import gc
import sqlite3
import subprocess
import sys
import time

from sqlalchemy import create_engine, event, text

from responsd.store import sql
from responsd.store.sql import ResponseRow, SQLStore


async def test_a_chain_of_any_depth_loads_in_one_statement(database_url):
    store = await SQLStore.open(database_url)
    try:
        previous = None
        for n in range(60):
            rid = f"resp_{n}"
            await store.save_response(
                ResponseRow(rid, previous, n, "{}"),
                [(f"in{n}", f'"in{n}"')],
                [(f"out{n}", f'"out{n}"')],
            )
            previous = rid
        statements = []
        event.listen(store._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        status, bodies = await store.load_context("resp_59")
        assert len(statements) == 1
        assert bodies[:4] == ['"in0"', '"out0"', '"in1"', '"out1"'] and len(bodies) == 120
    finally:
        await store.close()


async def test_a_missing_chain_is_none_and_delete_removes_items(database_url):
    store = await SQLStore.open(database_url)
    try:
        assert await store.load_context("resp_missing") is None
        await store.save_response(ResponseRow("resp_a", None, 1, "{}"), [("i", '"i"')], [])
        assert await store.delete_response("resp_a") is True
        assert await store.load_context("resp_a") is None
        assert await store.find_items(["i"]) == {}
        assert await store.delete_response("resp_a") is False
    finally:
        await store.close()


async def test_a_duplicate_response_id_rolls_back_whole(database_url):
    store = await SQLStore.open(database_url)
    try:
        await store.save_response(ResponseRow("resp_a", None, 1, '{"v": 1}'), [("i", '"i"')], [])
        try:
            await store.save_response(
                ResponseRow("resp_a", None, 2, '{"v": 2}'), [("j", '"j"')], []
            )
        except Exception as exc:
            assert type(exc).__name__ == "StoreError"
        else:
            raise AssertionError("a second save with the same id must fail")
        assert await store.get_response("resp_a") == '{"v": 1}'
        assert await store.find_items(["j"]) == {}
    finally:
        await store.close()


_OPEN_AND_REPORT = """
import asyncio, sys
from responsd.store.sql import ResponseRow, SQLStore

async def main(url):
    store = await SQLStore.open(url)
    await store.close()
    print("alembic" in sys.modules)

asyncio.run(main(sys.argv[1]))
"""


def _opened_with_alembic(url: str, tmp_path) -> bool:
    """Opens the store in a new process (so nothing imported here counts); whether that
    loaded Alembic."""
    out = subprocess.run(
        [sys.executable, "-c", _OPEN_AND_REPORT, url],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # SQLStore.open makes its blob directory in the working directory
    )
    return out.stdout.strip() == "True"


def test_migrations_load_alembic_only_when_the_database_is_behind(database_url, tmp_path):
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(sql._MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == sql.HEAD_REVISION

    assert _opened_with_alembic(database_url, tmp_path)  # a new database: all migrations
    assert not _opened_with_alembic(database_url, tmp_path)  # at the newest: nothing to do

    engine = create_engine(database_url)
    with engine.begin() as connection:  # one revision back: the newest runs again
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    assert _opened_with_alembic(database_url, tmp_path)
    with engine.connect() as connection:
        assert sql._revision(connection) == sql.HEAD_REVISION
        assert connection.execute(text("SELECT count(*) FROM counters")).scalar() == 2
    engine.dispose()


async def test_a_locked_sqlite_database_is_waited_for_on_a_thread_not_on_the_loop(tmp_path):
    path = tmp_path / "responsd.db"
    store = await SQLStore.open(f"sqlite:///{path}", tmp_path)
    try:
        await store.save_response(ResponseRow("resp_a", None, 1, "{}"), [("i", '"i"')], [])
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        save = asyncio.create_task(
            store.save_response(ResponseRow("resp_b", "resp_a", 2, "{}"), [("j", '"j"')], [])
        )
        start = time.perf_counter()
        for _ in range(10):
            await asyncio.sleep(0.02)  # the loop keeps running meanwhile
        assert time.perf_counter() - start < 1.0 and not save.done()
        assert await store.chain_head("resp_a") == ("completed", 0)  # reads go on
        # Storing at once on the loop declines while locked, and stores nothing.
        assert not store.save_now(ResponseRow("resp_c", "resp_a", 3, "{}"), [("k", '"k"')], [])
        blocker.execute("ROLLBACK")
        blocker.close()
        await save
        chain = await store.load_context("resp_b")
        assert chain is not None and chain.bodies == ['"i"', '"j"']
        assert await store.load_context("resp_c") is None
        assert store.save_now(ResponseRow("resp_c", "resp_b", 3, "{}"), [("k", '"k"')], [])
        chain = await store.load_context("resp_c")
        assert chain is not None and chain.bodies == ['"i"', '"j"', '"k"']
    finally:
        await store.close()


async def test_saves_on_the_loop_keep_the_sqlite_wal_checkpointed(tmp_path, monkeypatch):
    monkeypatch.setattr(sql, "CHECKPOINT_EVERY", 20)
    path = tmp_path / "responsd.db"
    store = await SQLStore.open(f"sqlite:///{path}", tmp_path)
    body = '"' + "x" * 4000 + '"'
    try:
        for n in range(400):
            await store.save_response(
                ResponseRow(f"resp_{n}", None, n, body), [(f"i{n}", body)], []
            )
            await asyncio.sleep(0)  # let a checkpoint's thread report back
        # 400 saves of ~8 KB wrote over 3 MB to the WAL; checkpoints let SQLite reuse it.
        wal = (tmp_path / "responsd.db-wal").stat().st_size
        assert 0 < wal < 1_500_000, wal
    finally:
        await store.close()


async def test_closing_waits_for_work_still_on_the_database_threads(database_url):
    # At shutdown a poll's task is cancelled while its query still runs on a thread: closing
    # lets that query end and then closes its connection too (a connection handed back to a
    # pool already disposed is dropped unclosed: on PostgreSQL a ResourceWarning).
    store = await SQLStore.open(database_url)
    used, closed = [], []
    event.listen(store._engine, "checkout", lambda conn, *_: used.append(conn))
    event.listen(store._engine, "close", lambda conn, _: closed.append(conn))
    sleep = "SELECT pg_sleep(0.3)" if store._engine.dialect.name == "postgresql" else None

    def slow() -> None:
        with store._engine.connect() as conn:
            if sleep:
                conn.execute(text(sleep))
            else:
                time.sleep(0.3)
                conn.execute(text("SELECT 1"))

    query = asyncio.ensure_future(store._run(slow))
    await asyncio.sleep(0.1)  # running on its thread
    query.cancel()
    await store.close()
    gc.collect()
    assert used and all(any(c is u for c in closed) for u in used)  # the query's too


async def test_the_background_queue_index_holds_background_responses_only(database_url, tmp_path):
    """A stored response that is not in the background adds nothing to the queue's index
    (one B-tree page less per save), and the queue's queries still find it by it (as a run's
    follow-up finds the run by its own partial index)."""
    from responsd.store.background import _FIRST_TARGET, _QUEUED, _STALE

    await (await SQLStore.open(database_url, tmp_path)).close()
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            if database_url.startswith("sqlite"):
                definition = conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE name = 'ix_responses_background_status'"
                ).scalar()
                explain = "EXPLAIN QUERY PLAN "
            else:
                definition = conn.exec_driver_sql(
                    "SELECT indexdef FROM pg_indexes "
                    "WHERE indexname = 'ix_responses_background_status'"
                ).scalar()
                conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: force it
                explain = "EXPLAIN "
            assert "WHERE background" in definition
            queue, continuation = "ix_responses_background_status", "ix_responses_continuation"
            for query, index in ((_QUEUED, queue), (_STALE, queue), (_FIRST_TARGET, continuation)):
                compiled = query.compile(dialect=conn.dialect)
                params = compiled.construct_params({"limit": 5, "before": 1.0, "key": "k"})
                args = tuple(params[k] for k in compiled.positiontup or ()) or params
                plan = conn.exec_driver_sql(f"{explain}{compiled}", args).fetchall()
                assert index in str(plan), plan
    finally:
        engine.dispose()
