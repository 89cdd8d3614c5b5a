"""The `{object: "list", data, first_id, last_id, has_more}` page shared by list endpoints."""

import orjson


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
