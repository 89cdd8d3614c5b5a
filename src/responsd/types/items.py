"""Items: the typed units of context and output (messages, calls, call outputs, …).

Every item keeps the fields it was sent with (`extra="allow"`), so items that clients
pass back (Codex resends our own output every turn) are stored and echoed unchanged.
"""

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Discriminator, Field, Tag, model_validator

from responsd.types._base import WireModel, omitted_when_none
from responsd.types.content import ContentPart, ReasoningText, SummaryText
from responsd.types.tools import Tool

ItemStatus: TypeAlias = Literal["in_progress", "completed", "incomplete"]


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


class CreateFile(WireModel):
    type: Literal["create_file"] = "create_file"
    path: str
    diff: str
    """The new file's lines, each prefixed with `+` (a V4A diff from nothing)."""


class UpdateFile(WireModel):
    type: Literal["update_file"] = "update_file"
    path: str
    diff: str
    """A V4A diff of the file: `@@` hunks of context (` `), removed (`-`) and added (`+`) lines."""


class DeleteFile(WireModel):
    type: Literal["delete_file"] = "delete_file"
    path: str


PatchOperation: TypeAlias = Annotated[
    CreateFile | UpdateFile | DeleteFile, Field(discriminator="type")
]


class ApplyPatchCall(WireModel):
    """The model asking the client (its `apply_patch` tool) to create, change or delete a
    file."""

    type: Literal["apply_patch_call"] = "apply_patch_call"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    operation: PatchOperation
    status: Literal["in_progress", "completed"] = "completed"


class ApplyPatchCallOutput(WireModel):
    """The client's result for an `apply_patch_call`, linked by `call_id`."""

    type: Literal["apply_patch_call_output"] = "apply_patch_call_output"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    status: Literal["completed", "failed"]
    output: str | None = omitted_when_none()


class ShellAction(WireModel):
    commands: list[str]
    timeout_ms: int | None = None
    max_output_length: int | None = None


class ShellCall(WireModel):
    """The model asking the client (its `shell` tool, local environment) to run commands."""

    type: Literal["shell_call"] = "shell_call"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    action: ShellAction
    status: ItemStatus = "completed"
    environment: dict[str, Any] | None = None
    """Where the commands run: `{"type": "local"}` (the client's machine) for this server's
    calls."""


class ShellExit(WireModel):
    type: Literal["exit"] = "exit"
    exit_code: int


class ShellTimeout(WireModel):
    type: Literal["timeout"] = "timeout"


class ShellOutput(WireModel):
    stdout: str
    stderr: str
    outcome: Annotated[ShellExit | ShellTimeout, Field(discriminator="type")]


class ShellCallOutput(WireModel):
    """The client's result for a `shell_call`: each command's output, linked by `call_id`."""

    type: Literal["shell_call_output"] = "shell_call_output"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    output: list[ShellOutput]
    max_output_length: int | None = None
    status: ItemStatus | None = omitted_when_none()


class LocalShellAction(WireModel):
    type: Literal["exec"] = "exec"
    command: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    timeout_ms: int | None = None
    user: str | None = None
    working_directory: str | None = None


class LocalShellCall(WireModel):
    """The model asking the client (its `local_shell` tool) to run one command."""

    type: Literal["local_shell_call"] = "local_shell_call"
    id: str | None = None
    call_id: str = Field(min_length=1)
    action: LocalShellAction
    status: ItemStatus = "completed"


class LocalShellCallOutput(WireModel):
    """The client's result for a `local_shell_call`. The spec links it by `id` (the call's
    id); clients (the Agents SDK) send `call_id`: either is taken as the link."""

    type: Literal["local_shell_call_output"] = "local_shell_call_output"
    id: str | None = None
    call_id: str | None = None
    output: str
    status: ItemStatus | None = omitted_when_none()

    @model_validator(mode="after")
    def _linked(self) -> "LocalShellCallOutput":
        if self.call_id is None:
            if self.id is None:
                raise ValueError("a local_shell_call_output needs `call_id` (or `id`)")
            self.call_id = self.id
        return self


class ComputerCall(WireModel):
    """The model asking the client (its `computer` tool) to act on a screen: `actions` in
    order for the `computer` tool, one `action` for `computer_use_preview`. Each action is
    an object with its `type` (click, double_click, drag, keypress, move, screenshot,
    scroll, type, wait) and that type's fields, kept as sent."""

    type: Literal["computer_call"] = "computer_call"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    action: dict[str, Any] | None = omitted_when_none()
    actions: list[dict[str, Any]] | None = omitted_when_none()
    pending_safety_checks: list[dict[str, Any]] = Field(default_factory=list)
    """Never any here: this server runs no safety classifier over screenshots."""
    status: ItemStatus = "completed"

    @model_validator(mode="after")
    def _acts(self) -> "ComputerCall":
        for action in self.actions if self.actions is not None else [self.action]:
            if not isinstance(action, dict) or not isinstance(action.get("type"), str):
                raise ValueError("a computer_call needs `action` or `actions`, each with a `type`")
        return self


class ComputerScreenshot(WireModel):
    type: Literal["computer_screenshot"] = "computer_screenshot"
    image_url: str | None = omitted_when_none()
    file_id: str | None = omitted_when_none()


class ComputerCallOutput(WireModel):
    """The client's result for a `computer_call`: a screenshot after its actions."""

    type: Literal["computer_call_output"] = "computer_call_output"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    output: ComputerScreenshot
    acknowledged_safety_checks: list[dict[str, Any]] | None = omitted_when_none()
    status: Literal["in_progress", "completed", "incomplete", "failed"] | None = omitted_when_none()


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
        "image_generation_call",
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
