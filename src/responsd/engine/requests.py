"""Request semantics decided before anything runs: what is supported, which tools the model sees.

Everything here raises before a stream starts, so clients get a plain JSON 400.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from responsd.engine.strict_schema import normalize, problem
from responsd.errors import InvalidRequestError, UnsupportedParameterError
from responsd.providers.base import ForcedTool, ToolMode, ToolSpec
from responsd.tools import client_run
from responsd.tools.file_search import FUNCTION as FILE_SEARCH_FUNCTION
from responsd.tools.mcp import function_name
from responsd.tools.tool_search import FUNCTION as TOOL_SEARCH_FUNCTION
from responsd.tools.tool_search import deferred
from responsd.tools.web_search import FUNCTION as WEB_SEARCH_FUNCTION
from responsd.types.content import InputImage, InputText, OutputText
from responsd.types.items import (
    COMPACTION_TRIGGER,
    AdditionalTools,
    CustomToolCallOutput,
    FunctionCallOutput,
    Item,
    McpApprovalRequest,
    McpApprovalResponse,
    ToolSearchOutput,
)
from responsd.types.requests import (
    ContextFields,
    InputTokensRequest,
    PromptCacheOptions,
    ResponseCreateRequest,
)
from responsd.types.text import FormatJSONSchema
from responsd.types.tools import (
    WEB_SEARCH_TYPES,
    ApplyPatchTool,
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

LOGPROBS = "message.output_text.logprobs"
"""The `include` value that asks for output text log probabilities (`top_logprobs` alone
only sets how many alternatives: without it the parts' logprobs stay empty, as hosted)."""

# `include` values we honour. Those naming hosted tools this server does not run are
# trivially honoured (no such items exist); both web_search values put the result pages in
# the call's `action.sources` (tools/registry.py).
SUPPORTED_INCLUDES = frozenset(
    {
        "reasoning.encrypted_content",
        "file_search_call.results",
        "web_search_call.results",
        "web_search_call.action.sources",
        "code_interpreter_call.outputs",
        "computer_call_output.output.image_url",
        "message.input_image.image_url",
        LOGPROBS,
    }
)
_NOT_YET = {
    "prompt": "Stored prompt templates are not supported; send `instructions` and `input`.",
    "moderation": "Moderation is not supported by this server.",
    "access_programs": "Access programs are not supported by this server.",
    "image": "Image options are not supported by this server.",
}


@dataclass(slots=True)
class ToolPlan:
    """The tools the model may call, how it must choose, and the hosted ones withheld."""

    specs: list[ToolSpec] = field(default_factory=list)
    mode: ToolMode = "auto"
    skipped: list[str] = field(default_factory=list)


def check_create_request(request: ResponseCreateRequest) -> None:
    for name, message in _NOT_YET.items():
        value = getattr(request, name)
        if value not in (None, False):
            raise UnsupportedParameterError(message, param=name)
    check_cache_options(request.prompt_cache_options)
    for i, entry in enumerate(request.context_management or ()):
        if entry.type != "compaction":
            raise InvalidRequestError(
                f"Unknown context_management type '{entry.type}'; the one type is 'compaction'.",
                param=f"context_management[{i}].type",
            )
        if i > 0:
            raise InvalidRequestError(
                "context_management takes one compaction entry.", param=f"context_management[{i}]"
            )
    if request.reasoning and request.reasoning.mode not in (None, "standard"):
        raise UnsupportedParameterError(
            f"reasoning.mode '{request.reasoning.mode}' is not available on this server; only "
            "'standard' is.",
            param="reasoning.mode",
        )
    if request.stream_options and request.stream_options.include_obfuscation:
        raise UnsupportedParameterError(
            "Stream obfuscation is not supported; set include_obfuscation to false.",
            param="stream_options.include_obfuscation",
        )
    for i, value in enumerate(request.include):
        if value not in SUPPORTED_INCLUDES:
            raise InvalidRequestError(
                f"include value '{value}' is not supported. Supported values: "
                + ", ".join(sorted(SUPPORTED_INCLUDES)),
                param=f"include[{i}]",
            )
    if request.background and not request.store:
        raise InvalidRequestError(
            "Background responses are stored so they can be polled; set store to true.",
            param="store",
        )
    check_background_options(request)
    if request.conversation is not None and not request.store:
        raise InvalidRequestError(
            "A response in a conversation is stored with it; drop `conversation` or set "
            "store to true.",
            param="store",
        )
    check_context_fields(request)


def check_background_options(request: ResponseCreateRequest) -> None:
    options = request.background_options
    if options is None:
        return
    if not request.background:
        raise InvalidRequestError(
            "background_options apply to background responses; set background to true.",
            param="background_options",
        )
    if options.completion_window != "soonest":
        # The hosted API's rule for its discounted windows.
        if request.stream:
            raise InvalidRequestError(
                f"The '{options.completion_window}' completion window needs stream to be "
                "false or left out.",
                param="background_options.completion_window",
            )
        if request.service_tier not in (None, "auto", "default"):
            raise InvalidRequestError(
                f"The '{options.completion_window}' completion window needs standard "
                f"processing; service_tier '{request.service_tier}' is not.",
                param="background_options.completion_window",
            )


def asked_logprobs(request: ContextFields) -> int | None:
    """`ModelRequest.logprobs` of a request: how many alternatives per token, None when the
    request does not include the output's log probabilities."""
    if isinstance(request, ResponseCreateRequest) and LOGPROBS in request.include:
        return request.top_logprobs or 0
    return None


def check_cache_options(cache: PromptCacheOptions | None) -> None:
    if cache is not None and cache.mode == "explicit":
        raise UnsupportedParameterError(
            "Explicit prompt cache breakpoints are not supported; this server caches prompts "
            "by prefix, implicitly. Use mode 'implicit' or leave it out.",
            param="prompt_cache_options.mode",
        )


def check_input_tokens_request(request: InputTokensRequest) -> None:
    if request.personality is not None:
        raise UnsupportedParameterError(
            "Personality presets belong to hosted models; this server has none. Omit personality.",
            param="personality",
        )
    check_context_fields(request)


def conversation_id(request: ContextFields) -> str | None:
    value = request.conversation
    if isinstance(value, dict):
        if not isinstance(value.get("id"), str):
            raise InvalidRequestError(
                'conversation must be an id or {"id": …}.', param="conversation"
            )
        return value["id"]
    return value


def check_context_fields(request: ContextFields) -> None:
    if request.conversation is not None and request.previous_response_id is not None:
        raise InvalidRequestError(
            "Use either `conversation` or `previous_response_id`, not both.", param="conversation"
        )
    fmt = request.text.format
    if isinstance(fmt, FormatJSONSchema):
        try:
            jsonschema.Draft202012Validator.check_schema(fmt.schema_)
        except jsonschema.SchemaError as exc:
            raise InvalidRequestError(
                f"text.format.schema is not a valid JSON Schema: {exc.message}",
                param="text.format.schema",
            ) from exc
    if isinstance(request.input, list):
        check_items(without_trigger(request.input)[0], "input")
        for i, item in enumerate(request.input):
            _check_item_parts(item, f"input[{i}]")


def without_trigger(items: list[Any]) -> tuple[list[Any], bool]:
    """`items` without a final compaction_trigger item, and whether they had one. The
    trigger asks the response to compact the context before it (the summary is its output,
    no answer follows); it is a signal, not content: never stored, listed or shown, and it
    takes no id (as hosted). Anywhere else it is refused (check_items)."""
    if not items or items[-1].type != COMPACTION_TRIGGER:
        return items, False
    if items[-1].id is not None:
        raise InvalidRequestError(
            "A compaction_trigger item takes no id.", param=f"input[{len(items) - 1}].id"
        )
    return items[:-1], True


def compaction_triggered(request: ContextFields) -> bool:
    return isinstance(request.input, list) and without_trigger(request.input)[1]


UNSUPPORTED_ITEMS = {
    COMPACTION_TRIGGER: "A compaction_trigger item compacts the context before it: it can "
    "only be the final input item of a response.",
}


def check_items(items: list, where: str) -> None:
    """400 naming the first item of a known type this server cannot honour."""
    for i, item in enumerate(items):
        if (message := UNSUPPORTED_ITEMS.get(getattr(item, "type", ""))) is not None:
            raise UnsupportedParameterError(message, param=f"{where}[{i}]")


def _check_item_parts(item: object, where: str) -> None:
    if isinstance(item, (FunctionCallOutput, CustomToolCallOutput)) and isinstance(
        item.output, list
    ):
        for j, part in enumerate(item.output):
            if isinstance(part, InputImage) and part.image_url:
                continue
            if not isinstance(part, (InputText, OutputText)):
                raise UnsupportedParameterError(
                    "Tool outputs may hold text, and images given by `image_url` (a URL or a "
                    "data URL), for now.",
                    param=f"{where}.output[{j}]",
                )


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
    _check_typed_names(request.tools, plan.specs)
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
    elif isinstance(choice, ToolChoiceHosted) and choice.type in WEB_SEARCH_TYPES & served:
        if not any(tool.type in WEB_SEARCH_TYPES for tool in request.tools):
            raise InvalidRequestError(
                f"tool_choice forces {choice.type}, but no web_search tool is in `tools`.",
                param="tool_choice",
            )
        plan.mode = ForcedTool(WEB_SEARCH_FUNCTION)
    elif isinstance(choice, ToolChoiceHosted) and choice.type in CLIENT_RUN:
        plan.mode = ForcedTool(_find(plan.specs, choice.type, choice.type).name)
    elif isinstance(choice, ToolChoiceAllowed):
        allowed = [
            _find(plan.specs, t.get("type"), t.get("name"))
            for t in choice.tools
            if t.get("type") in ("function", "custom")
        ] + [
            _find(plan.specs, t["type"], t["type"])
            for t in choice.tools
            if t.get("type") in CLIENT_RUN
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


CLIENT_RUN = ("apply_patch", "shell", "local_shell")
"""Typed tools the client runs: each is the model's function of its type's name."""


def _check_typed_names(tools: list[Tool], specs: list[ToolSpec]) -> None:
    """An apply_patch, shell or local_shell tool is the model's function of that name: no
    other tool may take it (its calls could not be told apart)."""
    typed = {spec.name for spec in specs if spec.kind in CLIENT_RUN}
    for i, tool in enumerate(tools):
        if isinstance(tool, FunctionTool | CustomTool) and tool.name in typed:
            raise InvalidRequestError(
                f"The {tool.type} tool '{tool.name}' has the name of the {tool.name} tool in "
                "`tools`; rename it.",
                param=f"tools[{i}].name",
            )


def _mcp_choice(request: ContextFields, choice: ToolChoiceHosted) -> ToolMode:
    label, name = getattr(choice, "server_label", None), getattr(choice, "name", None)
    if not any(getattr(t, "server_label", None) == label for t in request.tools):
        raise InvalidRequestError(
            f"tool_choice names the MCP server '{label}', which is not in `tools`.",
            param="tool_choice.server_label",
        )
    # The tool's function is only known once the server listed it; a wrong name fails then.
    return ForcedTool(function_name(str(label), name)) if name else "required"


# Output items and the call item type each must answer.
_ANSWERS = {
    "function_call_output": "function_call",
    "custom_tool_call_output": "custom_tool_call",
    "computer_call_output": "computer_call",
    "local_shell_call_output": "local_shell_call",
    "shell_call_output": "shell_call",
    "apply_patch_call_output": "apply_patch_call",
    "tool_search_output": "tool_search_call",
}


CALL_TYPES = frozenset(_ANSWERS.values())


def check_answers(history: list[Item], input_items: list[Item]) -> None:
    """Every tool output answers a call, and every approval answers a request, made before
    it: in the history or earlier in the input. The history is searched from its end, and
    only as far as the oldest call still unanswered: outputs answer the turn just before
    them, so a deep history costs what its last turn costs."""
    calls: set[tuple[str, Any]] = set()  # made earlier in the input
    requests: set[str | None] = set()
    wanted: dict[tuple[str, Any] | str | None, int] = {}  # not made earlier: index in input
    for i, item in enumerate(input_items):
        kind = item.type
        if kind in _ANSWERS:
            call = (_ANSWERS[kind], getattr(item, "call_id", None))
            if call not in calls:
                wanted.setdefault(call, i)
        elif kind in CALL_TYPES:
            calls.add((kind, getattr(item, "call_id", None)))
        elif isinstance(item, McpApprovalResponse):
            if item.approval_request_id not in requests:
                wanted.setdefault(item.approval_request_id, i)
        elif isinstance(item, McpApprovalRequest):
            requests.add(item.id)
    for item in reversed(history):
        if not wanted:
            return
        if item.type in CALL_TYPES:
            wanted.pop((item.type, getattr(item, "call_id", None)), None)
        elif isinstance(item, McpApprovalRequest):
            wanted.pop(item.id, None)
    if wanted:
        i = min(wanted.values())
        item = input_items[i]
        if isinstance(item, McpApprovalResponse):
            raise InvalidRequestError(
                f"No MCP approval request found with id '{item.approval_request_id}'.",
                param=f"input[{i}].approval_request_id",
            )
        call_id = getattr(item, "call_id", None)
        raise InvalidRequestError(
            f"No tool call found for {item.type.replace('_', ' ')} with call_id {call_id}.",
            param=f"input[{i}].call_id",
        )


def load_tools(
    specs: list[ToolSpec], item: AdditionalTools | ToolSearchOutput, where: str
) -> list[ToolSpec]:
    """`specs` with the tools of `item` (at `where`) joined: one of a name already there
    replaces it."""
    for j, tool in enumerate(item.tools):
        found = _specs(tool, f"{where}.tools[{j}]")
        if found is None:
            raise UnsupportedParameterError(
                f"Only function, custom, namespace, apply_patch and local shell tools can be "
                f"given in a {item.type} item; list '{tool.type}' in `tools`.",
                param=f"{where}.tools[{j}]",
            )
        names = {(spec.namespace, spec.name) for spec in found}
        specs = [spec for spec in specs if (spec.namespace, spec.name) not in names] + found
    return specs


def _specs(tool: Tool, param: str, skip_deferred: bool = False) -> list[ToolSpec] | None:
    """What a client tool is to the model (a namespace: its tools); None for a hosted one.
    `skip_deferred`: leave out the tools that wait for a search (`defer_loading`), checked
    all the same (a bad schema is the request's error, not the search's)."""
    if isinstance(tool, ApplyPatchTool | LocalShellTool) or (
        isinstance(tool, ShellTool) and tool.local
    ):
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
