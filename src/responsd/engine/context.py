"""What the model sees: the stored chain of `previous_response_id`, then this request's input."""

from typing import Protocol

from pydantic import TypeAdapter

from responsd.errors import InvalidRequestError, PreviousResponseNotFound
from responsd.ids import new_item_id
from responsd.types.content import InputText, OutputText
from responsd.types.items import InputItem, Item, ItemReference, Message

_ITEMS = TypeAdapter(list[InputItem])


class ContextStore(Protocol):
    async def load_context(self, response_id: str) -> list[str] | None: ...

    async def find_items(self, item_ids: list[str]) -> dict[str, str]: ...


def normalize_input(value: str | list[Item]) -> list[Item]:
    """Give every input item a type, an id and content parts, as input_items lists them."""
    if isinstance(value, str):
        value = [Message(role="user", content=value)]
    for item in value:
        if isinstance(item, Message) and isinstance(item.content, str):
            part = OutputText if item.role == "assistant" else InputText
            item.content = [part(text=item.content)]
        if item.id is None:
            item.id = new_item_id(item.type)
    return value


def parse_items(bodies: list[str]) -> list[Item]:
    # One validation call for the whole history: far cheaper than one per item.
    return _ITEMS.validate_json("[" + ",".join(bodies) + "]")


async def load_history(store: ContextStore, previous_response_id: str | None) -> list[Item]:
    if previous_response_id is None:
        return []
    bodies = await store.load_context(previous_response_id)
    if bodies is None:
        raise PreviousResponseNotFound(previous_response_id)
    return parse_items(bodies)


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
