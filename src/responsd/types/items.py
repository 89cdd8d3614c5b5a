"""Items: the typed units of context and output (messages, calls, call outputs, …).

Every item keeps the fields it was sent with (`extra="allow"`), so items that clients
pass back (Codex resends our own output every turn) are stored and echoed unchanged.
"""

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Discriminator, Field, Tag

from responsd.types._base import ItemStatus, WireModel, omitted_when_none
from responsd.types.client_run_items import (
    ApplyPatchCall,
    ApplyPatchCallOutput,
    ComputerCall,
    ComputerCallOutput,
    LocalShellCall,
    LocalShellCallOutput,
    ShellCall,
    ShellCallOutput,
)
from responsd.types.content import ContentPart, ReasoningText, SummaryText
from responsd.types.tools import Tool


class Message(WireModel):
    """A message from the user, system, developer or assistant."""

    type: Literal["message"] = "message"
    id: str | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]
    status: ItemStatus | None = omitted_when_none()
    phase: Literal["commentary", "final_answer"] | None = omitted_when_none()
    """Assistant messages only: whether this is a progress note or the final answer."""


class FunctionCall(WireModel):
    """The model asking the client to run one of its functions."""

    type: Literal["function_call"] = "function_call"
    id: str | None = None
    call_id: str
    name: str
    arguments: str
    """The arguments as a JSON string, exactly as the model wrote them."""
    namespace: str | None = omitted_when_none()
    """For a function inside a `namespace` tool, the namespace's name (kept apart from `name`)."""
    status: ItemStatus | None = omitted_when_none()


class FunctionCallOutput(WireModel):
    """The client's result for a `function_call`, linked by `call_id`."""

    type: Literal["function_call_output"] = "function_call_output"
    id: str | None = None
    call_id: str
    output: str | list[ContentPart]
    status: ItemStatus | None = omitted_when_none()


class CustomToolCall(WireModel):
    """The model calling a `custom` tool with free-form text input."""

    type: Literal["custom_tool_call"] = "custom_tool_call"
    id: str | None = None
    call_id: str
    name: str
    input: str
    namespace: str | None = omitted_when_none()
    status: ItemStatus | None = omitted_when_none()


class CustomToolCallOutput(WireModel):
    """The client's result for a `custom_tool_call`, linked by `call_id`."""

    type: Literal["custom_tool_call_output"] = "custom_tool_call_output"
    id: str | None = None
    call_id: str
    output: str | list[ContentPart]
    status: ItemStatus | None = omitted_when_none()


class Reasoning(WireModel):
    """The model's reasoning; accepted when passed back, kept in history."""

    type: Literal["reasoning"] = "reasoning"
    id: str | None = None
    summary: list[SummaryText] = Field(default_factory=list)
    content: list[ReasoningText] | None = omitted_when_none()
    encrypted_content: str | None = omitted_when_none()
    status: ItemStatus | None = omitted_when_none()


class Compaction(WireModel):
    """An encrypted summary of earlier context, made by POST /v1/responses/compact."""

    type: Literal["compaction"] = "compaction"
    id: str | None = None
    encrypted_content: str


class ItemReference(WireModel):
    """A pointer to an item stored earlier, replaced by that item before the model runs."""

    type: Literal["item_reference"] = "item_reference"
    id: str


class McpListToolsTool(WireModel):
    """One tool an MCP server offers."""

    name: str
    description: str | None = None
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None = None


class McpListTools(WireModel):
    """The tools an MCP server listed; later turns reuse it instead of listing again."""

    type: Literal["mcp_list_tools"] = "mcp_list_tools"
    id: str | None = None
    server_label: str
    tools: list[McpListToolsTool] = Field(default_factory=list)
    error: str | None = None


class McpCall(WireModel):
    """A call of a tool on an MCP server, run by this server."""

    type: Literal["mcp_call"] = "mcp_call"
    id: str | None = None
    server_label: str
    name: str
    arguments: str
    output: str | None = None
    error: dict[str, Any] | None = None
    """`{type: mcp_protocol_error | mcp_tool_execution_error | http_error, …}` when it failed."""
    status: Literal["in_progress", "completed", "incomplete", "calling", "failed"] | None = None
    approval_request_id: str | None = None
    """The approval request this call answers, when it needed one."""


class FileSearchResult(WireModel):
    """One chunk a file search found."""

    file_id: str
    filename: str
    score: float
    text: str
    attributes: dict[str, Any] = Field(default_factory=dict)


class FileSearchCall(WireModel):
    """A search of vector stores, run by this server; `results` only with
    `include: ["file_search_call.results"]`."""

    type: Literal["file_search_call"] = "file_search_call"
    id: str | None = None
    queries: list[str]
    status: Literal["in_progress", "searching", "completed", "incomplete", "failed"] | None = None
    results: list[FileSearchResult] | None = None


class WebSearchCall(WireModel):
    """A web search, run by this server: `action` is `{type: "search", query}`, with the
    result pages as `sources` when the request includes `web_search_call.action.sources`
    (searches replayed from the hosted API may carry other actions: kept as sent)."""

    type: Literal["web_search_call"] = "web_search_call"
    id: str | None = None
    status: Literal["in_progress", "searching", "completed", "failed"] | None = None
    action: dict[str, Any] | None = None


class ImageGenerationCall(WireModel):
    """An image made by this server's image service for the model (`result`: the image,
    base64), with the settings it was made with."""

    type: Literal["image_generation_call"] = "image_generation_call"
    id: str | None = None
    status: Literal["in_progress", "generating", "completed", "failed"] | None = None
    result: str | None = None
    revised_prompt: str | None = omitted_when_none()
    action: str | None = omitted_when_none()
    size: str | None = omitted_when_none()
    quality: str | None = omitted_when_none()
    background: str | None = omitted_when_none()
    output_format: str | None = omitted_when_none()
    error: dict[str, Any] | None = omitted_when_none()
    """Why a failed call failed: `{type, code, message}`."""


class McpApprovalRequest(WireModel):
    """A call the model wants to make that needs the client's approval first."""

    type: Literal["mcp_approval_request"] = "mcp_approval_request"
    id: str | None = None
    server_label: str
    name: str
    arguments: str


class McpApprovalResponse(WireModel):
    """The client's answer to an `mcp_approval_request`."""

    type: Literal["mcp_approval_response"] = "mcp_approval_response"
    id: str | None = None
    approval_request_id: str
    approve: bool
    reason: str | None = None


class AdditionalTools(WireModel):
    """Tools a developer makes available from this point of the context on (as a client
    that sends its tools in the input, not in `tools`, does). They join `tools` for every
    later turn of the context, compactions included."""

    type: Literal["additional_tools"] = "additional_tools"
    id: str | None = None
    role: Literal["developer"] = "developer"
    tools: list[Tool]


class ToolSearchCall(WireModel):
    """The model searching the request's deferred tools (`tool_search`): run by this server
    (`execution: server`, its output follows) or handed to the client (`client`), which
    answers with a `tool_search_output`."""

    type: Literal["tool_search_call"] = "tool_search_call"
    id: str | None = None
    call_id: str | None = None
    arguments: Any = None
    execution: Literal["server", "client"] = "server"
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class ToolSearchOutput(WireModel):
    """The tools a search loaded: they join the model's tools for the rest of the context."""

    type: Literal["tool_search_output"] = "tool_search_output"
    id: str | None = None
    call_id: str | None = None
    execution: Literal["server", "client"] = "server"
    status: Literal["in_progress", "completed", "incomplete"] | None = None
    tools: list[Tool]


TOOL_SOURCES = (AdditionalTools, ToolSearchOutput)
"""Items whose `tools` join the model's tools for the rest of the context."""


class OtherItem(WireModel):
    """An item of a tool this server does not run (yet): kept in history, not shown to the model."""

    type: str
    id: str | None = None


COMPACTION_TRIGGER = "compaction_trigger"
"""A final input item asking the response to compact its context (a signal, not content)."""

# Items produced by hosted or client-side tools that a client may pass back. They are
# accepted and stored as-is; a provider leaves them out of the model's context.
OTHER_ITEM_TYPES = frozenset(
    {
        "code_interpreter_call",
        "program",
        "program_output",
        # Honoured only as the final input item (engine.requests.without_trigger).
        COMPACTION_TRIGGER,
    }
)

_MODELLED = {
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "reasoning",
    "compaction",
    "item_reference",
    "mcp_list_tools",
    "mcp_call",
    "mcp_approval_request",
    "mcp_approval_response",
    "file_search_call",
    "web_search_call",
    "additional_tools",
    "tool_search_call",
    "tool_search_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "shell_call",
    "shell_call_output",
    "local_shell_call",
    "local_shell_call_output",
    "computer_call",
    "computer_call_output",
    "image_generation_call",
}


def _item_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type")
        if kind is None and "role" in value:
            return "message"  # an "easy" message: {role, content}
    else:
        kind = getattr(value, "type", None)
    if not isinstance(kind, str):
        return None  # no usable `type`: a validation error naming the item, never a crash
    if kind in OTHER_ITEM_TYPES:
        return "other"
    return kind


InputItem: TypeAlias = Annotated[
    Annotated[Message, Tag("message")]
    | Annotated[FunctionCall, Tag("function_call")]
    | Annotated[FunctionCallOutput, Tag("function_call_output")]
    | Annotated[CustomToolCall, Tag("custom_tool_call")]
    | Annotated[CustomToolCallOutput, Tag("custom_tool_call_output")]
    | Annotated[Reasoning, Tag("reasoning")]
    | Annotated[Compaction, Tag("compaction")]
    | Annotated[ItemReference, Tag("item_reference")]
    | Annotated[McpListTools, Tag("mcp_list_tools")]
    | Annotated[McpCall, Tag("mcp_call")]
    | Annotated[McpApprovalRequest, Tag("mcp_approval_request")]
    | Annotated[McpApprovalResponse, Tag("mcp_approval_response")]
    | Annotated[FileSearchCall, Tag("file_search_call")]
    | Annotated[WebSearchCall, Tag("web_search_call")]
    | Annotated[ImageGenerationCall, Tag("image_generation_call")]
    | Annotated[AdditionalTools, Tag("additional_tools")]
    | Annotated[ToolSearchCall, Tag("tool_search_call")]
    | Annotated[ToolSearchOutput, Tag("tool_search_output")]
    | Annotated[ApplyPatchCall, Tag("apply_patch_call")]
    | Annotated[ApplyPatchCallOutput, Tag("apply_patch_call_output")]
    | Annotated[ShellCall, Tag("shell_call")]
    | Annotated[ShellCallOutput, Tag("shell_call_output")]
    | Annotated[LocalShellCall, Tag("local_shell_call")]
    | Annotated[LocalShellCallOutput, Tag("local_shell_call_output")]
    | Annotated[ComputerCall, Tag("computer_call")]
    | Annotated[ComputerCallOutput, Tag("computer_call_output")]
    | Annotated[OtherItem, Tag("other")],
    Discriminator(
        _item_tag,
        custom_error_type="invalid_item_type",
        custom_error_message="Unsupported input item type. Supported types: "
        + ", ".join(sorted(_MODELLED | OTHER_ITEM_TYPES)),
    ),
]
"""Anything accepted in `input` (and stored as context)."""

OutputItem: TypeAlias = InputItem
"""Output items share the input union: stored context mixes both."""

Item: TypeAlias = (
    Message
    | FunctionCall
    | FunctionCallOutput
    | CustomToolCall
    | CustomToolCallOutput
    | Reasoning
    | Compaction
    | ItemReference
    | McpListTools
    | McpCall
    | McpApprovalRequest
    | McpApprovalResponse
    | FileSearchCall
    | WebSearchCall
    | ImageGenerationCall
    | AdditionalTools
    | ToolSearchCall
    | ToolSearchOutput
    | ApplyPatchCall
    | ApplyPatchCallOutput
    | ShellCall
    | ShellCallOutput
    | LocalShellCall
    | LocalShellCallOutput
    | ComputerCall
    | ComputerCallOutput
    | OtherItem
)
