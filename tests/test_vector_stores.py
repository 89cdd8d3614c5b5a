"""The Vector Stores API through the SDK: indexing in the background, search, filters,
attributes, batches, deletes, and indexing taken over from a dead worker."""

import time
import zlib

import openai
import orjson
import pytest
from sqlalchemy import create_engine, text
from starlette.applications import Starlette
from starlette.responses import Response as HTTPResponse
from starlette.routing import Route

from bench.servers import ServerThread
from tests.docs import HANDBOOK, TRAVEL, docx, pdf
from tests.openapi_spec import check_spec


def _upload(client, name: str, data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return client.files.create(file=(name, raw), purpose="assistants").id


def _raw(model) -> dict:
    return model.model_dump(exclude_unset=True)


def test_create_and_poll_then_search_finds_paraphrases(client):
    vs = client.vector_stores.create(name="handbook", metadata={"team": "hr"})
    check_spec("VectorStoreObject", _raw(vs))
    assert vs.id.startswith("vs_") and vs.name == "handbook" and vs.metadata == {"team": "hr"}
    file_id = _upload(client, "handbook.md", HANDBOOK)
    entry = client.vector_stores.files.create_and_poll(
        vector_store_id=vs.id, file_id=file_id, attributes={"dept": "hr", "year": 2026}
    )
    check_spec("VectorStoreFileObject", _raw(entry))
    assert entry.status == "completed" and entry.last_error is None and entry.usage_bytes > 0
    assert entry.attributes == {"dept": "hr", "year": 2026}
    store = client.vector_stores.retrieve(vs.id)
    assert store.status == "completed" and store.file_counts.completed == 1
    assert store.usage_bytes == entry.usage_bytes

    page = client.vector_stores.search(vs.id, query="how many weeks off after having a baby")
    check_spec("VectorStoreSearchResultsPage", _raw(page))
    assert page.data, "a paraphrased question found nothing"
    top = page.data[0]
    assert top.file_id == file_id and top.filename == "handbook.md"
    assert "sixteen weeks" in top.content[0].text and 0 < top.score <= 1
    assert top.attributes == {"dept": "hr", "year": 2026}
    assert page.search_query == ["how many weeks off after having a baby"]


def test_chunks_follow_the_static_strategy_and_content_lists_them(client):
    words = " ".join(f"word{n}" for n in range(450))
    vs = client.vector_stores.create(name="chunks")
    strategy = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50},
    }
    entry = client.vector_stores.files.create_and_poll(
        vector_store_id=vs.id, file_id=_upload(client, "w.txt", words), chunking_strategy=strategy
    )
    assert entry.chunking_strategy.static.max_chunk_size_tokens == 200
    content = client.vector_stores.files.content(entry.id, vector_store_id=vs.id)
    texts = [part.text for part in content]
    assert len(texts) == 3  # windows of 200 words, stepping 150: 0-199, 150-349, 300-449
    assert texts[0].split()[0] == "word0" and texts[1].split()[0] == "word150"
    assert texts[2].split()[-1] == "word449"


@pytest.mark.parametrize(
    ("strategy", "param"),
    [
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}},
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            {
                "type": "static",
                "static": {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 300},
            },
            "chunking_strategy.static.chunk_overlap_tokens",
        ),
        ({"type": "other"}, "chunking_strategy"),
    ],
)
def test_bad_chunking_strategies_are_400s_naming_the_field(client, strategy, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.create(name="bad", chunking_strategy=strategy)
    assert info.value.body["param"] == param


def test_filters_and_attribute_updates(client):
    vs = client.vector_stores.create(name="policies")
    hr = _upload(client, "handbook.md", HANDBOOK)
    travel = _upload(client, "travel.md", TRAVEL)
    client.vector_stores.file_batches.create_and_poll(
        vector_store_id=vs.id,
        files=[
            {"file_id": hr, "attributes": {"dept": "hr", "year": 2025}},
            {"file_id": travel, "attributes": {"dept": "finance", "year": 2026}},
        ],
    )

    def found(**kwargs) -> set[str]:
        return {hit.file_id for hit in client.vector_stores.search(vs.id, **kwargs)}

    query = "policy rules for employees"
    assert found(query=query) == {hr, travel}
    assert found(query=query, filters={"type": "eq", "key": "dept", "value": "hr"}) == {hr}
    assert found(query=query, filters={"type": "gte", "key": "year", "value": 2026}) == {travel}
    either = {
        "type": "or",
        "filters": [
            {"type": "eq", "key": "dept", "value": "hr"},
            {"type": "in", "key": "dept", "value": ["finance"]},
        ],
    }
    assert found(query=query, filters=either) == {hr, travel}
    both = {
        "type": "and",
        "filters": [
            {"type": "eq", "key": "dept", "value": "hr"},
            {"type": "lt", "key": "year", "value": 2025},
        ],
    }
    assert found(query=query, filters=both) == set()
    assert found(query=query, filters={"type": "nin", "key": "dept", "value": ["hr"]}) == {travel}

    client.vector_stores.files.update(
        file_id=travel, vector_store_id=vs.id, attributes={"dept": "hr"}
    )
    assert found(query=query, filters={"type": "eq", "key": "dept", "value": "hr"}) == {hr, travel}
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.search(
            vs.id, query=query, filters={"type": "like", "key": "a", "value": 1}
        )
    assert info.value.body["param"] == "filters.type"


def test_score_threshold_max_results_and_query_lists(client):
    vs = client.vector_stores.create(name="many")
    ids = [
        _upload(client, f"doc{n}.txt", f"Document {n} talks about topic{n} and lunch.")
        for n in range(6)
    ]
    client.vector_stores.file_batches.create_and_poll(vector_store_id=vs.id, file_ids=ids)
    assert len(client.vector_stores.search(vs.id, query="lunch", max_num_results=3).data) == 3
    assert len(list(client.vector_stores.search(vs.id, query="lunch"))) == 6  # one page
    hits = client.vector_stores.search(vs.id, query=["topic2", "topic4"]).data
    assert {h.filename for h in hits[:2]} == {"doc2.txt", "doc4.txt"}
    strict = client.vector_stores.search(
        vs.id, query="topic3", ranking_options={"score_threshold": 0.99}
    ).data
    assert all(h.score >= 0.99 for h in strict) and len(strict) < 6
    rewritten = client.vector_stores.search(vs.id, query="What is the topic5?", rewrite_query=True)
    assert rewritten.search_query == ["topic5"] and rewritten.data[0].filename == "doc5.txt"


def test_removing_or_deleting_a_file_removes_its_chunks(client):
    vs = client.vector_stores.create(name="gone")
    hr = _upload(client, "handbook.md", HANDBOOK)
    travel = _upload(client, "travel.md", TRAVEL)
    client.vector_stores.file_batches.create_and_poll(vector_store_id=vs.id, file_ids=[hr, travel])
    assert {h.file_id for h in client.vector_stores.search(vs.id, query="cafeteria lunch")} >= {hr}

    assert client.vector_stores.files.delete(file_id=hr, vector_store_id=vs.id).deleted
    assert hr not in {
        h.file_id for h in client.vector_stores.search(vs.id, query="cafeteria lunch")
    }
    client.files.retrieve(hr)  # removing it from a store keeps the file

    client.files.delete(travel)  # deleting the file removes it from every store
    assert client.vector_stores.search(vs.id, query="hotel flights travel").data == []
    assert client.vector_stores.retrieve(vs.id).file_counts.total == 0
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(file_id=travel, vector_store_id=vs.id)


def test_unreadable_files_fail_with_last_error_and_pdf_docx_are_read(client):
    vs = client.vector_stores.create(name="formats")
    binary = _upload(client, "blob.bin", bytes(range(256)) * 10)
    image = _upload(client, "pic.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    report = _upload(
        client, "report.pdf", pdf("Quarterly revenue grew by forty percent.\nMargins held.")
    )
    memo = _upload(
        client, "memo.docx", docx(["The office moves to Lisbon in May.", "Bring boxes."])
    )
    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=vs.id, file_ids=[binary, image, report, memo]
    )
    check_spec("VectorStoreFileBatchObject", _raw(batch))
    assert batch.status == "completed"
    assert batch.file_counts.completed == 2 and batch.file_counts.failed == 2
    failed = client.vector_stores.files.list(vs.id, filter="failed").data
    assert {f.id for f in failed} == {binary, image}
    assert all(f.last_error and f.last_error.code == "unsupported_file" for f in failed)
    assert (
        client.vector_stores.search(vs.id, query="revenue growth").data[0].filename == "report.pdf"
    )
    assert (
        client.vector_stores.search(vs.id, query="office relocation Lisbon").data[0].file_id == memo
    )
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id)
    assert len(listed.data) == 4


def test_upload_and_poll_helpers_and_list_pagination(client, tmp_path):
    paths = []
    for n in range(3):
        paths.append(tmp_path / f"n{n}.md")
        paths[-1].write_text(f"Note {n}: the code word is alpha{n}.")
    stores = [client.vector_stores.create(name=f"page{n}") for n in range(3)]
    entry = client.vector_stores.files.upload_and_poll(vector_store_id=stores[0].id, file=paths[0])
    assert entry.status == "completed"
    batch = client.vector_stores.file_batches.upload_and_poll(stores[1].id, files=paths[1:])
    assert batch.file_counts.completed == 2
    newest = client.vector_stores.list(limit=2)
    assert [s.id for s in newest.data] == [stores[2].id, stores[1].id] and newest.has_more
    after = client.vector_stores.list(limit=2, after=stores[1].id)
    assert after.data[0].id == stores[0].id
    before = client.vector_stores.list(limit=1, before=stores[1].id)
    assert [s.id for s in before.data] == [stores[2].id]
    files = client.vector_stores.files.list(stores[1].id, limit=1)
    assert len(files.data) == 1 and files.has_more


def test_update_expiry_delete_and_missing_objects(client):
    vs = client.vector_stores.create(
        name="old", expires_after={"anchor": "last_active_at", "days": 1}
    )
    assert vs.expires_at == vs.last_active_at + 86400
    changed = client.vector_stores.update(
        vs.id, name="new", metadata={"k": "v"}, expires_after=None
    )
    assert changed.name == "new" and changed.metadata == {"k": "v"} and changed.expires_at is None
    assert client.vector_stores.delete(vs.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(vs.id)
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.search(vs.id, query="x")
    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.create(name="x", file_ids=["file-missing"])
    assert info.value.body["param"] == "file_ids[0]"


def test_cancelling_a_batch_cancels_files_not_yet_indexed(make_client, tmp_path):
    c = make_client(worker_stale_after=60)
    vs = c.vector_stores.create(name="cancel")
    ids = [_upload(c, f"big{n}.txt", ("lorem ipsum dolor " * 20000) + str(n)) for n in range(8)]
    batch = c.vector_stores.file_batches.create(vs.id, file_ids=ids)
    cancelled = c.vector_stores.file_batches.cancel(batch.id, vector_store_id=vs.id)
    assert cancelled.file_counts.cancelled >= 1
    final = c.vector_stores.file_batches.poll(batch.id, vector_store_id=vs.id)
    assert final.status == "cancelled" and final.file_counts.in_progress == 0
    assert final.file_counts.cancelled + final.file_counts.completed == 8
    counts = c.vector_stores.retrieve(vs.id).file_counts
    assert counts.cancelled == final.file_counts.cancelled


def test_a_file_abandoned_by_a_dead_worker_is_indexed_again(make_client, tmp_path):
    c = make_client(worker_stale_after=1)
    vs = c.vector_stores.create(name="restart")
    file_id = _upload(c, "handbook.md", HANDBOOK)
    c.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id)
    # As if a worker had claimed it again and died mid-way: in progress, no chunks, old beat.
    engine = create_engine(f"sqlite:///{tmp_path / 'data0' / 'responsd.db'}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE vector_store_files SET status='in_progress', worker_id='wrk_dead', "
                "heartbeat_at=:old WHERE file_id=:f"
            ),
            {"old": time.time() - 60, "f": file_id},
        )
        conn.execute(text("DELETE FROM chunks WHERE file_id=:f"), {"f": file_id})
    engine.dispose()
    assert (
        c.vector_stores.files.retrieve(file_id=file_id, vector_store_id=vs.id).status
        == "in_progress"
    )
    entry = c.vector_stores.files.poll(file_id, vector_store_id=vs.id, poll_interval_ms=100)
    assert entry.status == "completed"
    assert c.vector_stores.search(vs.id, query="cafeteria").data[0].file_id == file_id


def test_keyword_only_mode_without_an_embedder(make_client, database_url):
    c = make_client(embeddings="none", database_url=database_url)
    vs = c.vector_stores.create(name="keywords")
    file_id = _upload(c, "handbook.md", HANDBOOK)
    c.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id)
    hits = c.vector_stores.search(vs.id, query="When does the cafeteria open?").data
    assert hits and "8am" in hits[0].content[0].text and hits[0].score == 1.0
    assert c.vector_stores.search(vs.id, query="zebra giraffe").data == []


def test_an_embeddings_upstream_makes_the_vectors(make_client):
    """RESPONSD_EMBEDDINGS=upstream: vectors come from an OpenAI-compatible /v1/embeddings."""
    seen: list[dict] = []

    async def embeddings(request):
        body = orjson.loads(await request.body())
        seen.append(body)
        data = [
            {"object": "embedding", "index": n, "embedding": _bag(text)}
            for n, text in enumerate(body["input"])
        ]
        return HTTPResponse(
            orjson.dumps({"object": "list", "data": data}), media_type="application/json"
        )

    server = ServerThread(
        Starlette(routes=[Route("/v1/embeddings", embeddings, methods=["POST"])])
    ).start()
    try:
        c = make_client(
            embeddings="upstream", embeddings_url=f"{server.url}/v1", embeddings_model="bag"
        )
        vs = c.vector_stores.create(name="upstream")
        c.vector_stores.files.create_and_poll(
            vector_store_id=vs.id, file_id=_upload(c, "h.md", HANDBOOK)
        )
        assert seen and all(body["model"] == "bag" for body in seen)
        indexed = sum(len(body["input"]) for body in seen)
        hits = c.vector_stores.search(vs.id, query="laptop monitor").data
        assert hits and hits[0].filename == "h.md"
        assert sum(len(body["input"]) for body in seen) == indexed + 1  # the query, embedded
    finally:
        server.stop()


def _bag(text: str) -> list[float]:
    """A deterministic bag-of-words vector: each word bumps one of 64 dimensions."""
    vector = [0.0] * 64
    for word in text.lower().split():
        vector[zlib.crc32(word.encode()) % 64] += 1.0
    return vector


def test_expired_stores_and_files_are_refused(make_client, tmp_path):
    c = make_client()
    vs = c.vector_stores.create(name="old", expires_after={"anchor": "last_active_at", "days": 1})
    file_id = _upload(c, "handbook.md", HANDBOOK)
    c.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id)
    engine = create_engine(f"sqlite:///{tmp_path / 'data0' / 'responsd.db'}")
    with engine.begin() as conn:  # as if a day had passed
        conn.execute(text("UPDATE vector_stores SET expires_at = :t"), {"t": int(time.time()) - 1})
        conn.execute(text("UPDATE files SET expires_at = :t"), {"t": int(time.time()) - 1})
    engine.dispose()
    assert c.vector_stores.retrieve(vs.id).status == "expired"
    with pytest.raises(openai.BadRequestError) as info:
        c.vector_stores.search(vs.id, query="cafeteria")
    assert info.value.body["param"] == "vector_store_id" and "expired" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        c.responses.create(
            model="fake-model",
            input="?",
            tools=[{"type": "file_search", "vector_store_ids": [vs.id]}],
        )
    assert info.value.body["param"] == "tools[0].vector_store_ids[0]"
    with pytest.raises(openai.NotFoundError):
        c.files.retrieve(file_id)
    assert file_id not in [f.id for f in c.files.list()]
