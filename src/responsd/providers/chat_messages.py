"""Responses items and tools → Chat Completions `messages` and `tools`.

What the chat wire cannot carry, decided here once:
- `developer` messages become `system` messages (most chat templates know no developer role);
- a function inside a `namespace` tool is shown as `<namespace>__<name>`;
- a `custom` tool is shown as a function with one string parameter, `input`, and its
  grammar (if any) quoted in the description: chat upstreams cannot enforce grammars;
- reasoning items are left out, or (reasoning_history="reasoning_content") passed as
  `reasoning_content` on the next assistant message, as vLLM/SGLang reasoning parsers expect;
- items of tools this server does not run are left out;
- images in tool outputs (chat tool messages carry text only) follow the tool messages of
  their turn in one user message, the tool messages saying so.
"""

from dataclasses import dataclass
from typing import Any

import orjson

from responsd.errors import InvalidRequestError
from responsd.providers.base import ForcedTool, ItemMemo, ModelRequest, ToolSpec
from responsd.types.content import InputFile, InputImage, InputText, OutputText, Refusal
from responsd.types.items import (
    CustomToolCall,
    CustomToolCallOutput,
    FunctionCall,
    FunctionCallOutput,
    Message,
    Reasoning,
)

NAMESPACE_SEPARATOR = "__"
_EMPTY_OBJECT_SCHEMA = {"type": "object", "properties": {}}


def wire_name(name: str, namespace: str | None) -> str:
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


def tool_table(tools: list[ToolSpec]) -> dict[str, ToolSpec]:
    """Map each chat-visible function name to its tool; two tools may not share one."""
    table: dict[str, ToolSpec] = {}
    for spec in tools:
        key = wire_name(spec.name, spec.namespace)
        if key in table:
            raise InvalidRequestError(
                f"Two tools are both shown to the model as '{key}'; rename one of them.",
                param="tools",
            )
        table[key] = spec
    return table


CUSTOM_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string"}},
    "required": ["input"],
    "additionalProperties": False,
}
"""A custom (free-form) tool shown as a function: its one string parameter."""


def chat_tool(key: str, spec: ToolSpec) -> dict[str, Any]:
    if spec.kind == "custom":
        description = spec.description or ""
        if spec.format and spec.format.get("type") == "grammar":
            description += (
                f"\nThe input must follow this {spec.format.get('syntax')} grammar:\n"
                f"{spec.format.get('definition')}"
            )
        function: dict[str, Any] = {
            "name": key,
            "description": description.strip(),
            "parameters": CUSTOM_INPUT_SCHEMA,
        }
    else:
        function = {"name": key, "parameters": spec.parameters or _EMPTY_OBJECT_SCHEMA}
        if spec.description is not None:
            function["description"] = spec.description
        if spec.strict is not None:
            function["strict"] = spec.strict
    return {"type": "function", "function": function}


def chat_tool_choice(choice: Any) -> Any:
    if isinstance(choice, ForcedTool):
        return {"type": "function", "function": {"name": wire_name(choice.name, choice.namespace)}}
    return choice


def text_of(parts: str | list[Any]) -> str:
    """The text of a message or tool output; non-text parts contribute nothing."""
    if isinstance(parts, str):
        return parts
    texts = []
    for part in parts:
        if isinstance(part, (InputText, OutputText)):
            texts.append(part.text)
        elif isinstance(part, Refusal):
            texts.append(part.refusal)
    return "\n".join(texts)


def _chat_content(parts: str | list[Any]) -> str | list[dict[str, Any]]:
    if isinstance(parts, str):
        return parts
    if all(isinstance(p, (InputText, OutputText, Refusal)) for p in parts):
        return text_of(parts)  # a plain string is what every chat server understands
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, InputImage):
            content.append(_image(part))
        elif isinstance(part, InputFile):
            file = {"filename": part.filename, "file_data": part.file_data}
            content.append({"type": "file", "file": file})
        else:
            content.append({"type": "text", "text": text_of([part])})
    return content


def _image(part: InputImage) -> dict[str, Any]:
    return {
        "type": "image_url",
        "image_url": {"url": part.image_url, "detail": part.detail or "auto"},
    }


TOOL_IMAGES = "The images the tool calls above returned:"


def _tool_images(images: list[dict[str, Any]]) -> dict[str, Any]:
    """The user message that carries the images of a turn's tool outputs."""
    return {"role": "user", "content": [{"type": "text", "text": TOOL_IMAGES}, *images]}


def _tool_call(call_id: str, key: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": key, "arguments": arguments}}


def _form(item: Any) -> tuple[str, Any] | None:
    """What one item is on the chat wire, before turns are assembled: ("reasoning", texts),
    ("message", message), ("call", tool call), or None (not shown). Read-only once made."""
    if isinstance(item, Reasoning):
        return "reasoning", [part.text for part in item.content or ()]
    if isinstance(item, Message):
        role = "system" if item.role == "developer" else item.role
        return "message", {"role": role, "content": _chat_content(item.content)}
    if isinstance(item, FunctionCall):
        key = wire_name(item.name, item.namespace)
        return "call", _tool_call(item.call_id, key, item.arguments)
    if isinstance(item, CustomToolCall):
        arguments = orjson.dumps({"input": item.input}).decode()
        return "call", _tool_call(item.call_id, wire_name(item.name, item.namespace), arguments)
    if isinstance(item, (FunctionCallOutput, CustomToolCallOutput)):
        message = {"role": "tool", "tool_call_id": item.call_id, "content": text_of(item.output)}
        if isinstance(item.output, str):
            return "message", message
        images = [_image(p) for p in item.output if isinstance(p, InputImage)]
        if not images:
            return "message", message
        note = f"({len(images)} image{'s' if len(images) > 1 else ''} in the next message.)"
        message["content"] = f"{message['content']}\n{note}".lstrip()
        return "tool_images", (message, images)
    return None  # hosted-tool items are kept in history but not shown (see module doc)


_UNSHOWN: tuple[str, Any] = ("none", None)

PREFIX_SEARCH = 256
"""How far back from the end of a history to look for its converted prefix: the items a
turn adds (its input and output) are usually far fewer."""


@dataclass(frozen=True, slots=True)
class _Prefix:
    """The messages a history converts to, kept on its last item so the next turn of the
    chain converts only what it adds. Read-only: shared by every turn using it."""

    items: list[Any]
    """The history list itself (never changed once made): a request beginning with the
    same list, or with a list made from it, matches without comparing item by item."""
    encoded: bytes
    """The JSON of every message but the last, comma-separated without brackets: the
    upstream request of a deep chain is then encoded from what its turn adds (~0.3 ms
    for 2,000 messages)."""
    last: dict[str, Any] | None
    """The last message (a later turn may still add tool calls or reasoning to it)."""
    reasoning: tuple[str, ...]
    """Reasoning still waiting for the assistant message it goes with."""


@dataclass(slots=True)
class ChatMessages:
    """A request's messages: `head` (the instructions), then the remembered messages of its
    history as their JSON (`known`: sent as it is, never copied, and never turned back into
    a list: a deep chain's ~2,000 messages would be touched again every turn), then `tail`."""

    head: list[dict[str, Any]]
    known: bytes
    tail: list[dict[str, Any]]


_NO_MESSAGES = b'{"messages":null'


def body_json(body: dict[str, Any]) -> list[bytes]:
    """The JSON of a Chat Completions request `body`, in pieces to send one after another:
    the known JSON of its messages is one of them, never copied (a 2,000-message history is
    ~100 KB that every turn of a deep chain would otherwise join and copy three times)."""
    rest = orjson.dumps({"messages": None, **{k: v for k, v in body.items() if k != "messages"}})
    messages: ChatMessages = body["messages"]
    parts = [
        part for part in (_inner(messages.head), messages.known, _inner(messages.tail)) if part
    ]
    pieces = [b'{"messages":[']
    for part in parts:
        pieces += (part, b",")
    if parts:
        pieces.pop()
    return [*pieces, b"]", rest[len(_NO_MESSAGES) :]]


def _inner(messages: list[dict[str, Any]]) -> bytes:
    """The JSON elements of `messages`, comma-separated, without brackets."""
    return orjson.dumps(messages)[1:-1]


def _recall_prefix(request: ModelRequest, key: str, exact: bool = True) -> _Prefix | None:
    """The remembered conversion of the longest run of the request's history that has one.
    `exact=False` skips comparing a run that is not one of `memo_runs` item by item (an
    estimate's shortcut)."""
    memo, items, runs = request.memo, request.items, request.memo_runs
    if memo is None or not runs:
        return None
    upto = len(runs[0])
    for end in range(upto, max(0, upto - PREFIX_SEARCH), -1):
        prefix = memo.recall(items[end - 1], key)
        if prefix is None or len(prefix.items) != end:
            continue
        # The same list is the same run. Another one (a chain read again from the database)
        # is compared: equal items convert alike (identity is checked first).
        if any(prefix.items is run for run in runs) or not exact or prefix.items == items[:end]:
            return prefix
    return None


def _prefix_key(reasoning_history: str) -> str:
    """Where a history's messages are remembered: they differ by how reasoning is carried."""
    return f"chat-prefix/{reasoning_history}"


def unconverted(request: ModelRequest, reasoning_history: str = "drop") -> int:
    """About how many of the request's items `chat_messages` has still to convert (the rest
    come from the history's remembered messages): the size of its work, to decide where to
    run it."""
    prefix = _recall_prefix(request, _prefix_key(reasoning_history), exact=False)
    return len(request.items) - (len(prefix.items) if prefix else 0)


def chat_messages(request: ModelRequest, reasoning_history: str = "drop") -> ChatMessages:
    memo, items = request.memo, request.items
    remembered = len(request.memo_runs[0]) if request.memo_runs else 0
    known, tail = b"", []
    reasoning: list[str] = []  # reasoning waiting for the assistant turn it belongs to
    start = 0
    key = _prefix_key(reasoning_history)
    prefix = _recall_prefix(request, key)
    if prefix is not None:
        start = len(prefix.items)
        known = prefix.encoded
        if prefix.last is not None:
            tail.append(prefix.last)
        reasoning += prefix.reasoning
    shared = len(tail)  # tail[:shared] is remembered: copied before a change

    def own_last() -> dict[str, Any]:
        nonlocal shared
        if len(tail) == shared:
            last = tail[-1] = dict(tail[-1])
            if "tool_calls" in last:
                last["tool_calls"] = list(last["tool_calls"])
            shared -= 1
        return tail[-1]

    images: list[dict[str, Any]] = []  # of the tool outputs just seen: after the last

    def flush_images() -> None:
        nonlocal images
        if images:
            tail.append(_tool_images(images))
            images = []

    for i in range(start, len(items)):
        item = items[i]
        form: tuple[str, Any] | None = None
        if memo is not None and i < remembered:
            form = memo.recall(item, "chat")
        if form is None:
            form = _form(item) or _UNSHOWN
            if memo is not None and i < remembered:
                memo.remember(item, "chat", form)
        kind, value = form
        if kind == "tool_images":
            tail.append(dict(value[0]))
            images += value[1]
        elif images and kind != "none" and not (kind == "message" and value["role"] == "tool"):
            flush_images()
        if kind == "reasoning":
            if reasoning_history == "reasoning_content":
                reasoning.extend(value)
        elif kind == "message":
            tail.append(dict(value))  # a copy: the turn may still gain fields below
            if value["role"] == "assistant" and reasoning:
                tail[-1]["reasoning_content"] = "\n".join(reasoning)
                reasoning = []
        elif kind == "call":
            # Consecutive calls (and the text just before them) form one assistant turn.
            # (No tail means no messages at all: the known ones end with the tail's first.)
            if not tail or tail[-1]["role"] != "assistant":
                tail.append({"role": "assistant", "content": None})
            last = own_last()
            if reasoning:
                last["reasoning_content"] = "\n".join(reasoning)
                reasoning = []
            last.setdefault("tool_calls", []).append(value)
        if memo is not None and i + 1 == remembered:
            flush_images()  # the history's end: what comes next is the turn's own
            prefix = _remember_prefix(
                memo, request.memo_runs[0], key, known, tail, reasoning, prefix
            )
            known, tail = prefix.encoded, tail[-1:]
            shared = len(tail)
    flush_images()
    head = [{"role": "system", "content": request.instructions}] if request.instructions else []
    return ChatMessages(head, known, tail)


def _remember_prefix(
    memo: ItemMemo,
    run: list[Any],
    key: str,
    known: bytes,
    tail: list[dict[str, Any]],
    reasoning: list[str],
    replaced: _Prefix | None,
) -> _Prefix:
    """Keep the history's messages for the next turn: `known`, then `tail` (the last of
    them left unencoded); the prefix it extended is let go (one per chain is enough: a fork
    converts its history once, then has its own)."""
    encoded = b",".join(part for part in (known, _inner(tail[:-1])) if part)
    prefix = _Prefix(run, encoded, tail[-1] if tail else None, tuple(reasoning))
    memo.remember(run[-1], key, prefix)
    if replaced is not None and replaced.items[-1] is not run[-1]:
        memo.forget(replaced.items[-1], key)
    return prefix
