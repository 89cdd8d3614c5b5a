"""Request semantics decided before anything runs: what is supported, what must answer what
(which tools the model sees: engine/tool_plan.py).

Everything here raises before a stream starts, so clients get a plain JSON 400.
"""

from typing import Any

import jsonschema

from responsd.errors import InvalidRequestError, UnsupportedParameterError
from responsd.types.client_run_items import ComputerCallOutput
from responsd.types.content import InputFile, InputImage, InputText, OutputText
from responsd.types.items import (
    COMPACTION_TRIGGER,
    CustomToolCallOutput,
    FunctionCallOutput,
    Item,
    McpApprovalRequest,
    McpApprovalResponse,
)
from responsd.types.requests import (
    ContextFields,
    InputTokensRequest,
    PromptCacheOptions,
    ResponseCreateRequest,
)
from responsd.types.text import FormatJSONSchema

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
    if isinstance(item, ComputerCallOutput) and not (item.output.image_url or item.output.file_id):
        raise InvalidRequestError(
            "A computer_call_output's screenshot needs `image_url` or `file_id`.",
            param=f"{where}.output",
        )
    if isinstance(item, (FunctionCallOutput, CustomToolCallOutput)) and isinstance(
        item.output, list
    ):
        for j, part in enumerate(item.output):
            if not isinstance(part, (InputText, OutputText, InputImage, InputFile)):
                raise UnsupportedParameterError(
                    "Tool outputs may hold text, images and files.",
                    param=f"{where}.output[{j}]",
                )


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
