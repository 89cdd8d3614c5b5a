"""What the model sees: the stored chain of `previous_response_id`, then this request's input."""

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, cast

from pydantic import TypeAdapter

from responsd.engine.input_files import has_files
from responsd.errors import InvalidRequestError, NotFoundError, PreviousResponseNotFound
from responsd.ids import new_item_id
from responsd.sealing import KeyRing
from responsd.store.sql import Chain
from responsd.tools.file_search import Citations
from responsd.tools.registry import TOOL_ITEMS, model_items
from responsd.types.client_run_items import ShellCallOutput
from responsd.types.content import InputText, OutputText, ReasoningText
from responsd.types.items import (
    COMPACTION_TRIGGER,
    TOOL_SOURCES,
    Compaction,
    CustomToolCall,
    CustomToolCallOutput,
    FunctionCall,
    FunctionCallOutput,
    InputItem,
    Item,
    ItemReference,
    Message,
    Reasoning,
)

COMPACTION_PREFIX = "Summary of the conversation so far:\n"
UNFINISHED = frozenset({"queued", "in_progress"})

_ITEMS = TypeAdapter(list[InputItem])


class ContextStore(Protocol):
    async def load_context(self, response_id: str) -> Chain | None: ...

    async def chain_head(self, response_id: str) -> tuple[str | None, int] | None: ...

    async def find_items(self, item_ids: list[str]) -> dict[str, str]: ...


_WITH_STATUS = (
    Message,
    FunctionCall,
    FunctionCallOutput,
    CustomToolCall,
    CustomToolCallOutput,
    ShellCallOutput,
)


def normalize_input(value: str | list[Item]) -> list[Item]:
    """Give every input item the canonical shape input_items and conversations list: a type,
    an id, content parts, a status where the spec requires one, no null extra fields."""
    if isinstance(value, str):
        value = [Message(role="user", content=value)]
    for item in value:
        if isinstance(item, Message) and isinstance(item.content, str):
            part = OutputText if item.role == "assistant" else InputText
            item.content = [part(text=item.content)]
        if isinstance(item, _WITH_STATUS) and item.status is None:
            item.status = "completed"
        if item.id is None and item.type != COMPACTION_TRIGGER:  # a signal: takes no id
            item.id = new_item_id(item.type)
        extra = item.__pydantic_extra__
        if extra and None in extra.values():
            for key in [k for k, v in extra.items() if v is None]:
                del extra[key]
    return value


def parse_items(bodies: list[str]) -> list[Item]:
    # One validation call for the whole history: far cheaper than one per item.
    return _ITEMS.validate_json("[" + ",".join(bodies) + "]")


class ParsedItems:
    """Parsed items by their stored JSON, so a history read again is not parsed again.

    Bounded by the characters of JSON it holds (64 M by default, a few hundred MB parsed).

    Keyed by content, not by response: the database stays the source of truth for what a
    chain or conversation holds (a delete elsewhere is seen at once); only the parsing is
    skipped. Parsed items are never mutated (model_view copies what it changes)."""

    def __init__(self, max_chars: int = 64_000_000):
        self._items: OrderedDict[str, Item] = OrderedDict()
        self._chars = 0
        self._max_chars = max_chars

    def parse(self, bodies: list[str]) -> list[Item]:
        known = [self._items.get(body) for body in bodies]
        missing = [body for body, item in zip(bodies, known, strict=True) if item is None]
        if not missing:
            return cast(list[Item], known)
        fresh = iter(parse_items(missing))
        found = [item if item is not None else next(fresh) for item in known]
        for body, item in zip(bodies, found, strict=True):
            if body not in self._items:
                self._chars += len(body)
            self._items[body] = item
        while self._chars > self._max_chars:
            evicted, _ = self._items.popitem(last=False)
            self._chars -= len(evicted)
        return found


class ItemMemos:
    """Results computed from one item (a provider's conversion of it), kept with the item so
    a long history is converted once, not on every turn (see providers.base.ItemMemo).

    Items in context are never mutated (model_view copies what it changes), so a result stays
    true for its item. Entries hold their item, so its id cannot be reused while the entry
    lives; the oldest entries go first beyond `max_items`."""

    def __init__(self, max_items: int = 200_000):
        self._memos: dict[int, tuple[Item, dict[str, Any]]] = {}
        self._max_items = max_items
        # Providers convert long histories on worker threads (offload): adding and evicting
        # entries must not interleave. A recall is one dict read and needs no lock.
        self._lock = threading.Lock()

    def recall(self, item: Item, key: str) -> Any:
        entry = self._memos.get(id(item))
        # No reordering on a hit (it would cost a move per history item per turn): the
        # oldest entries go first; a history in use is remembered again after a miss.
        return entry[1].get(key) if entry is not None and entry[0] is item else None

    def remember(self, item: Item, key: str, value: Any) -> None:
        with self._lock:
            entry = self._memos.get(id(item))
            if entry is None or entry[0] is not item:
                entry = self._memos[id(item)] = (item, {})
                if len(self._memos) > self._max_items:
                    del self._memos[next(iter(self._memos))]
            entry[1][key] = value

    def forget(self, item: Item, key: str) -> None:
        with self._lock:
            entry = self._memos.get(id(item))
            if entry is not None and entry[0] is item:
                entry[1].pop(key, None)


@dataclass(frozen=True, slots=True)
class Facts:
    """What every turn's scans of a history would find, found once per chain and carried to
    the next turn's chain by adding only the new items: so a deep chain costs what its new
    items cost, not a pass per scan over all of it."""

    files: bool = False
    """Some message has file parts to read (FileReader)."""
    tool_items: bool = False
    """Some item is a built-in tool's (model_items rewrites those)."""
    sealed: bool = False
    """Some item is sealed reasoning or a compaction (model_view opens those)."""
    added_tools: bool = False
    """Some item adds tools (additional_tools, tool_search_output: plan_tools reads those)."""

    def plus(self, items: list[Item]) -> "Facts":
        return Facts(
            self.files or any(map(has_files, items)),
            self.tool_items or any(isinstance(item, TOOL_ITEMS) for item in items),
            self.sealed or any(map(_sealed, items)),
            self.added_tools or any(isinstance(item, TOOL_SOURCES) for item in items),
        )


def _sealed(item: Item) -> bool:
    return isinstance(item, Compaction) or (
        isinstance(item, Reasoning) and bool(item.encrypted_content)
    )


class ChainCache:
    """The parsed context of recent chains, by the id of their last response, and of recent
    conversations, by their id.

    A stored response never changes once finished, so a chain changes only when one of its
    responses is deleted: an entry is used only while the database's count of response
    deletes is what it was when the entry was read (one small query instead of reading the
    whole chain; deletes by any worker are seen at once). A conversation's entry is versioned
    by its head (`load_conversation`). Bounded by the items it holds.

    Chains of one response (a response that continues nothing) are kept apart, the most
    recent `max_first` of them: most are never continued, and their items are shared with
    no other entry, so a bound by items would let them fill the memory the long chains'
    shared items are counted against. The turn that continues one (an agent's second
    turn) then reads nothing but the head."""

    def __init__(self, max_items: int = 2_000_000, max_first: int = 1_000):
        self._chains: OrderedDict[str, tuple[Any, History]] = OrderedDict()
        self._items = 0
        self._max_items = max_items
        self._first: OrderedDict[str, list[Item]] = OrderedDict()
        self._max_first = max_first

    def get(self, response_id: str, version: int) -> "History | None":
        found = self.latest(response_id)
        if found is not None and found[0] == version:
            return found[1]
        items = self._first.get(response_id)
        if items is None:
            return None
        # Whole under any count of deletes: its one response exists (the head was read).
        # Scanned here, not when kept: most first responses are never continued.
        self._first.move_to_end(response_id)
        return History(items, version, Facts().plus(items))

    def put_first(self, response_id: str, items: list[Item]) -> None:
        """Keep the items (input, then output) of a response that continues nothing: the
        context it leaves to its next turn."""
        self._first[response_id] = items
        if len(self._first) > self._max_first:
            self._first.popitem(last=False)

    def latest(self, key: str) -> "tuple[Any, History] | None":
        """(version, history) of `key` as last put, whatever its version."""
        found = self._chains.get(key)
        if found is not None:
            self._chains.move_to_end(key)
        return found

    def put(self, key: str, history: "History", version: Any = None) -> None:
        """Keep `history` under `key` (a response id, or a conversation id with the
        conversation's head as `version`); a chain's version is its History's."""
        version = history.version if version is None else version
        assert version is not None
        old = self._chains.pop(key, None)
        if old is not None:
            self._items -= len(old[1].items)
        self._chains[key] = (version, history)
        self._items += len(history.items)
        while self._items > self._max_items and self._chains:
            _, (_, evicted) = self._chains.popitem(last=False)
            self._items -= len(evicted.items)


class History(NamedTuple):
    items: list[Item]
    version: int | None = None
    """The response-delete count it was read under (None: not from a stored chain)."""
    facts: Facts | None = None
    """What scans of `items` find, when known (None: scan them)."""
    extends: list[Item] | None = None
    """The list `items` was made from by adding at its end (the previous turn's history),
    when known: conversions remembered for it hold for the start of `items`."""


async def load_history(
    store: ContextStore,
    parsed: ParsedItems,
    previous_response_id: str | None,
    chains: ChainCache | None = None,
) -> History:
    if previous_response_id is None:
        return History([])
    head = await store.chain_head(previous_response_id)
    if head is None:
        raise PreviousResponseNotFound(previous_response_id)
    status, version = head
    if status in UNFINISHED:
        # Its output is not there yet: continuing now would silently drop that turn.
        raise InvalidRequestError(
            f"Previous response with id '{previous_response_id}' has not finished yet (status "
            f"'{status}'); wait until it is completed, then continue from it.",
            param="previous_response_id",
            code="previous_response_not_finished",
        )
    if chains is not None and (known := chains.get(previous_response_id, version)) is not None:
        return known
    chain = await store.load_context(previous_response_id)
    if chain is None:  # deleted since the head was read
        raise PreviousResponseNotFound(previous_response_id)
    items = parsed.parse(chain.bodies)
    if chains is None:
        return History(items, version)
    history = History(items, version, Facts().plus(items))
    chains.put(previous_response_id, history)
    return history


class ConversationItems(Protocol):
    async def head(self, conversation_id: str) -> tuple[int, int] | None: ...

    async def load_items(self, conversation_id: str, start: int, end: int) -> list[str] | None: ...


async def load_conversation(
    store: ConversationItems, parsed: ParsedItems, conversation_id: str, cache: ChainCache
) -> History:
    """The conversation's items, with what scans of them find. Kept in `cache` under the
    conversation's head (store.head): the next turn reads only the items appended since
    (its own input and output), or nothing; a delete anywhere reads it all again."""
    head = await store.head(conversation_id)
    if head is None:
        raise conversation_not_found(conversation_id)
    count, deletes = head
    start, base = 0, History([], None, Facts())
    if (known := cache.latest(conversation_id)) is not None:
        (known_count, known_deletes), history = known
        if (known_count, known_deletes) == head:
            return history
        if known_deletes == deletes and known_count < count:
            start, base = known_count, history
    # Up to `count` only: items appended meanwhile are read by the next turn, under its head.
    bodies = await store.load_items(conversation_id, start, count)
    if bodies is None:
        raise conversation_not_found(conversation_id)
    new = parsed.parse(bodies)
    assert base.facts is not None  # every conversation entry is put with its facts
    history = History([*base.items, *new], None, base.facts.plus(new), base.items)
    cache.put(conversation_id, history, version=head)
    return history


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


def model_view(items: list[Item], keys: KeyRing, where: str) -> list[Item]:
    """What the model sees of `items`: sealed reasoning opened, compactions as summaries.

    Client-sent sealed values are always verified (a forged or altered one is a 400);
    `where` names the field for that error ("input" or "previous_response_id")."""
    view: list[Item] = []
    for i, item in enumerate(items):
        param = f"{where}[{i}].encrypted_content" if where == "input" else where
        if (
            isinstance(item, Reasoning)
            and item.encrypted_content
            and (where == "input" or not item.content)
        ):
            text = keys.open("reasoning", item.encrypted_content, param)["text"]
            if not item.content:
                item = item.model_copy(update={"content": [ReasoningText(text=text)]})
        elif isinstance(item, Compaction):
            opened = keys.open("compaction", item.encrypted_content, param)
            item = summary_message(opened["summary"])
        view.append(item)
    return view


def context_view(
    history: list[Item],
    items: list[Item],
    keys: KeyRing,
    history_param: str,
    citations: Citations | None = None,
    facts: Facts | None = None,
) -> list[Item]:
    """What the model sees of history then input: `model_view` of each, and built-in tool
    items as the function calls and results they were to the model. `facts` (of `history`)
    lets the scans skip a history known to need neither."""
    if facts is not None and not facts.sealed:
        seen = [*history, *model_view(items, keys, "input")]
    else:
        seen = [*model_view(history, keys, history_param), *model_view(items, keys, "input")]
    seen = _since_compaction(history, items, seen, facts)
    in_input = any(isinstance(item, TOOL_ITEMS) for item in items)
    if facts is not None and not facts.tool_items and not in_input:
        return seen
    return model_items(seen, citations)


def _since_compaction(
    history: list[Item], items: list[Item], seen: list[Item], facts: Facts | None
) -> list[Item]:
    """`seen` (the view of history then items, item for item) from the last compaction on,
    with the user's messages before it: a compaction stands for the rest of what came
    before (the hosted API lets clients drop those items, or keep sending them)."""
    last = _last_compaction(items)
    if last is not None:
        last += len(history)
    elif facts is None or facts.sealed:  # a history known to hold none is not searched
        last = _last_compaction(history)
    if last is None:
        return seen

    def raw(j: int) -> Item:
        return history[j] if j < len(history) else items[j - len(history)]

    kept = [seen[j] for j in range(last) if _from_user(raw(j))]
    return [*kept, *seen[last:]]


def _last_compaction(items: list[Item]) -> int | None:
    for j in range(len(items) - 1, -1, -1):
        if isinstance(items[j], Compaction):
            return j
    return None


def _from_user(item: Item) -> bool:
    return isinstance(item, Message) and item.role == "user"


def compacted(view: list[Item], summary: str) -> list[Item]:
    """What the model sees after a compaction of `view`: the user's messages, then the
    summary (as a sealed compaction item is shown)."""
    kept = [item for item in view if _from_user(item)]
    return [*kept, summary_message(summary)]


def summary_message(summary: str) -> Message:
    return Message(role="developer", content=[InputText(text=COMPACTION_PREFIX + summary)])
