"""Request bodies, validated strictly: an unknown field is a 400 that names it."""

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import AfterValidator, BeforeValidator, Field

from responsd.types._base import StrictModel, WireModel
from responsd.types.items import InputItem
from responsd.types.text import ReasoningConfig, TextConfig
from responsd.types.tools import Tool, ToolChoice


def _check_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if len(value) > 16:
        raise ValueError("metadata may hold at most 16 keys")
    for key, item in value.items():
        if len(key) > 64:
            raise ValueError(f"metadata key '{key[:20]}…' is longer than 64 characters")
        if len(item) > 512:
            raise ValueError(f"metadata value of '{key}' is longer than 512 characters")
    return value


def _none_as(default: Any) -> BeforeValidator:
    """Clients send explicit nulls for "use the default"; treat them so."""
    return BeforeValidator(lambda v: default if v is None else v)


Metadata = Annotated[dict[str, str] | None, AfterValidator(_check_metadata)]


class StreamOptions(StrictModel):
    include_obfuscation: bool = False


ServiceTier: TypeAlias = Literal[
    "auto", "default", "flex", "scale", "priority", "fast", "ultrafast"
]
"""Passed to upstreams as given and echoed; the embedded model has one tier."""


COMPLETION_WINDOWS = {"soonest": 0, "2h": 2 * 3600, "8h": 8 * 3600}
"""`background_options.completion_window`: seconds from acceptance to the completion target."""


class BackgroundOptions(StrictModel):
    """How soon a background response must complete. Queued background responses run
    earliest target first (created_at + window), so on a busy server a `soonest` one goes
    ahead of a `2h` or `8h` one that still has time; one that can start at once does."""

    completion_window: Literal["soonest", "2h", "8h"] = "soonest"
    continuation_id: str | None = Field(default=None, min_length=1, max_length=256)
    """Names the requests of one run (an agent's follow-ups): a response that reuses a
    continuation id, window and model keeps the target of the first (or is due at once when
    that has passed), so it goes ahead of newer work in its window. No history is added."""


class ContextManagement(StrictModel):
    """Server-side compaction: when the model's context reaches `compact_threshold` tokens
    (default: 80% of the model's window, where known), the response compacts it first."""

    type: str
    compact_threshold: int | None = Field(default=None, ge=1000)


class PromptCacheOptions(StrictModel):
    """Prompt cache lifetime and breakpoints. Honoured as given: prompts are cached by
    prefix, implicitly, for at least 30 minutes (embedded model: while the process runs;
    upstreams: as they cache). Explicit breakpoints are not supported (a 400)."""

    ttl: Literal["30m"] | None = None
    mode: Literal["implicit", "explicit"] | None = None


class ContextFields(StrictModel):
    """What decides the model's context; shared by create and input-token counting."""

    model: str = Field(min_length=1)
    input: str | list[InputItem]
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    tools: Annotated[list[Tool], _none_as([])] = Field(default_factory=list)
    tool_choice: Annotated[ToolChoice, _none_as("auto")] = "auto"
    parallel_tool_calls: Annotated[bool, _none_as(True)] = True
    text: Annotated[TextConfig, _none_as(TextConfig())] = Field(default_factory=TextConfig)
    reasoning: ReasoningConfig | None = None
    truncation: Literal["auto", "disabled"] | None = None


class ResponseCreateRequest(ContextFields):
    """Body of POST /v1/responses."""

    store: Annotated[bool, _none_as(True)] = True
    stream: Annotated[bool, _none_as(False)] = False
    background: Annotated[bool, _none_as(False)] = False
    include: Annotated[list[str], _none_as([])] = Field(default_factory=list)
    max_output_tokens: int | None = Field(default=None, ge=16)
    max_tool_calls: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    metadata: Metadata = None
    user: str | None = None
    safety_identifier: str | None = Field(default=None, max_length=64)
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: ServiceTier | None = None
    stream_options: StreamOptions | None = None
    client_metadata: dict[str, Any] | None = None
    """Codex's per-request notes about itself; logged, never shown to the model."""
    background_options: BackgroundOptions | None = None
    context_management: list[ContextManagement] | None = Field(default=None, min_length=1)
    prompt_cache_options: PromptCacheOptions | None = None

    # Known parameters of the hosted API that this server does not support yet: accepted
    # only when null, otherwise rejected with a 400 naming them (see engine.requests).
    prompt: WireModel | None = None
    moderation: WireModel | None = None
    access_programs: WireModel | None = None
    image: WireModel | None = None


class InputTokensRequest(ContextFields):
    """Body of POST /v1/responses/input_tokens."""

    model: str | None = Field(default=None, min_length=1)  # type: ignore[assignment]
    """Optional here, as in the spec: the server's first model counts when it is left out."""
    input: str | list[InputItem] = Field(default_factory=list)
    personality: str | None = None
    """A hosted model's style preset: not available here (a 400 unless null)."""


class CompactRequest(StrictModel):
    """Body of POST /v1/responses/compact."""

    model: str = Field(min_length=1)
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: ServiceTier | None = None
    prompt_cache_options: PromptCacheOptions | None = None
