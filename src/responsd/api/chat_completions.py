"""/v1/chat/completions: create (served by the Responses engine), and stored completions."""

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsd.api.disconnect import cancelled_on_disconnect
from responsd.api.pages import json_response, list_object
from responsd.api.parsing import parse_body, query_int, query_order, validate
from responsd.api.sse import DONE_FRAME, EventStream
from responsd.engine.chat_input import as_response_body
from responsd.engine.chat_output import ChunkWriter, chat_completion
from responsd.engine.loop import Engine
from responsd.engine.run import ResponseRun
from responsd.errors import InvalidRequestError, NotFoundError, ResponsdError
from responsd.ids import new_chat_completion_id
from responsd.types.chat import ChatCompletionRequest, ChatCompletionUpdate
from responsd.types.requests import ResponseCreateRequest


def _engine(request: Request) -> Engine:
    return request.app.state.engine


def _not_found(completion_id: str) -> NotFoundError:
    return NotFoundError(
        f"No chat completion found with id '{completion_id}'.", param="completion_id"
    )


def _data(value: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(value) + b"\n\n"


async def create_chat_completion(request: Request) -> Response | EventStream:
    engine = _engine(request)
    chat = await parse_body(request, ChatCompletionRequest)
    translation = as_response_body(chat)
    try:
        create = validate(ResponseCreateRequest, translation.body)
        prepared = await engine.prepare(create, overrides=translation.overrides())
    except InvalidRequestError as exc:  # named as the chat request names it
        exc.param = translation.chat_param(exc.param)
        raise
    keep = bool(chat.store) and not engine.options.zero_data_retention
    completion_id = new_chat_completion_id()
    created = prepared.snapshot.created_at
    run = engine.run(prepared, live=bool(chat.stream))
    if chat.stream:
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
        tier = prepared.snapshot.service_tier  # as the final completion shows it
        writer = ChunkWriter(
            completion_id, created, chat.model, include_usage, tier, bool(chat.logprobs)
        )
        frames = _frames(engine, chat, run, writer, keep)
        return EventStream(frames)
    async with cancelled_on_disconnect(request):
        async for _event in run:
            pass
    if run.failure is not None:
        raise run.failure
    completion = chat_completion(run.snapshot, completion_id, created, bool(chat.logprobs))
    if keep:
        await _save(engine, chat, completion)
    return json_response(completion)


async def _frames(
    engine: Engine, chat: ChatCompletionRequest, run: ResponseRun, writer: ChunkWriter, keep: bool
) -> AsyncIterator[bytes]:
    yield _data(writer.first())
    async for event in run:
        for chunk in writer.chunks(event):
            yield _data(chunk)
    if run.failure is not None:
        yield _data({"error": run.failure.envelope()})
        return
    if keep and writer.final is not None:
        completion = chat_completion(
            writer.final, writer.completion_id, writer.created, writer.logprobs
        )
        try:
            await _save(engine, chat, completion)
        except ResponsdError as exc:
            yield _data({"error": exc.envelope()})
            return
    yield DONE_FRAME


async def _save(engine: Engine, chat: ChatCompletionRequest, completion: dict[str, Any]) -> None:
    request = chat.model_dump(mode="json", by_alias=True)
    stored = {
        **completion,
        "seed": chat.seed,
        "temperature": 1.0 if chat.temperature is None else chat.temperature,
        "top_p": 1.0 if chat.top_p is None else chat.top_p,
        "presence_penalty": chat.presence_penalty or 0.0,
        "frequency_penalty": chat.frequency_penalty or 0.0,
        "input_user": chat.user,
        "tools": request["tools"],
        "tool_choice": request["tool_choice"],
        "response_format": request["response_format"],
    }
    messages = [
        _stored_message(f"{completion['id']}-{i}", message)
        for i, message in enumerate(request["messages"])
    ]
    await engine.store.chat_completions.create(
        completion["id"],
        completion["created"],
        completion["model"],
        chat.metadata or {},
        orjson.dumps(stored).decode(),
        orjson.dumps(messages).decode(),
    )


def _stored_message(message_id: str, message: dict[str, Any]) -> dict[str, Any]:
    """A request message as /messages lists it: text content, with the parts kept apart."""
    fields = {k: v for k, v in message.items() if v is not None}
    content = fields.get("content")
    parts = None
    if isinstance(content, list):
        parts = content
        fields["content"] = "".join(p.get("text", "") for p in content if p["type"] == "text")
    return {"id": message_id, **fields, "name": message.get("name"), "content_parts": parts}


def _stored(body: str, metadata: dict[str, str]) -> dict[str, Any]:
    return {**orjson.loads(body), "metadata": metadata}


async def retrieve_chat_completion(request: Request) -> Response:
    completion_id = request.path_params["completion_id"]
    found = await _engine(request).store.chat_completions.get(completion_id)
    if found is None:
        raise _not_found(completion_id)
    return json_response(_stored(*found))


async def update_chat_completion(request: Request) -> Response:
    completion_id = request.path_params["completion_id"]
    body = await parse_body(request, ChatCompletionUpdate)
    store = _engine(request).store.chat_completions
    found = await store.update_metadata(completion_id, body.metadata or {})
    if found is None:
        raise _not_found(completion_id)
    return json_response(_stored(*found))


async def delete_chat_completion(request: Request) -> Response:
    completion_id = request.path_params["completion_id"]
    if not await _engine(request).store.chat_completions.delete(completion_id):
        raise _not_found(completion_id)
    return json_response(
        {"object": "chat.completion.deleted", "id": completion_id, "deleted": True}
    )


async def list_chat_completions(request: Request) -> Response:
    params = request.query_params
    metadata = {
        key[len("metadata[") : -1]: value
        for key, value in params.items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    rows, more = await _engine(request).store.chat_completions.list(
        params.get("model"),
        metadata,
        params.get("after"),
        query_int(request, "limit", 20, 1, 100),
        query_order(request, "asc"),
    )
    return json_response(list_object([_stored(*row) for row in rows], more))


async def list_messages(request: Request) -> Response:
    completion_id = request.path_params["completion_id"]
    raw = await _engine(request).store.chat_completions.messages(completion_id)
    if raw is None:
        raise _not_found(completion_id)
    messages = orjson.loads(raw)
    limit = query_int(request, "limit", 20, 1, 100)
    if query_order(request, "asc") == "desc":
        messages.reverse()
    after = request.query_params.get("after")
    ids = [m["id"] for m in messages]
    start = ids.index(after) + 1 if after in ids else 0
    page = messages[start : start + limit]
    return json_response(list_object(page, start + limit < len(messages)))


routes = [
    Route("/v1/chat/completions", create_chat_completion, methods=["POST"]),
    Route("/v1/chat/completions", list_chat_completions, methods=["GET"]),
    Route("/v1/chat/completions/{completion_id}", retrieve_chat_completion, methods=["GET"]),
    Route("/v1/chat/completions/{completion_id}", update_chat_completion, methods=["POST"]),
    Route("/v1/chat/completions/{completion_id}", delete_chat_completion, methods=["DELETE"]),
    Route("/v1/chat/completions/{completion_id}/messages", list_messages, methods=["GET"]),
]
