"""/v1/conversations: create, retrieve, update, delete, and their items."""

import time

import orjson
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsd.api.pages import list_page
from responsd.api.parsing import parse_body, query_int, query_order
from responsd.engine.context import conversation_not_found, normalize_input
from responsd.engine.requests import SUPPORTED_INCLUDES, check_items
from responsd.errors import InvalidRequestError, NotFoundError
from responsd.ids import new_id
from responsd.store.conversations import ConversationStore
from responsd.types._base import StrictModel
from responsd.types.items import InputItem
from responsd.types.requests import Metadata

MAX_ITEMS_PER_CALL = 20


class ConversationCreateRequest(StrictModel):
    items: list[InputItem] | None = Field(default=None, max_length=MAX_ITEMS_PER_CALL)
    metadata: Metadata = None


class ConversationUpdateRequest(StrictModel):
    metadata: Metadata


class ItemsCreateRequest(StrictModel):
    items: list[InputItem] = Field(max_length=MAX_ITEMS_PER_CALL)


def _store(request: Request) -> ConversationStore:
    return request.app.state.engine.store.conversations


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _conversation(conversation_id: str, created_at: int, metadata: str) -> bytes:
    return (
        orjson.dumps({"id": conversation_id, "object": "conversation", "created_at": created_at})[
            :-1
        ]
        + b',"metadata":'
        + metadata.encode()
        + b"}"
    )


def _check_include(request: Request) -> None:
    for value in request.query_params.getlist("include") + request.query_params.getlist(
        "include[]"
    ):
        if value not in SUPPORTED_INCLUDES:
            raise InvalidRequestError(f"include value '{value}' is not supported.", param="include")


def _items(items: list) -> list[tuple[str, str]]:
    check_items(items, "items")
    return [(item.id or "", item.model_dump_json()) for item in normalize_input(items)]


async def create_conversation(request: Request) -> Response:
    body = await parse_body(request, ConversationCreateRequest)
    conversation_id, created_at = new_id("conv"), int(time.time())
    metadata = orjson.dumps(body.metadata or {}).decode()
    await _store(request).create(conversation_id, created_at, metadata, _items(body.items or []))
    return _json(_conversation(conversation_id, created_at, metadata))


async def retrieve_conversation(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    found = await _store(request).get(conversation_id)
    if found is None:
        raise conversation_not_found(conversation_id)
    return _json(_conversation(conversation_id, *found))


async def update_conversation(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    body = await parse_body(request, ConversationUpdateRequest)
    found = await _store(request).update_metadata(
        conversation_id, orjson.dumps(body.metadata or {}).decode()
    )
    if found is None:
        raise conversation_not_found(conversation_id)
    return _json(_conversation(conversation_id, *found))


async def delete_conversation(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    if not await _store(request).delete(conversation_id):
        raise conversation_not_found(conversation_id)
    body = {"id": conversation_id, "object": "conversation.deleted", "deleted": True}
    return _json(orjson.dumps(body))


async def create_items(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    _check_include(request)
    body = await parse_body(request, ItemsCreateRequest)
    items = _items(body.items)
    if not await _store(request).append(conversation_id, items):
        raise conversation_not_found(conversation_id)
    return _json(list_page(items, False))


async def list_items(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    _check_include(request)
    page = await _store(request).list_items(
        conversation_id,
        request.query_params.get("after"),
        query_int(request, "limit", 20, 1, 100),
        query_order(request, "desc"),
    )
    if page is None:
        raise conversation_not_found(conversation_id)
    return _json(list_page(*page))


async def retrieve_item(request: Request) -> Response:
    conversation_id, item_id = (
        request.path_params["conversation_id"],
        request.path_params["item_id"],
    )
    _check_include(request)
    store = _store(request)
    if await store.get(conversation_id) is None:
        raise conversation_not_found(conversation_id)
    body = await store.get_item(conversation_id, item_id)
    if body is None:
        raise NotFoundError(f"Item with id '{item_id}' not found.", param="item_id")
    return _json(body.encode())


async def delete_item(request: Request) -> Response:
    conversation_id, item_id = (
        request.path_params["conversation_id"],
        request.path_params["item_id"],
    )
    store = _store(request)
    found = await store.get(conversation_id)
    if found is None:
        raise conversation_not_found(conversation_id)
    if not await store.delete_item(conversation_id, item_id):
        raise NotFoundError(f"Item with id '{item_id}' not found.", param="item_id")
    return _json(_conversation(conversation_id, *found))


_ONE = "/v1/conversations/{conversation_id}"
routes = [
    Route("/v1/conversations", create_conversation, methods=["POST"]),
    Route(_ONE, retrieve_conversation, methods=["GET"]),
    Route(_ONE, update_conversation, methods=["POST"]),
    Route(_ONE, delete_conversation, methods=["DELETE"]),
    Route(_ONE + "/items", create_items, methods=["POST"]),
    Route(_ONE + "/items", list_items, methods=["GET"]),
    Route(_ONE + "/items/{item_id}", retrieve_item, methods=["GET"]),
    Route(_ONE + "/items/{item_id}", delete_item, methods=["DELETE"]),
]
