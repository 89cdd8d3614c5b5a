"""Tools a request offers the model, and `tool_choice`."""

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import ConfigDict, Discriminator, Field, Tag

from responsd.types._base import WireModel, omitted_when_none

CLIENT_TOOL_TYPES = frozenset({"function", "custom", "namespace"})
"""Tool types whose calls are returned to the client; every other type is a hosted tool."""
_MODELLED_TOOL_TYPES = CLIENT_TOOL_TYPES | {
    "mcp",
    "file_search",
    "computer",
    "computer_use_preview",
    "image_generation",
    "tool_search",
    "apply_patch",
    "shell",
    "local_shell",
}


class FunctionTool(WireModel):
    """A function the client runs; the model writes its arguments as JSON."""

    type: Literal["function"] = "function"
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    """JSON Schema of the arguments object."""
    strict: bool | None = None
    """Whether the arguments must follow `parameters` exactly (passed to the model backend)."""
    defer_loading: bool | None = omitted_when_none()
    """With a `tool_search` tool: hidden from the model until a search loads it."""


class CustomTool(WireModel):
    """A tool taking free-form text, optionally constrained by a grammar (`format`)."""

    type: Literal["custom"] = "custom"
    name: str = Field(min_length=1)
    description: str | None = omitted_when_none()
    format: dict[str, Any] | None = omitted_when_none()
    """`{"type": "text"}` or `{"type": "grammar", "syntax": "lark" | "regex", "definition"}`."""


class NamespaceTool(WireModel):
    """A named group of functions; calls keep `namespace` and `name` apart."""

    type: Literal["namespace"] = "namespace"
    name: str = Field(min_length=1)
    description: str | None = omitted_when_none()
    tools: list[Annotated[FunctionTool | CustomTool, Field(discriminator="type")]]


class McpToolFilter(WireModel):
    """Tools of an MCP server picked by name and/or by their `readOnlyHint` annotation."""

    tool_names: list[str] | None = None
    read_only: bool | None = None


class McpApprovalFilter(WireModel):
    """Which tools need approval (`always`) and which do not (`never`)."""

    always: McpToolFilter | None = None
    never: McpToolFilter | None = None


class McpTool(WireModel):
    """A remote MCP server whose tools this server lists and calls for the model."""

    type: Literal["mcp"] = "mcp"
    server_label: str = Field(min_length=1)
    server_url: str | None = None
    connector_id: str | None = omitted_when_none()
    tunnel_id: str | None = omitted_when_none()
    server_description: str | None = omitted_when_none()
    headers: dict[str, str] | None = Field(default=None, exclude=True)
    """Secret: sent to the MCP server, never stored, echoed or logged."""
    authorization: str | None = Field(default=None, exclude=True)
    """Secret: an OAuth token sent as `Authorization: Bearer …`; never stored or echoed."""
    allowed_tools: list[str] | McpToolFilter | None = None
    require_approval: Literal["always", "never"] | McpApprovalFilter | None = "always"
    """The hosted API's default: every call needs approval unless configured otherwise."""
    allowed_callers: list[str] | None = omitted_when_none()
    defer_loading: bool | None = omitted_when_none()


def _is_none(value: object) -> bool:
    return value is None


class HybridSearchWeights(WireModel):
    """How reciprocal rank fusion weighs vector matches against keyword matches."""

    model_config = ConfigDict(extra="forbid")
    embedding_weight: float = Field(ge=0)
    text_weight: float = Field(ge=0)


class FileSearchRankingOptions(WireModel):
    model_config = ConfigDict(extra="forbid")
    ranker: Literal["auto", "default-2024-11-15", "default_2024_08_21"] | None = omitted_when_none()
    """Every ranker is this server's hybrid fusion; there is no separate re-ranking model."""
    score_threshold: float | None = Field(default=None, ge=0, le=1, exclude_if=_is_none)
    hybrid_search: HybridSearchWeights | None = omitted_when_none()


class FileSearchTool(WireModel):
    """Search of the user's vector stores, run by this server (hybrid keyword + vector)."""

    type: Literal["file_search"] = "file_search"
    vector_store_ids: list[str] = Field(min_length=1)
    max_num_results: int | None = Field(default=None, ge=1, le=50, exclude_if=_is_none)
    ranking_options: FileSearchRankingOptions | None = omitted_when_none()
    filters: dict[str, Any] | None = omitted_when_none()


class HostedTool(WireModel):
    """A tool the server would run itself (web_search, file_search, mcp, …), kept verbatim."""

    type: str


class ComputerTool(WireModel):
    """A screen the client controls: the model writes `computer_call` items (a batch of
    `actions`: click, type, scroll, …), the client runs them and answers with a
    `computer_call_output` holding a screenshot."""

    type: Literal["computer"] = "computer"


class ComputerUsePreviewTool(WireModel):
    """The preview form of the computer tool: one `action` per call, on a display whose
    kind and size the request states."""

    type: Literal["computer_use_preview"] = "computer_use_preview"
    environment: Literal["windows", "mac", "linux", "ubuntu", "browser"]
    display_width: int = Field(gt=0)
    display_height: int = Field(gt=0)


WEB_SEARCH_TYPES = frozenset(
    {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}
)


class WebSearchFilters(WireModel):
    allowed_domains: list[str] | None = None


class WebSearchTool(HostedTool):
    """Web search: run by this server when a search backend is set (`web_search_url`),
    withheld otherwise."""

    type: Literal[
        "web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"
    ]
    filters: WebSearchFilters | None = omitted_when_none()
    search_context_size: Literal["low", "medium", "high"] | None = omitted_when_none()
    user_location: dict[str, Any] | None = omitted_when_none()
    """`{type: "approximate", city, region, country, timezone}`: told to the model."""
    external_web_access: bool | None = omitted_when_none()
    """False: no page is fetched live (the model gets no `open_page`), only the backend's
    snippets are read."""
    search_content_types: list[str] | None = omitted_when_none()
    """Only `text` results here."""


class ImageGenerationTool(HostedTool):
    """Image generation (and edits): run by this server when an image service is set
    (`images_url`), withheld otherwise. Settings are the image service's to check (models
    differ)."""

    type: Literal["image_generation"] = "image_generation"
    model: str | None = omitted_when_none()
    size: str | None = omitted_when_none()
    quality: str | None = omitted_when_none()
    background: str | None = omitted_when_none()
    output_format: str | None = omitted_when_none()
    output_compression: int | None = omitted_when_none()
    moderation: str | None = omitted_when_none()
    partial_images: int | None = omitted_when_none()
    action: Literal["generate", "edit", "auto"] | None = omitted_when_none()
    input_fidelity: str | None = omitted_when_none()
    input_image_mask: dict[str, Any] | None = omitted_when_none()


class ApplyPatchTool(WireModel):
    """File edits the client makes: the model writes `apply_patch_call` items (an operation
    on one file: create, update with a V4A diff, delete), the client answers each with an
    `apply_patch_call_output`."""

    type: Literal["apply_patch"] = "apply_patch"
    allowed_callers: list[Literal["direct", "programmatic"]] | None = omitted_when_none()


class ShellTool(WireModel):
    """Shell commands: with a `local` environment (the default) the client runs them (the
    model writes `shell_call` items, the client answers with `shell_call_output`); a hosted
    container is not available here (the tool is then withheld, as other hosted tools are)."""

    type: Literal["shell"] = "shell"
    environment: dict[str, Any] | None = omitted_when_none()
    allowed_callers: list[Literal["direct", "programmatic"]] | None = omitted_when_none()

    @property
    def local(self) -> bool:
        return self.environment is None or self.environment.get("type", "local") == "local"


class LocalShellTool(WireModel):
    """One shell command at a time on the client's machine (`local_shell_call` items, answered
    by `local_shell_call_output`); the older form of a local `shell` tool."""

    type: Literal["local_shell"] = "local_shell"


class ToolSearchTool(WireModel):
    """Search over the request's deferred functions (`defer_loading`), run by this server
    (`execution: server`, the default) or by the client (`client`: the model's call is handed
    over, the client answers with the tools to load)."""

    type: Literal["tool_search"] = "tool_search"
    execution: Literal["server", "client"] | None = omitted_when_none()
    description: str | None = omitted_when_none()
    """Client execution: what the model is told the search does."""
    parameters: dict[str, Any] | None = omitted_when_none()
    """Client execution: the JSON Schema of the search's arguments."""


def _tool_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return "hosted"  # fails there, as a validation error naming the field
    if kind in WEB_SEARCH_TYPES:
        return "web_search"
    return kind if kind in _MODELLED_TOOL_TYPES else "hosted"


Tool: TypeAlias = Annotated[
    Annotated[FunctionTool, Tag("function")]
    | Annotated[CustomTool, Tag("custom")]
    | Annotated[NamespaceTool, Tag("namespace")]
    | Annotated[McpTool, Tag("mcp")]
    | Annotated[FileSearchTool, Tag("file_search")]
    | Annotated[ComputerTool, Tag("computer")]
    | Annotated[ComputerUsePreviewTool, Tag("computer_use_preview")]
    | Annotated[ToolSearchTool, Tag("tool_search")]
    | Annotated[ApplyPatchTool, Tag("apply_patch")]
    | Annotated[ShellTool, Tag("shell")]
    | Annotated[LocalShellTool, Tag("local_shell")]
    | Annotated[WebSearchTool, Tag("web_search")]
    | Annotated[ImageGenerationTool, Tag("image_generation")]
    | Annotated[HostedTool, Tag("hosted")],
    Discriminator(_tool_tag),
]


class ToolChoiceFunction(WireModel):
    """Force a call of this function."""

    type: Literal["function"]
    name: str


class ToolChoiceCustom(WireModel):
    """Force a call of this custom tool."""

    type: Literal["custom"]
    name: str


class ToolChoiceAllowed(WireModel):
    """Restrict the model to a subset of `tools`; `mode` says whether a call is required."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class ToolChoiceHosted(WireModel):
    """Force a hosted tool by type (`web_search`, `file_search`, `mcp`, …)."""

    type: str


def _choice_tag(value: Any) -> str:
    if isinstance(value, str):
        return "mode"
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if isinstance(kind, str) and kind in {"function", "custom", "allowed_tools"}:
        return kind
    return "hosted"  # a non-string type fails there, as a validation error


ToolChoice: TypeAlias = Annotated[
    Annotated[Literal["none", "auto", "required"], Tag("mode")]
    | Annotated[ToolChoiceFunction, Tag("function")]
    | Annotated[ToolChoiceCustom, Tag("custom")]
    | Annotated[ToolChoiceAllowed, Tag("allowed_tools")]
    | Annotated[ToolChoiceHosted, Tag("hosted")],
    Discriminator(_choice_tag),
]
