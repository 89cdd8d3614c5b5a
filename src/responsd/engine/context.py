"""What the model sees: the stored chain of `previous_response_id`, then this request's input."""

from collections import OrderedDict
from typing import Protocol

from pydantic import TypeAdapter

from responsd.errors import InvalidRequestError, NotFoundError, PreviousResponseNotFound
from responsd.ids import new_item_id
from responsd.sealing import KeyRing
from responsd.types.content import InputText, OutputText, ReasoningText
from responsd.types.items import Compaction, InputItem, Item, ItemReference, Message, Reasoning

COMPACTION_PREFIX = "Summary of the conversation so far:\n"

_ITEMS = TypeAdapter(list[InputItem])


class ContextStore(Protocol):
    async def load_context(self, response_id: str) -> list[str] | None: ...

    async def find_items(self, item_ids: list[str]) -> dict[str, str]: ...


def normalize_input(value: str | list[Item]) -> list[Item]:
    """Give every input item a type, an id and content parts, as input_items lists them."""
    if isinstance(value, str):
        value = [Message(role="user", content=value)]
    for item in value:
        if isinstance(item, Message):
            if isinstance(item.content, str):
                part = OutputText if item.role == "assistant" else InputText
                item.content = [part(text=item.content)]
            if item.status is None:
                item.status = "completed"
        if item.id is None:
            item.id = new_item_id(item.type)
    return value


def parse_items(bodies: list[str]) -> list[Item]:
    # One validation call for the whole history: far cheaper than one per item.
    return _ITEMS.validate_json("[" + ",".join(bodies) + "]")


class ContextCache:
    """The parsed context of recently stored responses, so the next turn skips SQL and parsing.

    Bounded by the number of item references it holds (items are shared between the chains
    that contain them). Entries are never mutated; any delete clears the cache, because it
    can cut a chain that cached entries still contain."""

    def __init__(self, max_items: int = 200_000):
        self._entries: OrderedDict[str, tuple[Item, ...]] = OrderedDict()
        self._size = 0
        self._max_items = max_items

    def get(self, response_id: str) -> tuple[Item, ...] | None:
        entry = self._entries.get(response_id)
        if entry is not None:
            self._entries.move_to_end(response_id)
        return entry

    def put(self, response_id: str, items: tuple[Item, ...]) -> None:
        if len(items) > self._max_items:
            return
        old = self._entries.pop(response_id, None)
        self._size += len(items) - (len(old) if old else 0)
        self._entries[response_id] = items
        while self._size > self._max_items:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted)

    def clear(self) -> None:
        self._entries.clear()
        self._size = 0


async def load_history(
    store: ContextStore, cache: ContextCache, previous_response_id: str | None
) -> tuple[Item, ...]:
    if previous_response_id is None:
        return ()
    cached = cache.get(previous_response_id)
    if cached is not None:
        return cached
    bodies = await store.load_context(previous_response_id)
    if bodies is None:
        raise PreviousResponseNotFound(previous_response_id)
    history = tuple(parse_items(bodies))
    cache.put(previous_response_id, history)
    return history


class ConversationItems(Protocol):
    async def load_items(self, conversation_id: str) -> list[str] | None: ...


async def load_conversation(store: ConversationItems, conversation_id: str) -> tuple[Item, ...]:
    bodies = await store.load_items(conversation_id)
    if bodies is None:
        raise conversation_not_found(conversation_id)
    return tuple(parse_items(bodies))


def conversation_not_found(conversation_id: str) -> NotFoundError:
    return NotFoundError(
        f"Conversation with id '{conversation_id}' not found.", param="conversation"
    )


async def resolve_references(store: ContextStore, items: list[Item]) -> list[Item]:
    """Replace each `item_reference` by the stored item it names."""
    wanted = [item.id for item in items if isinstance(item, ItemReference)]
    if not wanted:
        return items
    found = await store.find_items(wanted)
    resolved: list[Item] = []
    for i, item in enumerate(items):
        if not isinstance(item, ItemReference):
            resolved.append(item)
        elif item.id in found:
            resolved.extend(parse_items([found[item.id]]))
        else:
            raise InvalidRequestError(
                f"Item with id '{item.id}' not found.", param=f"input[{i}].id", code="not_found"
            )
    return resolved


def model_view(items: list[Item] | tuple[Item, ...], keys: KeyRing, where: str) -> list[Item]:
    """What the model sees of `items`: sealed reasoning opened, compactions as summaries.

    Client-sent sealed values are always verified (a forged or altered one is a 400);
    `where` names the field for that error ("input" or "previous_response_id")."""
    view: list[Item] = []
    for i, item in enumerate(items):
        param = f"{where}[{i}].encrypted_content" if where == "input" else where
        sealed = isinstance(item, Reasoning) and item.encrypted_content
        if sealed and (where == "input" or not item.content):
            text = keys.open("reasoning", item.encrypted_content, param)["text"]
            if not item.content:
                item = item.model_copy(update={"content": [ReasoningText(text=text)]})
        elif isinstance(item, Compaction):
            summary = keys.open("compaction", item.encrypted_content, param)["summary"]
            item = Message(role="developer", content=[InputText(text=COMPACTION_PREFIX + summary)])
        view.append(item)
    return view
