"""Responses items and tools → Chat Completions `messages` and `tools`.

What the chat wire cannot carry, decided here once:
- `developer` messages become `system` messages (most chat templates know no developer role);
- a function inside a `namespace` tool is shown as `<namespace>__<name>`;
- a `custom` tool is shown as a function with one string parameter, `input`, and its
  grammar (if any) quoted in the description: chat upstreams cannot enforce grammars;
- reasoning items are left out, or (reasoning_history="reasoning_content") passed as
  `reasoning_content` on the next assistant message, as vLLM/SGLang reasoning parsers expect;
- items of tools this server does not run are left out.
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
            content.append(
                {
                    "type": "image_url",
                    "image_url": {"url": part.image_url, "detail": part.detail or "auto"},
                }
            )
        elif isinstance(part, InputFile):
            file = {"filename": part.filename, "file_data": part.file_data}
            content.append({"type": "file", "file": file})
        else:
            content.append({"type": "text", "text": text_of([part])})
    return content


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
        return "message", {
            "role": "tool",
            "tool_call_id": item.call_id,
            "content": text_of(item.output),
        }
    return None  # hosted-tool items are kept in history but not shown (see module doc)


_UNSHOWN: tuple[str, Any] = ("none", None)

PREFIX_SEARCH = 256
"""How far back from the end of a history to look for its converted prefix: the items a
turn adds (its input and output) are usually far fewer."""


@dataclass(frozen=True, slots=True)
class _Prefix:
    """The messages a run of history items converts to, kept on its last item so the next
    turn of the chain converts only what it adds. Read-only: shared by every turn using it."""

    items: list[Any]
    """The run of items (a list, never changed once kept: compared with the request's as a
    list, so one copy of the request's run is made per turn, not two)."""
    messages: tuple[dict[str, Any], ...]
    reasoning: tuple[str, ...]
    """Reasoning still waiting for the assistant message it goes with."""
    encoded: bytes
    """The JSON of every message but the last (a later turn may still add tool calls or
    reasoning to that one), comma-separated without brackets: the upstream request of a
    deep chain is then encoded from what its turn adds (~0.3 ms for 2,000 messages)."""


def _final(prefix: _Prefix) -> int:
    """How many of the prefix's messages its `encoded` holds."""
    return max(len(prefix.messages) - 1, 0)


class ChatMessages(list):
    """Messages, with `known` = (start, count, JSON) when messages[start:start + count]
    are already encoded (a remembered prefix): `body_json` then sends that JSON as it is."""

    known: tuple[int, int, bytes] | None = None


_NO_MESSAGES = b'{"messages":null'


def body_json(body: dict[str, Any]) -> list[bytes]:
    """The JSON of a Chat Completions request `body`, in pieces to send one after another:
    the known JSON of its messages is one of them, never copied (a 2,000-message history is
    ~100 KB that every turn of a deep chain would otherwise join and copy three times)."""
    rest = orjson.dumps({"messages": None, **{k: v for k, v in body.items() if k != "messages"}})
    return [b'{"messages":', *_array(body["messages"]), rest[len(_NO_MESSAGES) :]]


def _array(messages: list[dict[str, Any]]) -> list[bytes]:
    known = getattr(messages, "known", None)
    if known is None:
        return [orjson.dumps(messages)]
    start, count, encoded = known
    parts = [
        part
        for part in (_inner(messages[:start]), encoded, _inner(messages[start + count :]))
        if part
    ]
    if not parts:
        return [b"[]"]
    pieces = [b"["]
    for part in parts:
        pieces += (part, b",")
    pieces[-1] = b"]"
    return pieces


def _inner(messages: list[dict[str, Any]]) -> bytes:
    """The JSON elements of `messages`, comma-separated, without brackets."""
    return orjson.dumps(messages)[1:-1]


def _recall_prefix(request: ModelRequest, key: str, exact: bool = True) -> _Prefix | None:
    """The remembered conversion of the longest run of the request's history that has one.
    `exact=False` skips comparing the run item by item (an estimate's shortcut)."""
    memo, items, upto = request.memo, request.items, request.memo_items
    if memo is None:
        return None
    for end in range(upto, max(0, upto - PREFIX_SEARCH), -1):
        prefix = memo.recall(items[end - 1], key)
        # Equal items convert alike, so an equal run (identity is checked first) is enough.
        if (
            prefix is not None
            and len(prefix.items) == end
            and (not exact or prefix.items == items[:end])
        ):
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
    messages = ChatMessages()
    memo, remembered, items = request.memo, request.memo_items, request.items
    reasoning: list[str] = []  # reasoning waiting for the assistant turn it belongs to
    start = 0
    key = _prefix_key(reasoning_history)
    prefix = _recall_prefix(request, key)
    if prefix is not None:
        start = len(prefix.items)
        messages += prefix.messages
        reasoning += prefix.reasoning
        messages.known = (0, _final(prefix), prefix.encoded)
    shared = len(messages)  # messages[:shared] are remembered: copied before a change

    def own_last() -> dict[str, Any]:
        nonlocal shared
        if len(messages) == shared:
            last = messages[-1] = dict(messages[-1])
            if "tool_calls" in last:
                last["tool_calls"] = list(last["tool_calls"])
            shared -= 1
        return messages[-1]

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
        if kind == "reasoning":
            if reasoning_history == "reasoning_content":
                reasoning.extend(value)
        elif kind == "message":
            messages.append(dict(value))  # a copy: the turn may still gain fields below
            if value["role"] == "assistant" and reasoning:
                messages[-1]["reasoning_content"] = "\n".join(reasoning)
                reasoning = []
        elif kind == "call":
            # Consecutive calls (and the text just before them) form one assistant turn.
            if not messages or messages[-1]["role"] != "assistant":
                messages.append({"role": "assistant", "content": None})
            last = own_last()
            if reasoning:
                last["reasoning_content"] = "\n".join(reasoning)
                reasoning = []
            last.setdefault("tool_calls", []).append(value)
        if memo is not None and i + 1 == remembered:
            new = _remember_prefix(memo, items, remembered, key, messages, reasoning, prefix)
            messages.known = (0, _final(new), new.encoded)
            shared = len(messages)
    if request.instructions:
        # In place: a copy would touch each of a deep chain's messages again.
        messages.insert(0, {"role": "system", "content": request.instructions})
        if messages.known is not None:
            start, count, encoded = messages.known
            messages.known = (start + 1, count, encoded)
    return messages


def _remember_prefix(
    memo: ItemMemo,
    items: list[Any],
    end: int,
    key: str,
    messages: list[dict[str, Any]],
    reasoning: list[str],
    replaced: _Prefix | None,
) -> _Prefix:
    """Keep the history's messages for the next turn; the prefix it extended is let go (one
    per chain is enough: a fork converts its history once, then has its own)."""
    # Only the last message of the prefix replaced may have changed since (own_last).
    done = _final(replaced) if replaced is not None else 0
    parts = (replaced.encoded if replaced else b"", _inner(messages[done : len(messages) - 1]))
    encoded = b",".join(part for part in parts if part)
    prefix = _Prefix(items[:end], tuple(messages), tuple(reasoning), encoded)
    memo.remember(items[end - 1], key, prefix)
    if replaced is not None and replaced.items[-1] is not items[end - 1]:
        memo.forget(replaced.items[-1], key)
    return prefix
