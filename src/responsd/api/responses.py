"""/v1/responses: create, retrieve, delete, cancel, input items, input token counts."""

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from responsd.api.parsing import parse_body, query_choice, query_int
from responsd.api.sse import sse_frames
from responsd.engine.compaction import compact
from responsd.engine.loop import Engine
from responsd.engine.requests import SUPPORTED_INCLUDES
from responsd.errors import InvalidRequestError, NotFoundError, UnsupportedParameterError
from responsd.types.requests import CompactRequest, InputTokensRequest, ResponseCreateRequest

log = logging.getLogger("responsd.api")

SKIPPED_TOOLS_HEADER = "responsd-skipped-tools"
"""Names the hosted tool types that were in `tools` but withheld from the model."""


def _json(body: bytes | str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, 200, headers, media_type="application/json")


def _engine(request: Request) -> Engine:
    return request.app.state.engine


def _not_found(response_id: str) -> NotFoundError:
    return NotFoundError(f"Response with id '{response_id}' not found.", param="response_id")


async def create_response(request: Request) -> Response:
    engine = _engine(request)
    body = await parse_body(request, ResponseCreateRequest)
    if body.client_metadata:
        log.info("client_metadata: %s", body.client_metadata)
    prepared = await engine.prepare(body)
    headers = {}
    if prepared.skipped_tools:
        headers[SKIPPED_TOOLS_HEADER] = ", ".join(prepared.skipped_tools)
    if body.stream:
        headers["Cache-Control"] = "no-cache"
        return StreamingResponse(
            sse_frames(engine.run(prepared)), media_type="text/event-stream", headers=headers
        )
    async for _event in engine.run(prepared):
        pass
    if prepared.failure is not None:
        raise prepared.failure
    return _json(prepared.final_json, headers)


async def retrieve_response(request: Request) -> Response:
    response_id = request.path_params["response_id"]
    if request.query_params.get("stream") in ("true", "1"):
        raise UnsupportedParameterError(
            "Streaming a stored response needs background responses, which are not supported yet.",
            param="stream",
        )
    for value in request.query_params.getlist("include[]") + request.query_params.getlist(
        "include"
    ):
        if value not in SUPPORTED_INCLUDES:
            raise InvalidRequestError(f"include value '{value}' is not supported.", param="include")
    body = await _engine(request).store.get_response(response_id)
    if body is None:
        raise _not_found(response_id)
    return _json(body)


async def delete_response(request: Request) -> Response:
    response_id = request.path_params["response_id"]
    if not await _engine(request).delete_response(response_id):
        raise _not_found(response_id)
    return _json(orjson.dumps({"id": response_id, "object": "response", "deleted": True}))


async def cancel_response(request: Request) -> Response:
    response_id = request.path_params["response_id"]
    if await _engine(request).store.get_response(response_id) is None:
        raise _not_found(response_id)
    raise InvalidRequestError(
        "Only background responses can be cancelled, and this one was not created with "
        "background=true.",
        param="response_id",
    )


async def list_input_items(request: Request) -> Response:
    response_id = request.path_params["response_id"]
    limit = query_int(request, "limit", 20, 1, 100)
    order = query_choice(request, "order", "desc", ("asc", "desc"))
    page = await _engine(request).store.list_input_items(
        response_id,
        request.query_params.get("after"),
        limit,
        order,  # type: ignore[arg-type]
    )
    if page is None:
        raise _not_found(response_id)
    rows, has_more = page
    # Items are stored as JSON text: splice them in rather than decode and re-encode.
    data = b"[" + b",".join(body.encode() for _, body in rows) + b"]"
    envelope = {
        "object": "list",
        "first_id": rows[0][0] if rows else None,
        "last_id": rows[-1][0] if rows else None,
        "has_more": has_more,
    }
    return _json(orjson.dumps(envelope)[:-1] + b',"data":' + data + b"}")


async def count_input_tokens(request: Request) -> Response:
    body = await parse_body(request, InputTokensRequest)
    count = await _engine(request).count_input_tokens(body)
    return _json(orjson.dumps({"object": "response.input_tokens", "input_tokens": count}))


async def compact_response(request: Request) -> Response:
    body = await parse_body(request, CompactRequest)
    return _json(orjson.dumps(await compact(_engine(request), body)))


routes = [
    Route("/v1/responses/compact", compact_response, methods=["POST"]),
    Route("/v1/responses", create_response, methods=["POST"]),
    Route("/v1/responses/input_tokens", count_input_tokens, methods=["POST"]),
    Route("/v1/responses/{response_id}", retrieve_response, methods=["GET"]),
    Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{response_id}/cancel", cancel_response, methods=["POST"]),
    Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
]
