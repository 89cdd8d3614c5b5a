"""/v1/files and /v1/uploads: upload, list, retrieve, download and delete files.

Bytes go to disk as they arrive (Starlette spools a multipart file past 1 MB to a temporary
file; it is then moved under the data dir), never held whole in memory. The Uploads API
(`client.files.upload`/`uploads.upload_file_chunked`) adds parts one by one and joins them
on `complete`.
"""

import asyncio
import shutil
import time
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from responsd.api.pages import json_response, list_object
from responsd.api.parsing import parse_body, query_int, query_order
from responsd.errors import InvalidRequestError, NotFoundError, RequestTooLargeError
from responsd.ids import new_id
from responsd.store.files import FileStore
from responsd.types.files import UploadCompleteRequest, UploadCreateRequest

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
UPLOAD_LIFETIME = 3600
"""Seconds an upload stays open for parts (the hosted API's hour)."""


def _files(request: Request) -> FileStore:
    return request.app.state.engine.store.files


def file_object(row: dict[str, Any]) -> dict[str, Any]:
    body = {
        "id": row["id"],
        "object": "file",
        "bytes": row["bytes"],
        "created_at": row["created_at"],
        "filename": row["filename"],
        "purpose": row["purpose"],
        "status": "processed",  # files are stored whole before this answer: never "uploaded"
    }
    if row["expires_at"] is not None:  # the spec's expires_at is an integer, not nullable
        body["expires_at"] = row["expires_at"]
    return body


def new_file_id() -> str:
    return new_id("file").replace("file_", "file-", 1)  # the hosted API's form: file-…


def _purpose(value: Any, param: str = "purpose") -> str:
    if value not in PURPOSES:
        raise InvalidRequestError(
            f"Invalid purpose {value!r}; use one of {', '.join(PURPOSES)}.", param=param
        )
    return value


def _expiry(anchor: Any, seconds: Any, created_at: int) -> int | None:
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise InvalidRequestError(
            "expires_after.anchor must be 'created_at'.", param="expires_after.anchor"
        )
    try:
        value = int(seconds)
    except (TypeError, ValueError):
        value = -1
    if not 3600 <= value <= 2_592_000:
        raise InvalidRequestError(
            "expires_after.seconds must be from 3600 (1 hour) to 2592000 (30 days).",
            param="expires_after.seconds",
        )
    return created_at + value


def _expires_after(form: Any) -> tuple[Any, Any]:
    """(anchor, seconds) as the SDK sends them (`expires_after[anchor]` fields) or as one
    JSON-encoded `expires_after` field."""
    if (raw := form.get("expires_after")) is not None:
        try:
            value = orjson.loads(raw if isinstance(raw, str) else b"")
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise InvalidRequestError(
                "expires_after must be {anchor, seconds}.", param="expires_after"
            )
        return value.get("anchor"), value.get("seconds")
    return form.get("expires_after[anchor]"), form.get("expires_after[seconds]")


async def _form(request: Request) -> Any:
    try:
        return await request.form(max_files=1, max_fields=20)
    except MultiPartException as exc:
        raise InvalidRequestError(f"The multipart body could not be read: {exc}") from exc


async def _save(upload: Any, target: Any, limit: int, param: str) -> int:
    """Copy an uploaded form file to `target` on a worker thread; its size in bytes."""
    if not isinstance(upload, UploadFile):
        raise InvalidRequestError(
            f"Send the file's bytes as the multipart field '{param}'.", param=param
        )

    def copy() -> int:
        upload.file.seek(0)
        with target.open("wb") as out:
            shutil.copyfileobj(upload.file, out, 1 << 20)
        return target.stat().st_size

    size = await asyncio.to_thread(copy)
    if size > limit:
        target.unlink(missing_ok=True)
        raise RequestTooLargeError(f"The file is larger than this server accepts ({limit} bytes).")
    return size


async def create_file(request: Request) -> Response:
    form = await _form(request)
    try:
        created_at = int(time.time())
        purpose = _purpose(form.get("purpose"))
        expires_at = _expiry(*_expires_after(form), created_at)
        upload = form.get("file")
        file_id = new_file_id()
        store = _files(request)
        incoming = store.blobs.incoming(file_id)
        size = await _save(upload, incoming, request.app.state.max_file_bytes, "file")
        store.blobs.commit(incoming, store.blobs.path(file_id))
        row = {
            "id": file_id,
            "created_at": created_at,
            "created_ns": time.time_ns(),
            "bytes": size,
            "filename": upload.filename or "upload",
            "purpose": purpose,
            "expires_at": expires_at,
        }
        await store.create(row)
    finally:
        await form.close()
    return json_response(file_object(row))


async def list_files(request: Request) -> Response:
    purpose = request.query_params.get("purpose")
    limit = query_int(request, "limit", 10_000, 1, 10_000)
    order = query_order(request, "desc")
    rows, more = await _files(request).list_page(
        purpose, request.query_params.get("after"), limit, order, int(time.time())
    )
    return json_response(list_object([file_object(r) for r in rows], more))


async def found_file(request: Request) -> dict[str, Any]:
    file_id = request.path_params["file_id"]
    row = await _files(request).get(file_id, int(time.time()))
    if row is None:
        raise NotFoundError(f"No such File object: {file_id}", param="id")
    return row


async def retrieve_file(request: Request) -> Response:
    return json_response(file_object(await found_file(request)))


async def file_content(request: Request) -> Response:
    row = await found_file(request)
    path = _files(request).blobs.path(row["id"])
    return FileResponse(path, media_type="application/octet-stream", filename=row["filename"])


async def delete_file(request: Request) -> Response:
    file_id = request.path_params["file_id"]
    if not await _files(request).delete(file_id):
        raise NotFoundError(f"No such File object: {file_id}", param="id")
    return json_response({"id": file_id, "object": "file", "deleted": True})


# -- uploads ---------------------------------------------------------------------------------


def upload_object(row: dict[str, Any], file: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "upload",
        "bytes": row["bytes"],
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
        "filename": row["filename"],
        "purpose": row["purpose"],
        "status": row["status"],
        "file": file_object(file) if file else None,
    }


async def create_upload(request: Request) -> Response:
    body = await parse_body(request, UploadCreateRequest)
    _purpose(body.purpose)
    if body.bytes > request.app.state.max_file_bytes:
        raise InvalidRequestError(
            f"bytes is larger than this server accepts ({request.app.state.max_file_bytes}).",
            param="bytes",
        )
    created_at = int(time.time())
    row = {
        "id": new_id("upload"),
        "created_at": created_at,
        "expires_at": created_at + UPLOAD_LIFETIME,
        "filename": body.filename,
        "purpose": body.purpose,
        "bytes": body.bytes,
        "mime_type": body.mime_type,
        "status": "pending",
        "file_id": None,
        "file_expires_after": None,
    }
    if body.expires_after is not None:  # applies to the file the upload creates
        expires = _expiry(body.expires_after.anchor, body.expires_after.seconds, created_at)
        row["file_expires_after"] = None if expires is None else expires - created_at
    await _files(request).create_upload(row)
    return json_response(upload_object(row))


async def _pending_upload(request: Request) -> dict[str, Any]:
    upload_id = request.path_params["upload_id"]
    row = await _files(request).get_upload(upload_id)
    if row is None:
        raise NotFoundError(f"No such Upload object: {upload_id}", param="upload_id")
    if row["status"] == "pending" and row["expires_at"] <= time.time():
        row["status"] = "expired"
    if row["status"] != "pending":
        raise InvalidRequestError(
            f"Upload {upload_id} is {row['status']}, not pending.", param="upload_id"
        )
    return row


async def add_part(request: Request) -> Response:
    upload = await _pending_upload(request)
    form = await _form(request)
    store = _files(request)
    part_id = new_id("part")
    try:
        incoming = store.blobs.incoming(part_id)
        size = await _save(form.get("data"), incoming, upload["bytes"], "data")
        store.blobs.commit(incoming, store.blobs.part_path(part_id))
    finally:
        await form.close()
    created_at = int(time.time())
    await store.add_part(
        {"id": part_id, "upload_id": upload["id"], "created_at": created_at, "bytes": size}
    )
    return json_response(
        {
            "id": part_id,
            "object": "upload.part",
            "created_at": created_at,
            "upload_id": upload["id"],
        }
    )


async def complete_upload(request: Request) -> Response:
    upload = await _pending_upload(request)
    body = await parse_body(request, UploadCompleteRequest)
    store = _files(request)
    sizes = await store.part_sizes(upload["id"])
    for i, part_id in enumerate(body.part_ids):
        if part_id not in sizes:
            raise InvalidRequestError(f"No part {part_id} in this upload.", param=f"part_ids[{i}]")
    total = sum(sizes[p] for p in body.part_ids)
    if total != upload["bytes"]:
        raise InvalidRequestError(
            f"The parts hold {total} bytes, but the upload was created for {upload['bytes']}.",
            param="part_ids",
        )
    file_id = new_file_id()
    joined, md5 = await asyncio.to_thread(store.blobs.join_parts, body.part_ids, file_id)
    if body.md5 is not None and body.md5.lower() != md5:
        store.blobs.remove(joined)
        raise InvalidRequestError(
            f"The parts' MD5 is {md5}, not the md5 given; nothing was created.", param="md5"
        )
    store.blobs.commit(joined, store.blobs.path(file_id))
    now = int(time.time())
    lifetime = upload["file_expires_after"]
    file_row = {
        "id": file_id,
        "created_at": now,
        "created_ns": time.time_ns(),
        "bytes": total,
        "filename": upload["filename"],
        "purpose": upload["purpose"],
        "expires_at": now + lifetime if lifetime else None,
    }
    if not await store.finish_upload(upload["id"], "completed", file_row):
        store.blobs.remove(store.blobs.path(file_id))
        raise InvalidRequestError(f"Upload {upload['id']} is no longer pending.", param="upload_id")
    await store.drop_parts(upload["id"])
    return json_response(upload_object({**upload, "status": "completed"}, file_row))


async def cancel_upload(request: Request) -> Response:
    upload = await _pending_upload(request)
    store = _files(request)
    if not await store.finish_upload(upload["id"], "cancelled", None):
        raise InvalidRequestError(f"Upload {upload['id']} is no longer pending.", param="upload_id")
    await store.drop_parts(upload["id"])
    return json_response(upload_object({**upload, "status": "cancelled"}))


routes = [
    Route("/v1/files", create_file, methods=["POST"]),
    Route("/v1/files", list_files, methods=["GET"]),
    Route("/v1/files/{file_id}", retrieve_file, methods=["GET"]),
    Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
    Route("/v1/uploads", create_upload, methods=["POST"]),
    Route("/v1/uploads/{upload_id}/parts", add_part, methods=["POST"]),
    Route("/v1/uploads/{upload_id}/complete", complete_upload, methods=["POST"]),
    Route("/v1/uploads/{upload_id}/cancel", cancel_upload, methods=["POST"]),
]
"""Upload bodies may be as large as a file (`max_file_bytes`): see RequestLimitMiddleware."""
