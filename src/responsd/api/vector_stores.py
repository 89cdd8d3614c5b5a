"""/v1/vector_stores: stores, their files and file batches, and search.

Adding files only queues them (`in_progress`); the Library's indexing worker picks them up,
so these calls answer at once. A store's `status` is `in_progress` while any of its files is.
"""

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsd.api.pages import json_response, list_object
from responsd.api.parsing import parse_body, query_int, query_order
from responsd.engine.library import Library
from responsd.errors import InvalidRequestError, NotFoundError
from responsd.ids import new_id
from responsd.retrieval.chunking import resolve_strategy
from responsd.retrieval.filters import check_filter
from responsd.retrieval.search import Ranking, rewrite
from responsd.store.vector_stores import VectorStoreStore
from responsd.types.vector_stores import (
    Attributes,
    BatchCreateRequest,
    FileCreateRequest,
    FileUpdateRequest,
    SearchRankingOptions,
    SearchRequest,
    VectorStoreCreateRequest,
    VectorStoreUpdateRequest,
)


def _library(request: Request) -> Library:
    return request.app.state.library


def _stores(request: Request) -> VectorStoreStore:
    return _library(request).store.vector_stores


POLL_AFTER_MS = "100"
"""Told to pollers (`openai-poll-after-ms`, read by the SDK's *_and_poll helpers) while
indexing runs: a small file is indexed in milliseconds, the SDK's own default is 1 s."""


def _json(value: Any) -> Response:
    polling = value.get("status") == "in_progress"
    return json_response(value, {"openai-poll-after-ms": POLL_AFTER_MS} if polling else None)


def check_attributes(value: Attributes, param: str) -> str:
    """Attributes as stored (JSON); 400 past the hosted API's limits."""
    value = value or {}
    if len(value) > 16:
        raise InvalidRequestError("attributes may hold at most 16 keys.", param=param)
    for key, item in value.items():
        if len(key) > 64:
            raise InvalidRequestError(
                f"The attribute key '{key[:64]}…' is over 64 characters.", param=param
            )
        if isinstance(item, str) and len(item) > 512:
            raise InvalidRequestError(
                f"The value of attribute '{key}' is over 512 characters.", param=param
            )
    return orjson.dumps(value).decode()


async def _stored(request: Request, store_id: str) -> dict[str, Any]:
    """A store just written by this request (it exists: only a delete races it)."""
    row = await _stores(request).get(store_id)
    if row is None:
        raise NotFoundError(f"No vector store found with id '{store_id}'.", param="vector_store_id")
    return row


def store_object(row: dict[str, Any], now: int) -> dict[str, Any]:
    counts = row["file_counts"]
    if row["expires_at"] is not None and row["expires_at"] <= now:
        status = "expired"
    else:
        status = "in_progress" if counts["in_progress"] else "completed"
    body = {
        "id": row["id"],
        "object": "vector_store",
        "created_at": row["created_at"],
        "name": row["name"] or "",
        "usage_bytes": row["usage_bytes"],
        "file_counts": counts,
        "status": status,
        "expires_at": row["expires_at"],
        "last_active_at": row["last_active_at"],
        "metadata": orjson.loads(row["metadata"]),
    }
    # Left out when unset: the spec's expires_after is an object, not nullable.
    if row["expires_after"]:
        body["expires_after"] = orjson.loads(row["expires_after"])
    if row["description"] is not None:
        body["description"] = row["description"]
    return body


def file_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["file_id"],
        "object": "vector_store.file",
        "created_at": row["created_at"],
        "vector_store_id": row["vector_store_id"],
        "status": row["status"],
        "last_error": orjson.loads(row["last_error"]) if row["last_error"] else None,
        "usage_bytes": row["usage_bytes"],
        "attributes": orjson.loads(row["attributes"]),
        "chunking_strategy": orjson.loads(row["chunking_strategy"]),
    }


def batch_object(row: dict[str, Any]) -> dict[str, Any]:
    counts = row["file_counts"]
    if row["cancelled"]:
        status = "cancelled" if not counts["in_progress"] else "in_progress"
    elif counts["in_progress"]:
        status = "in_progress"
    else:
        status = (
            "failed" if counts["failed"] and counts["failed"] == counts["total"] else "completed"
        )
    return {
        "id": row["id"],
        "object": "vector_store.files_batch",
        "created_at": row["created_at"],
        "vector_store_id": row["vector_store_id"],
        "status": status,
        "file_counts": counts,
    }


async def _known_files(request: Request, file_ids: list[str], param: str) -> None:
    found = await _library(request).store.files.get_many(file_ids)
    now = int(time.time())
    for i, file_id in enumerate(file_ids):
        row = found.get(file_id)
        if row is None or (row["expires_at"] is not None and row["expires_at"] <= now):
            raise NotFoundError(f"No such File object: {file_id}", param=f"{param}[{i}]")


def _file_row(
    store_id: str, file_id: str, attributes: str, strategy: dict, batch_id: str | None = None
) -> dict[str, Any]:
    return {
        "vector_store_id": store_id,
        "file_id": file_id,
        "created_at": int(time.time()),
        "created_ns": time.time_ns(),
        "status": "in_progress",
        "last_error": None,
        "attributes": attributes,
        "chunking_strategy": orjson.dumps(strategy).decode(),
        "usage_bytes": 0,
        "batch_id": batch_id,
    }


async def _found_store(request: Request) -> dict[str, Any]:
    store_id = request.path_params["vector_store_id"]
    row = await _stores(request).get(store_id)
    if row is None:
        raise NotFoundError(f"No vector store found with id '{store_id}'.", param="vector_store_id")
    return row


# -- vector stores ---------------------------------------------------------------------------


async def create_store(request: Request) -> Response:
    body = await parse_body(request, VectorStoreCreateRequest)
    strategy = resolve_strategy(body.chunking_strategy, "chunking_strategy")
    file_ids = list(dict.fromkeys(body.file_ids or []))
    await _known_files(request, file_ids, "file_ids")
    now = int(time.time())
    store_id = new_id("vs")
    expiry = body.expires_after
    row = {
        "id": store_id,
        "created_at": now,
        "created_ns": time.time_ns(),
        "name": body.name,
        "description": body.description,
        "metadata": orjson.dumps(body.metadata or {}).decode(),
        "expires_after": expiry.model_dump_json() if expiry else None,
        "expires_at": now + expiry.days * 86400 if expiry else None,
        "last_active_at": now,
        "embedder": _library(request).embedder_name,
    }
    files = [_file_row(store_id, f, "{}", strategy) for f in file_ids]
    await _stores(request).create(row, files)
    _library(request).wake()
    return _json(store_object(await _stored(request, store_id), now))


async def list_stores(request: Request) -> Response:
    limit = query_int(request, "limit", 20, 1, 100)
    order = query_order(request, "desc")
    params = request.query_params
    rows, more = await _stores(request).list_page(
        params.get("after"), limit, order, params.get("before")
    )
    now = int(time.time())
    return _json(list_object([store_object(r, now) for r in rows], more))


async def retrieve_store(request: Request) -> Response:
    return _json(store_object(await _found_store(request), int(time.time())))


async def update_store(request: Request) -> Response:
    row = await _found_store(request)
    body = await parse_body(request, VectorStoreUpdateRequest)
    values: dict[str, Any] = {}
    given = body.model_fields_set
    if "name" in given:
        values["name"] = body.name
    if "metadata" in given:
        values["metadata"] = orjson.dumps(body.metadata or {}).decode()
    if "expires_after" in given:
        expiry = body.expires_after
        values["expires_after"] = expiry.model_dump_json() if expiry else None
        values["expires_at"] = row["last_active_at"] + expiry.days * 86400 if expiry else None
    if values:
        await _stores(request).update(row["id"], values)
    return _json(store_object(await _stored(request, row["id"]), int(time.time())))


async def delete_store(request: Request) -> Response:
    store_id = request.path_params["vector_store_id"]
    if not await _stores(request).delete(store_id):
        raise NotFoundError(f"No vector store found with id '{store_id}'.", param="vector_store_id")
    return _json({"id": store_id, "object": "vector_store.deleted", "deleted": True})


async def search_store(request: Request) -> Response:
    store_id = request.path_params["vector_store_id"]
    body = await parse_body(request, SearchRequest)
    queries = [body.query] if isinstance(body.query, str) else body.query
    if not queries or not all(q.strip() for q in queries):
        raise InvalidRequestError(
            "query must be a non-empty string or list of them.", param="query"
        )
    if body.filters is not None:
        check_filter(body.filters, "filters")
    if body.rewrite_query:
        queries = [rewrite(q) for q in queries]
    options = body.ranking_options or SearchRankingOptions()
    ranking = Ranking(options.score_threshold)
    hits = await _library(request).search(
        [store_id], queries, body.max_num_results, body.filters, ranking, ["vector_store_id"]
    )
    data = [
        {
            "file_id": hit.file_id,
            "filename": hit.filename,
            "score": hit.score,
            "attributes": hit.attributes,
            "content": [{"type": "text", "text": hit.text}],
        }
        for hit in hits
    ]
    page = {
        "object": "vector_store.search_results.page",
        "search_query": queries,
        "data": data,
        "has_more": False,
        "next_page": None,
    }
    return _json(page)


# -- files of a store ------------------------------------------------------------------------


async def add_file(request: Request) -> Response:
    row = await _found_store(request)
    body = await parse_body(request, FileCreateRequest)
    await _known_files(request, [body.file_id], "file_id")
    strategy = resolve_strategy(body.chunking_strategy, "chunking_strategy")
    attributes = check_attributes(body.attributes, "attributes")
    entry = _file_row(row["id"], body.file_id, attributes, strategy)
    await _stores(request).add_files(row["id"], [entry])
    _library(request).wake()
    return _json(file_entry(entry))


async def list_store_files(request: Request, batch_id: str | None = None) -> Response:
    store = await _found_store(request)
    limit = query_int(request, "limit", 20, 1, 100)
    order = query_order(request, "desc")
    status = request.query_params.get("filter")
    if status is not None and status not in ("in_progress", "completed", "failed", "cancelled"):
        raise InvalidRequestError(
            "filter must be one of in_progress, completed, failed, cancelled.", param="filter"
        )
    params = request.query_params
    rows, more = await _stores(request).list_files(
        store["id"], status, params.get("after"), limit, order, batch_id, params.get("before")
    )
    return _json(list_object([file_entry(r) for r in rows], more))


async def _found_entry(request: Request) -> dict[str, Any]:
    store_id = request.path_params["vector_store_id"]
    file_id = request.path_params["file_id"]
    row = await _stores(request).get_file(store_id, file_id)
    if row is None:
        raise NotFoundError(
            f"No file found with id '{file_id}' in vector store '{store_id}'.", param="file_id"
        )
    return row


async def retrieve_store_file(request: Request) -> Response:
    return _json(file_entry(await _found_entry(request)))


async def update_store_file(request: Request) -> Response:
    row = await _found_entry(request)
    body = await parse_body(request, FileUpdateRequest)
    attributes = check_attributes(body.attributes, "attributes")
    await _stores(request).update_file(row["vector_store_id"], row["file_id"], attributes)
    return _json(file_entry({**row, "attributes": attributes}))


async def remove_store_file(request: Request) -> Response:
    row = await _found_entry(request)
    await _stores(request).remove_file(row["vector_store_id"], row["file_id"])
    return _json({"id": row["file_id"], "object": "vector_store.file.deleted", "deleted": True})


async def store_file_content(request: Request) -> Response:
    row = await _found_entry(request)
    texts = await _library(request).store.chunks.file_chunks(row["vector_store_id"], row["file_id"])
    data = [{"type": "text", "text": text} for text in texts]
    return _json(
        {
            "object": "vector_store.file_content.page",
            "data": data,
            "has_more": False,
            "next_page": None,
        }
    )


# -- file batches ----------------------------------------------------------------------------


async def create_batch(request: Request) -> Response:
    store = await _found_store(request)
    body = await parse_body(request, BatchCreateRequest)
    if (body.file_ids is None) == (body.files is None):
        raise InvalidRequestError("Give either file_ids or files, not both.", param="file_ids")
    default_strategy = resolve_strategy(body.chunking_strategy, "chunking_strategy")
    default_attributes = check_attributes(body.attributes, "attributes")
    batch_id = new_id("vsfb")
    entries = []
    if body.file_ids is not None:
        ids = list(dict.fromkeys(body.file_ids))
        await _known_files(request, ids, "file_ids")
        entries = [
            _file_row(store["id"], f, default_attributes, default_strategy, batch_id) for f in ids
        ]
    else:
        files = body.files or []  # the request model requires one of the two
        await _known_files(request, [f.file_id for f in files], "files")
        for i, f in enumerate(files):
            strategy = (
                resolve_strategy(f.chunking_strategy, f"files[{i}].chunking_strategy")
                if f.chunking_strategy is not None
                else default_strategy
            )
            attributes = (
                check_attributes(f.attributes, f"files[{i}].attributes")
                if f.attributes is not None
                else default_attributes
            )
            entries.append(_file_row(store["id"], f.file_id, attributes, strategy, batch_id))
    if not entries:
        raise InvalidRequestError("A file batch needs at least one file.", param="file_ids")
    batch = {
        "id": batch_id,
        "vector_store_id": store["id"],
        "created_at": int(time.time()),
        "cancelled": False,
    }
    await _stores(request).add_files(store["id"], entries, batch)
    _library(request).wake()
    batch_row = await _stores(request).get_batch(store["id"], batch_id)
    assert batch_row is not None  # just created
    return _json(batch_object(batch_row))


async def _found_batch(request: Request) -> dict[str, Any]:
    store_id = request.path_params["vector_store_id"]
    batch_id = request.path_params["batch_id"]
    row = await _stores(request).get_batch(store_id, batch_id)
    if row is None:
        raise NotFoundError(f"No file batch found with id '{batch_id}'.", param="batch_id")
    return row


async def retrieve_batch(request: Request) -> Response:
    return _json(batch_object(await _found_batch(request)))


async def cancel_batch(request: Request) -> Response:
    row = await _found_batch(request)
    await _stores(request).cancel_batch(row["vector_store_id"], row["id"])
    return _json(batch_object(await _found_batch(request)))


async def list_batch_files(request: Request) -> Response:
    row = await _found_batch(request)
    return await list_store_files(request, row["id"])


_STORE = "/v1/vector_stores/{vector_store_id}"
routes = [
    Route("/v1/vector_stores", create_store, methods=["POST"]),
    Route("/v1/vector_stores", list_stores, methods=["GET"]),
    Route(_STORE, retrieve_store, methods=["GET"]),
    Route(_STORE, update_store, methods=["POST"]),
    Route(_STORE, delete_store, methods=["DELETE"]),
    Route(f"{_STORE}/search", search_store, methods=["POST"]),
    Route(f"{_STORE}/files", add_file, methods=["POST"]),
    Route(f"{_STORE}/files", list_store_files, methods=["GET"]),
    Route(f"{_STORE}/files/{{file_id}}", retrieve_store_file, methods=["GET"]),
    Route(f"{_STORE}/files/{{file_id}}", update_store_file, methods=["POST"]),
    Route(f"{_STORE}/files/{{file_id}}", remove_store_file, methods=["DELETE"]),
    Route(f"{_STORE}/files/{{file_id}}/content", store_file_content, methods=["GET"]),
    Route(f"{_STORE}/file_batches", create_batch, methods=["POST"]),
    Route(f"{_STORE}/file_batches/{{batch_id}}", retrieve_batch, methods=["GET"]),
    Route(f"{_STORE}/file_batches/{{batch_id}}/cancel", cancel_batch, methods=["POST"]),
    Route(f"{_STORE}/file_batches/{{batch_id}}/files", list_batch_files, methods=["GET"]),
]
