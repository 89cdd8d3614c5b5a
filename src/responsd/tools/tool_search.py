"""The hosted API's `tool_search` tool: the model loads the request's deferred tools.

- A function or custom tool with `defer_loading: true` (at the top of `tools` or inside a
  namespace) is not shown to the model while a `tool_search` tool is in `tools`. The model
  gets one function instead, `tool_search`, whose description lists what can be loaded:
  each namespace (name and description) and each deferred tool outside one.
- `execution: "server"` (the default): this server runs the search. Its arguments are the
  hosted ones, `{query, paths}`: `paths` names what to load whole (a namespace, or a tool as
  `namespace.tool` or `tool`), `query` is keywords matched against the names, descriptions
  and parameters of the deferred tools (the best MAX_FOUND). A call makes two items: the
  `tool_search_call` and the `tool_search_output` holding the tools it loaded.
- `execution: "client"`: the model's call is handed to the client as a `tool_search_call`
  (its arguments follow the tool's own `parameters`); the response ends there, and the
  client answers with a `tool_search_output` naming the tools to load.
- Loaded tools join the model's tools for its next turn and for the rest of the context, as
  an `additional_tools` item's do (engine/tool_plan.plan_tools reads both).
"""

import re
from dataclasses import dataclass
from typing import Any

import orjson

from responsd.errors import InvalidRequestError
from responsd.ids import new_call_id, new_item_id
from responsd.providers.base import ToolSpec
from responsd.tools.base import ToolJob, strict_object
from responsd.types.items import (
    FunctionCall,
    FunctionCallOutput,
    Item,
    ToolSearchCall,
    ToolSearchOutput,
)
from responsd.types.tools import CustomTool, FunctionTool, NamespaceTool, Tool, ToolSearchTool

FUNCTION = "tool_search"
MAX_FOUND = 5
"""Tools a query loads at most (paths load what they name, whatever its size)."""
SERVER_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {
            "type": "string",
            "description": "Keywords for what the tools you need should do.",
        },
        "paths": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Names from the list to load whole: a namespace, or one tool "
            "(namespace.tool, or tool).",
        },
    },
    "additionalProperties": False,
}
CLIENT_PARAMETERS = strict_object(
    query={"type": "string", "description": "What the tools should do."}
)
DESCRIPTION = (
    "Load more tools before calling them. These can be loaded (name: what it is):\n{catalog}\n"
    "Load by name with `paths`, or search with `query`; the tools found can be called on your "
    "next step."
)
CLIENT_DESCRIPTION = "Search for more tools to load; the tools found can be called afterwards."
NOTHING_FOUND = (
    "No tools found. Name one from the list in `paths`, or search with other words in `query`."
)


def deferred(tool: object) -> bool:
    """Whether a client tool waits for a search (when the request has a tool_search tool)."""
    return (
        isinstance(tool, FunctionTool | CustomTool) and getattr(tool, "defer_loading", None) is True
    )


@dataclass(frozen=True, slots=True)
class _Entry:
    """One deferred tool, and the namespace it is in."""

    tool: FunctionTool | CustomTool
    namespace: NamespaceTool | None

    @property
    def path(self) -> str:
        return f"{self.namespace.name}.{self.tool.name}" if self.namespace else self.tool.name

    def words(self) -> tuple[set[str], set[str]]:
        """The words of its names, and those of its descriptions and parameters."""
        names = _words(self.tool.name) | (_words(self.namespace.name) if self.namespace else set())
        text = [self.tool.description or ""]
        if self.namespace:
            text.append(self.namespace.description or "")
        if isinstance(self.tool, FunctionTool) and self.tool.parameters:
            text.append(orjson.dumps(self.tool.parameters).decode())
        return names, _words(" ".join(text))


class ToolSearch:
    """One `tool_search` entry of `tools`, over the request's deferred tools."""

    def __init__(self, config: ToolSearchTool, tools: list[Tool]):
        self.config = config
        self.execution = config.execution or "server"
        self.catalog = [
            _Entry(inner, tool if isinstance(tool, NamespaceTool) else None)
            for tool in tools
            for inner in (tool.tools if isinstance(tool, NamespaceTool) else [tool])
            if isinstance(inner, FunctionTool | CustomTool) and deferred(inner)
        ]

    async def check(self, param: str) -> None:
        config = self.config
        if self.execution == "server":
            for name in ("description", "parameters"):
                if getattr(config, name) is not None:
                    raise InvalidRequestError(
                        f"`{name}` is for a tool search the client runs (execution: "
                        '"client"); the server\'s own search takes {query, paths}.',
                        param=f"{param}.{name}",
                    )
        elif config.parameters is not None and config.parameters.get("type") != "object":
            raise InvalidRequestError(
                "The parameters of a tool search must be a JSON Schema of type object.",
                param=f"{param}.parameters",
            )

    def setup(self, context: list[Item]) -> ToolJob | None:
        return None

    def functions(self) -> list[ToolSpec]:
        if self.execution == "client":
            description = self.config.description or CLIENT_DESCRIPTION
            parameters = self.config.parameters or CLIENT_PARAMETERS
            return [ToolSpec(FUNCTION, "function", description, parameters, False, builtin=True)]
        if not self.catalog:
            return []  # nothing to load: the model is not offered a search
        catalog = "\n".join(_listing(self.catalog))
        description = DESCRIPTION.format(catalog=catalog)
        return [ToolSpec(FUNCTION, "function", description, SERVER_PARAMETERS, False, builtin=True)]

    def owns(self, function: str) -> bool:
        return function == FUNCTION

    def call(self, spec: ToolSpec, arguments: str) -> list[ToolJob]:
        call_id = new_call_id()
        parsed = _arguments(arguments)
        call = ToolSearchCall(
            id=new_item_id("tool_search_call"),
            call_id=call_id,
            arguments=parsed,
            execution=self.execution,
            status="completed",
        )
        if self.execution == "client":
            return [ToolJob(call, awaits_client=True)]
        found = self.search(parsed)
        output = ToolSearchOutput(
            id=new_item_id("tool_search_output"),
            call_id=call_id,
            execution="server",
            status="completed",
            tools=_definitions(found),
        )
        return [ToolJob(call), ToolJob(output, is_call=False)]

    def search(self, arguments: Any) -> list[_Entry]:
        """What `paths` name, then the best matches of `query` (the catalog's order on ties)."""
        arguments = arguments if isinstance(arguments, dict) else {"query": str(arguments)}
        paths = arguments.get("paths")
        paths = [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
        found = [
            entry
            for entry in self.catalog
            if any(
                path in (entry.path, entry.tool.name)
                or (entry.namespace is not None and path == entry.namespace.name)
                for path in paths
            )
        ]
        query = _words(str(arguments.get("query") or ""))
        if query:
            scored = []
            for position, entry in enumerate(self.catalog):
                names, text = entry.words()
                score = 3 * len(query & names) + len(query & text)
                if score and entry not in found:
                    scored.append((-score, position, entry))
            found += [entry for *_, entry in sorted(scored)[:MAX_FOUND]]
        return found

    def resume(self, history: list[Item], input_items: list[Item]) -> list[ToolJob]:
        return []

    async def close(self) -> None:
        return None


def _words(text: str) -> set[str]:
    """Lower-case words; names split at underscores, dots and case changes."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return {word for word in re.findall(r"[a-z0-9]+", spaced.lower()) if len(word) > 1}


def _listing(catalog: list[_Entry]) -> list[str]:
    lines, namespaces = [], set()
    for entry in catalog:
        if entry.namespace is None:
            lines.append(f"- {entry.tool.name}: {entry.tool.description or 'a tool'}")
        elif entry.namespace.name not in namespaces:
            namespaces.add(entry.namespace.name)
            count = sum(1 for other in catalog if other.namespace is entry.namespace)
            about = entry.namespace.description or "a group of tools"
            lines.append(f"- {entry.namespace.name}: {about} ({count} tools)")
    return lines


def _arguments(arguments: str) -> Any:
    try:
        return orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        return {"query": arguments}  # a model that wrote words: taken as the query


def _definitions(found: list[_Entry]) -> list[Tool]:
    """The loaded tools as the output shows them: namespaced ones inside their namespace."""
    tools: list[Tool] = []
    groups: dict[str, NamespaceTool] = {}
    for entry in found:
        if entry.namespace is None:
            tools.append(entry.tool)
            continue
        group = groups.get(entry.namespace.name)
        if group is None:
            group = groups[entry.namespace.name] = NamespaceTool(
                name=entry.namespace.name, description=entry.namespace.description, tools=[]
            )
            tools.append(group)
        group.tools.append(entry.tool)
    return tools


def model_items(items: list[Item]) -> list[Item]:
    """Searches as the model sees them: a call of `tool_search` and the tools it loaded."""
    view: list[Item] = []
    for item in items:
        if isinstance(item, ToolSearchCall):
            arguments = orjson.dumps(item.arguments if item.arguments is not None else {})
            view.append(
                FunctionCall(
                    call_id=item.call_id or item.id or "",
                    name=FUNCTION,
                    arguments=arguments.decode(),
                )
            )
        elif isinstance(item, ToolSearchOutput):
            view.append(
                FunctionCallOutput(
                    call_id=item.call_id or item.id or "", output=_loaded_text(item.tools)
                )
            )
        else:
            view.append(item)
    return view


def _loaded_text(tools: list[Tool]) -> str:
    names = []
    for tool in tools:
        if isinstance(tool, NamespaceTool):
            names += [f"{tool.name}.{inner.name}" for inner in tool.tools]
        else:
            names.append(getattr(tool, "name", tool.type))
    if not names:
        return NOTHING_FOUND
    return "Loaded, and callable from now on: " + ", ".join(names) + "."
