"""The seam every built-in tool implements, and the unit of work it hands the engine.

A tool declares the functions the model may call (`functions`), may need work before the
first model turn (`setup`, e.g. listing an MCP server's tools), turns each call the model
makes into `ToolJob`s, and picks up calls a client approved in a later request (`resume`).
A job is one output item: the engine opens it at the next `output_index`, runs it (several
concurrently), folds its progress events into the response and closes it with the final
item. The engine owns ids of responses, indices and sequence numbers; a tool owns its items.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, TypeVar

import orjson

from responsd.errors import UnsupportedParameterError
from responsd.providers.base import ToolSpec
from responsd.types.events import ResponseStreamEvent
from responsd.types.items import FunctionCall, FunctionCallOutput, Item

ToolProgress: TypeAlias = AsyncIterator[ResponseStreamEvent | Item]
"""A job's run: progress events (with `item_id` and `output_index`), then the final item last.
A run may raise a `ResponsdError` after its final item to fail the whole response."""


@dataclass(slots=True)
class ToolJob:
    """One output item of a built-in tool: how it opens and how it runs."""

    item: Item
    """The item as it opens (status `in_progress`), with its id."""
    run: Callable[[int], ToolProgress] | None = None
    """Given the item's output_index, its progress; None: the item is final as it opens."""
    awaits_client: bool = False
    """The client must answer this item (an approval request): the response ends after it."""
    is_call: bool = True
    """It counts towards `max_tool_calls` (a listing does not)."""


class BuiltinTool(Protocol):
    """One entry of a request's `tools` that this server runs."""

    async def check(self, param: str) -> None:
        """Raise a client error naming `param` (e.g. `tools[0]`) before anything runs."""
        ...

    def setup(self, context: list[Item]) -> ToolJob | None:
        """Work before the first model turn, given the history and input; None when none."""
        ...

    def functions(self) -> list[ToolSpec]:
        """The functions the model may call (after setup); each spec has `builtin=True`."""
        ...

    def owns(self, function: str) -> bool:
        """Whether `function` is one of this tool's functions."""
        ...

    def call(self, spec: ToolSpec, arguments: str) -> list[ToolJob]:
        """The jobs for one call the model made to one of `functions()` (most make one
        item; a server-run tool search makes its call and its output)."""
        ...

    def resume(self, history: list[Item], input_items: list[Item]) -> list[ToolJob]:
        """Jobs the client unblocked in this request's input (approved calls)."""
        ...

    async def close(self) -> None:
        """Release connections held for this response."""
        ...


def text_argument(arguments: str, name: str) -> str:
    """The string argument `name` the model wrote (a web search's query, an image's prompt);
    text that is not the expected JSON is taken as that argument."""
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments.strip()
    found = value.get(name) if isinstance(value, dict) else value
    return found.strip() if isinstance(found, str) else ""


T = TypeVar("T")


def as_function_calls(
    items: list[Item], kind: type[T], seen: Callable[[T], tuple[str, dict[str, Any], str]]
) -> list[Item]:
    """`items` with each of `kind` (a built-in tool's call item) as the function call and the
    result the model saw: `seen(item)` gives the function's name, its arguments and the
    result's text. The item's id links the two (ours always have one; a replayed hosted one
    may not)."""
    view: list[Item] = []
    for item in items:
        if not isinstance(item, kind):
            view.append(item)
            continue
        call_id = getattr(item, "id", None) or ""
        name, arguments, output = seen(item)
        view.append(
            FunctionCall(call_id=call_id, name=name, arguments=orjson.dumps(arguments).decode())
        )
        view.append(FunctionCallOutput(call_id=call_id, output=output))
    return view


def strict_object(**properties: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a function's arguments in strict form: these properties, each
    required, no others (a nullable one says so in its own type)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def unknown_settings(settings: Any, param: str) -> list[str]:
    """Where `settings` (a wire model naming its place `param`) holds fields this server does
    not know, sent with a value (null counts as left out)."""
    if settings is None:
        return []
    extra = settings.__pydantic_extra__ or {}
    return [f"{param}.{key}" for key, value in extra.items() if value is not None]


def refuse_unknown(unknown: list[str], what: str) -> None:
    """400 naming the first of `unknown`: settings are honoured or refused, never ignored."""
    if unknown:
        raise UnsupportedParameterError(
            f"{unknown[0]} is not supported by {what}.", param=unknown[0]
        )
