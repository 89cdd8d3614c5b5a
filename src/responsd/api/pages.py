"""The `{object: "list", data, first_id, last_id, has_more}` page shared by list endpoints."""

from typing import Any

import orjson
from starlette.responses import Response


def list_page(rows: list[tuple[str, str]], has_more: bool) -> bytes:
    """A page of (id, stored JSON) rows, spliced in as stored rather than re-encoded."""
    data = b"[" + b",".join(body.encode() for _, body in rows) + b"]"
    envelope = {
        "object": "list",
        "first_id": rows[0][0] if rows else None,
        "last_id": rows[-1][0] if rows else None,
        "has_more": has_more,
    }
    return orjson.dumps(envelope)[:-1] + b',"data":' + data + b"}"


def list_object(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """The same page for objects built here (files, vector stores) rather than stored JSON."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def json_response(value: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(value), media_type="application/json", headers=headers)
