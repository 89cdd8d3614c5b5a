"""The Response object, as stored, returned and carried by lifecycle events."""

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from responsd.types.items import OutputItem
from responsd.types.text import TextConfig
from responsd.types.tools import Tool, ToolChoice


class ResponseStatus(StrEnum):
    QUEUED = "queued"  # accepted for background work, not started
    IN_PROGRESS = "in_progress"  # the model is producing output
    COMPLETED = "completed"  # finished normally
    INCOMPLETE = "incomplete"  # stopped early; incomplete_details says why
    FAILED = "failed"  # stopped by an error; `error` says which
    CANCELLED = "cancelled"  # stopped on the client's request (background only)


class ResponseError(BaseModel):
    """Why a response failed."""

    code: str
    message: str


class IncompleteDetails(BaseModel):
    """Why a response stopped early."""

    reason: Literal["max_output_tokens", "content_filter", "steered"]
    """`steered`: WebSocket steering ended it between model turns (api/steering.py)."""


class InputTokensDetails(BaseModel):
    cached_tokens: int = 0
    """Input tokens served from the backend's prompt cache."""
    cache_write_tokens: int = 0
    """Input tokens written to the prompt cache (chat upstreams do not report it: 0)."""


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int = 0
    """Output tokens spent on reasoning."""


class Usage(BaseModel):
    """Token accounting as reported by the model backend."""

    input_tokens: int
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens: int
    output_tokens_details: OutputTokensDetails = Field(default_factory=OutputTokensDetails)
    total_tokens: int


class ReasoningEcho(BaseModel):
    effort: str | None = None
    summary: str | None = None
    context: str | None = Field(default=None, exclude_if=lambda v: v is None)


class ConversationRef(BaseModel):
    id: str


class Response(BaseModel):
    """A model response: every field always present, as the hosted API sends it."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    completed_at: int | None = None
    status: ResponseStatus
    background: bool = False
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    model: str
    output: list[OutputItem] = Field(default_factory=list)
    previous_response_id: str | None = None
    conversation: ConversationRef | None = None
    tools: list[Tool] = Field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool = True
    max_tool_calls: int | None = None
    truncation: Literal["auto", "disabled"] = "disabled"
    text: TextConfig = Field(default_factory=TextConfig)
    reasoning: ReasoningEcho = Field(default_factory=ReasoningEcho)
    max_output_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    top_logprobs: int = 0
    store: bool = True
    metadata: dict[str, str] = Field(default_factory=dict)
    usage: Usage | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    service_tier: str = "default"

    def dump_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()
