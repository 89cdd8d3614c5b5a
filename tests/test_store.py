"""The SQL store on a real SQLite file: atomic saves and one-query chains."""

from sqlalchemy import event

from responsd.store.sql import SQLStore


async def test_a_chain_of_any_depth_loads_in_one_statement(database_url):
    store = await SQLStore.open(database_url)
    try:
        previous = None
        for n in range(60):
            rid = f"resp_{n}"
            await store.save_response(
                rid, previous, n, "{}", [(f"in{n}", f'"in{n}"')], [(f"out{n}", f'"out{n}"')]
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
        await store.save_response("resp_a", None, 1, "{}", [("i", '"i"')], [])
        assert await store.delete_response("resp_a") is True
        assert await store.load_context("resp_a") is None
        assert await store.find_items(["i"]) == {}
        assert await store.delete_response("resp_a") is False
    finally:
        await store.close()


async def test_a_duplicate_response_id_rolls_back_whole(database_url):
    store = await SQLStore.open(database_url)
    try:
        await store.save_response("resp_a", None, 1, '{"v": 1}', [("i", '"i"')], [])
        try:
            await store.save_response("resp_a", None, 2, '{"v": 2}', [("j", '"j"')], [])
        except Exception as exc:
            assert type(exc).__name__ == "StoreError"
        else:
            raise AssertionError("a second save with the same id must fail")
        assert await store.get_response("resp_a") == '{"v": 1}'
        assert await store.find_items(["j"]) == {}
    finally:
        await store.close()
