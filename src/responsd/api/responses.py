"""/v1/responses: create, retrieve, delete, cancel, input items, input token counts."""

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsd.api.disconnect import cancelled_on_disconnect
from responsd.api.pages import list_page
from responsd.api.parsing import parse_body, query_int, query_order
from responsd.api.sse import EventStream, sse_frames, stored_frames
from responsd.engine.background import BackgroundRunner
from responsd.engine.compaction import compact
from responsd.engine.loop import Engine
from responsd.engine.requests import SUPPORTED_INCLUDES
from responsd.errors import InvalidRequestError, NotFoundError
from responsd.types.requests import CompactRequest, InputTokensRequest, ResponseCreateRequest

log = logging.getLogger("responsd.api")

SKIPPED_TOOLS_HEADER = "responsd-skipped-tools"
"""Names the hosted tool types that were in `tools` but withheld from the model."""


def _json(body: bytes | str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, 200, headers, media_type="application/json")


def _engine(request: Request) -> Engine:
    return request.app.state.engine


def _runner(request: Request) -> BackgroundRunner:
    return request.app.state.runner


def _not_found(response_id: str) -> NotFoundError:
    return NotFoundError(f"Response with id '{response_id}' not found.", param="response_id")


async def create_response(request: Request) -> Response | EventStream:
    engine = _engine(request)
    body = await parse_body(request, ResponseCreateRequest)
    if body.client_metadata:
        log.info("client_metadata: %s", body.client_metadata)
    prepared = await engine.prepare(body)
    headers = {}
    if prepared.skipped_tools:
        headers[SKIPPED_TOOLS_HEADER] = ", ".join(prepared.skipped_tools)
    if body.background:
        runner = _runner(request)
        await runner.submit(prepared)
        if body.stream:
            events = await runner.follow(prepared.snapshot.id, -1)
            return EventStream(stored_frames(events), headers)
        return _json(prepared.snapshot.model_dump_json(), headers)
    run = engine.run(prepared, live=bool(body.stream))
    if body.stream:
        return EventStream(sse_frames(aiter(run)), headers)
    async with cancelled_on_disconnect(request):
        async for _event in run:
            pass
    if run.failure is not None:
        raise run.failure
    assert run.final_json is not None  # set by every ending that is not a failure
    return _json(run.final_json, headers)


async def retrieve_response(request: Request) -> Response | EventStream:
    response_id = request.path_params["response_id"]
    if request.query_params.get("stream") in ("true", "1"):
        after = query_int(request, "starting_after", -1, -1, 2**31 - 1)
        events = await _runner(request).follow(response_id, after)
        return EventStream(stored_frames(events))
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
    if not await _engine(request).store.delete_response(response_id):
        raise _not_found(response_id)
    return _json(orjson.dumps({"id": response_id, "object": "response", "deleted": True}))


async def cancel_response(request: Request) -> Response:
    return _json(await _runner(request).cancel(request.path_params["response_id"]))


async def list_input_items(request: Request) -> Response:
    response_id = request.path_params["response_id"]
    limit = query_int(request, "limit", 20, 1, 100)
    order = query_order(request, "desc")
    page = await _engine(request).store.list_input_items(
        response_id,
        request.query_params.get("after"),
        limit,
        order,
    )
    if page is None:
        raise _not_found(response_id)
    return _json(list_page(*page))


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
