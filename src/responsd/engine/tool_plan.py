"""Which tools the model sees: the request's `tools`, those its context adds, and how it
must choose (`tool_choice`); the hosted ones withheld. Raises before anything runs (a plain
JSON 400, as engine/requests.py's checks)."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from responsd.engine.strict_schema import normalize, problem
from responsd.errors import InvalidRequestError, UnsupportedParameterError
from responsd.providers.base import ForcedTool, ToolMode, ToolSpec
from responsd.tools import client_run
from responsd.tools.file_search import FUNCTION as FILE_SEARCH_FUNCTION
from responsd.tools.image_generation import FUNCTION as IMAGE_GENERATION_FUNCTION
from responsd.tools.mcp import function_name
from responsd.tools.tool_search import FUNCTION as TOOL_SEARCH_FUNCTION
from responsd.tools.tool_search import deferred
from responsd.tools.web_search import FUNCTION as WEB_SEARCH_FUNCTION
from responsd.types.items import AdditionalTools, ToolSearchOutput
from responsd.types.requests import ContextFields
from responsd.types.tools import (
    WEB_SEARCH_TYPES,
    ApplyPatchTool,
    ComputerTool,
    ComputerUsePreviewTool,
    CustomTool,
    FileSearchTool,
    FunctionTool,
    HostedTool,
    LocalShellTool,
    McpTool,
    NamespaceTool,
    ShellTool,
    Tool,
    ToolChoiceAllowed,
    ToolChoiceCustom,
    ToolChoiceFunction,
    ToolChoiceHosted,
    ToolSearchTool,
)


@dataclass(slots=True)
class ToolPlan:
    """The tools the model may call, how it must choose, and the hosted ones withheld."""

    specs: list[ToolSpec] = field(default_factory=list)
    mode: ToolMode = "auto"
    skipped: list[str] = field(default_factory=list)


def plan_tools(
    request: ContextFields,
    added: Sequence[tuple[str, AdditionalTools | ToolSearchOutput]] = (),
    served: frozenset[str] = frozenset(),
) -> ToolPlan:
    """The tools of `request`, then those its context adds (`added`: additional_tools and
    tool_search_output items with where they are, oldest first; a tool added again replaces
    the one of its name). With a tool_search tool, deferred tools wait for a search.
    `served`: hosted tool types this server runs here (web_search with a search backend)."""
    plan = ToolPlan()
    searching = any(isinstance(tool, ToolSearchTool) for tool in request.tools)
    for i, tool in enumerate(request.tools):
        specs = _specs(tool, f"tools[{i}]", skip_deferred=searching)
        if specs is not None:
            plan.specs.extend(specs)
        elif isinstance(tool, HostedTool | ShellTool) and tool.type not in served:
            plan.skipped.append(tool.type)  # a shell in a hosted container too
    for where, item in added:
        plan.specs = load_tools(plan.specs, item, where)
    choice = request.tool_choice
    if isinstance(choice, str):
        plan.mode = choice
    elif isinstance(choice, ToolChoiceFunction | ToolChoiceCustom):
        spec = _find(plan.specs, choice.type, choice.name)
        plan.mode = ForcedTool(spec.name, spec.namespace)
    elif isinstance(choice, ToolChoiceHosted) and choice.type == "mcp":
        plan.mode = _mcp_choice(request, choice)
    elif isinstance(choice, ToolChoiceHosted) and choice.type == "file_search":
        if not any(isinstance(t, FileSearchTool) for t in request.tools):
            raise InvalidRequestError(
                "tool_choice forces file_search, but no file_search tool is in `tools`.",
                param="tool_choice",
            )
        plan.mode = ForcedTool(FILE_SEARCH_FUNCTION)
    elif isinstance(choice, ToolChoiceHosted) and choice.type == "tool_search":
        if not searching:
            raise InvalidRequestError(
                "tool_choice forces tool_search, but no tool_search tool is in `tools`.",
                param="tool_choice",
            )
        plan.mode = ForcedTool(TOOL_SEARCH_FUNCTION)
    elif isinstance(choice, ToolChoiceHosted) and choice.type in served:
        # The web_search names are one tool: any of them in `tools` may be forced by any.
        kind = _served_kind(choice.type)
        if not any(_served_kind(tool.type) == kind for tool in request.tools):
            raise InvalidRequestError(
                f"tool_choice forces {choice.type}, but no {kind} tool is in `tools`.",
                param="tool_choice",
            )
        plan.mode = ForcedTool(_SERVED_FUNCTIONS[kind])
    elif isinstance(choice, ToolChoiceHosted) and choice.type in client_run.FUNCTIONS:
        plan.mode = ForcedTool(_client_run(plan.specs, choice.type).name)
    elif isinstance(choice, ToolChoiceAllowed):
        allowed = [
            _find(plan.specs, t.get("type"), t.get("name"))
            for t in choice.tools
            if t.get("type") in ("function", "custom")
        ] + [
            _client_run(plan.specs, t["type"])
            for t in choice.tools
            if t.get("type") in client_run.FUNCTIONS
        ]
        plan.specs = allowed
        plan.mode = choice.mode
    else:
        raise UnsupportedParameterError(
            f"tool_choice forces the hosted tool '{choice.type}', which this server cannot run "
            "yet.",
            param="tool_choice",
        )
    runs_builtins = any(
        isinstance(tool, McpTool | FileSearchTool | ToolSearchTool) or tool.type in served
        for tool in request.tools
    )
    if plan.mode == "required" and not plan.specs and not runs_builtins:
        raise InvalidRequestError(
            "tool_choice requires a tool call, but no tool the model can call was given.",
            param="tool_choice",
        )
    return plan


_SERVED_FUNCTIONS = {
    "web_search": WEB_SEARCH_FUNCTION,
    "image_generation": IMAGE_GENERATION_FUNCTION,
}
"""The function a hosted tool that runs only when configured is to the model."""


def _served_kind(tool_type: str) -> str:
    return "web_search" if tool_type in WEB_SEARCH_TYPES else tool_type


def _mcp_choice(request: ContextFields, choice: ToolChoiceHosted) -> ToolMode:
    label, name = getattr(choice, "server_label", None), getattr(choice, "name", None)
    if not any(getattr(t, "server_label", None) == label for t in request.tools):
        raise InvalidRequestError(
            f"tool_choice names the MCP server '{label}', which is not in `tools`.",
            param="tool_choice.server_label",
        )
    # The tool's function is only known once the server listed it; a wrong name fails then.
    return ForcedTool(function_name(str(label), name)) if name else "required"


def load_tools(
    specs: list[ToolSpec], item: AdditionalTools | ToolSearchOutput, where: str
) -> list[ToolSpec]:
    """`specs` with the tools of `item` (at `where`) joined: one of a name already there
    replaces it."""
    for j, tool in enumerate(item.tools):
        found = _specs(tool, f"{where}.tools[{j}]")
        if found is None:
            raise UnsupportedParameterError(
                f"Only function, custom, namespace, apply_patch, local shell and computer tools "
                f"can be given in a {item.type} item; list '{tool.type}' in `tools`.",
                param=f"{where}.tools[{j}]",
            )
        names = {(spec.namespace, spec.name) for spec in found}
        specs = [spec for spec in specs if (spec.namespace, spec.name) not in names] + found
    return specs


def _specs(tool: Tool, param: str, skip_deferred: bool = False) -> list[ToolSpec] | None:
    """What a client tool is to the model (a namespace: its tools); None for a hosted one.
    `skip_deferred`: leave out the tools that wait for a search (`defer_loading`), checked
    all the same (a bad schema is the request's error, not the search's)."""
    # Typed tools the client runs: each is the model's function of client_run.FUNCTIONS (a
    # function of the same name is refused as any two tools sharing a name are:
    # chat_messages.tool_table).
    if isinstance(
        tool, ApplyPatchTool | LocalShellTool | ComputerTool | ComputerUsePreviewTool
    ) or (isinstance(tool, ShellTool) and tool.local):
        client_run.check(tool, param)
        return [client_run.spec(tool)]
    if isinstance(tool, FunctionTool | CustomTool):
        pairs = [(tool, _spec(tool, None, param))]
    elif isinstance(tool, NamespaceTool):
        pairs = [
            (inner, _spec(inner, tool.name, f"{param}.tools[{j}]"))
            for j, inner in enumerate(tool.tools)
        ]
    else:
        return None
    return [spec for source, spec in pairs if not (skip_deferred and deferred(source))]


def _spec(tool: FunctionTool | CustomTool, namespace: str | None, param: str) -> ToolSpec:
    if isinstance(tool, CustomTool):
        return ToolSpec(
            tool.name, "custom", tool.description, namespace=namespace, format=tool.format
        )
    parameters = tool.parameters
    if tool.strict is None:  # strict by default: the schema is made strict
        parameters = normalize(parameters)
    elif tool.strict and (found := problem(parameters)):
        raise InvalidRequestError(
            f"Invalid schema for function '{tool.name}': {found} (Or set strict to false.)",
            param=f"{param}.parameters",
            code="invalid_function_parameters",
        )
    strict = tool.strict is not False
    return ToolSpec(tool.name, "function", tool.description, parameters, strict, namespace)


def echo_tools(tools: list) -> list:
    """`tools` as the Response echoes them: a function without `strict` is strict."""
    return [_echo(tool) for tool in tools]


def _echo(tool):
    if isinstance(tool, FunctionTool) and tool.strict is None:
        return tool.model_copy(update={"strict": True})
    if isinstance(tool, NamespaceTool):
        return tool.model_copy(update={"tools": echo_tools(tool.tools)})
    return tool


def _find(specs: list[ToolSpec], kind: str | None, name: str | None) -> ToolSpec:
    for spec in specs:
        qualified = f"{spec.namespace}.{spec.name}" if spec.namespace else spec.name
        if spec.kind == kind and name in (spec.name, qualified):
            return spec
    raise InvalidRequestError(
        f"tool_choice names the {kind} tool '{name}', which is not in `tools`.",
        param="tool_choice",
    )


def _client_run(specs: list[ToolSpec], tool_type: str) -> ToolSpec:
    """The function of the typed tool `tool_type` the client runs (client_run.FUNCTIONS)."""
    function = client_run.FUNCTIONS[tool_type]
    for spec in specs:
        if spec.kind == function and spec.namespace is None:
            return spec
    raise InvalidRequestError(
        f"tool_choice names the {tool_type} tool, which is not in `tools`.",
        param="tool_choice",
    )
