"""Chat Completions request bodies (POST /v1/chat/completions), validated strictly.

Field names and shapes are the hosted API's; an unknown field is a 400 that names it.
"""

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Field

from responsd.types._base import StrictModel
from responsd.types.requests import Metadata, PromptCacheOptions, ServiceTier


class TextPart(StrictModel):
    type: Literal["text"]
    text: str


class ImageURL(StrictModel):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(StrictModel):
    type: Literal["image_url"]
    image_url: ImageURL


class FileRef(StrictModel):
    file_id: str | None = None
    file_data: str | None = None
    filename: str | None = None


class FilePart(StrictModel):
    type: Literal["file"]
    file: FileRef


class AudioPart(StrictModel):
    type: Literal["input_audio"]
    input_audio: dict[str, Any]


class RefusalPart(StrictModel):
    type: Literal["refusal"]
    refusal: str


UserPart: TypeAlias = Annotated[
    TextPart | ImagePart | FilePart | AudioPart, Field(discriminator="type")
]
AssistantPart: TypeAlias = Annotated[TextPart | RefusalPart, Field(discriminator="type")]


class _Message(StrictModel):
    name: str | None = None
    """A participant's name: Responses items cannot carry it (a 400 unless null)."""


class SystemMessage(_Message):
    role: Literal["system", "developer"]
    content: str | list[TextPart]


class UserMessage(_Message):
    role: Literal["user"]
    content: str | list[UserPart]


class CalledFunction(StrictModel):
    name: str = Field(min_length=1)
    arguments: str


class FunctionToolCall(StrictModel):
    type: Literal["function"]
    id: str = Field(min_length=1)
    function: CalledFunction


class CalledCustom(StrictModel):
    name: str = Field(min_length=1)
    input: str


class CustomToolCall(StrictModel):
    type: Literal["custom"]
    id: str = Field(min_length=1)
    custom: CalledCustom


ToolCall: TypeAlias = Annotated[FunctionToolCall | CustomToolCall, Field(discriminator="type")]


class AssistantMessage(_Message):
    role: Literal["assistant"]
    content: str | list[AssistantPart] | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    annotations: list[dict[str, Any]] | None = None
    """Citations of the text, as returned in the completion (clients send the message back)."""
    reasoning_content: str | None = None
    """What open servers (vLLM, SGLang) return as the reasoning; sent back by some clients."""
    audio: dict[str, Any] | None = None
    function_call: dict[str, Any] | None = None


class ToolMessage(StrictModel):
    role: Literal["tool"]
    tool_call_id: str = Field(min_length=1)
    content: str | list[TextPart]


class FunctionMessage(StrictModel):
    role: Literal["function"]
    name: str
    content: str | None = None


ChatMessage: TypeAlias = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]


class FunctionDefinition(StrictModel):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatFunctionTool(StrictModel):
    type: Literal["function"]
    function: FunctionDefinition


class CustomDefinition(StrictModel):
    name: str = Field(min_length=1)
    description: str | None = None
    format: dict[str, Any] | None = None


class ChatCustomTool(StrictModel):
    type: Literal["custom"]
    custom: CustomDefinition


ChatTool: TypeAlias = Annotated[ChatFunctionTool | ChatCustomTool, Field(discriminator="type")]


class NamedFunction(StrictModel):
    name: str


class ChooseFunction(StrictModel):
    type: Literal["function"]
    function: NamedFunction


class ChooseCustom(StrictModel):
    type: Literal["custom"]
    custom: NamedFunction


class AllowedTools(StrictModel):
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class ChooseAllowed(StrictModel):
    type: Literal["allowed_tools"]
    allowed_tools: AllowedTools


ChatToolChoice: TypeAlias = (
    Literal["none", "auto", "required"]
    | Annotated[ChooseFunction | ChooseCustom | ChooseAllowed, Field(discriminator="type")]
)


class JSONSchemaFormat(StrictModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormatText(StrictModel):
    type: Literal["text"]


class ResponseFormatJSONObject(StrictModel):
    type: Literal["json_object"]


class ResponseFormatJSONSchema(StrictModel):
    type: Literal["json_schema"]
    json_schema: JSONSchemaFormat


ResponseFormat: TypeAlias = Annotated[
    ResponseFormatText | ResponseFormatJSONObject | ResponseFormatJSONSchema,
    Field(discriminator="type"),
]


class ChatStreamOptions(StrictModel):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class ChatCompletionRequest(StrictModel):
    """Body of POST /v1/chat/completions."""

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ChatTool] | None = None
    tool_choice: ChatToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    stream: bool | None = None
    stream_options: ChatStreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=128)
    stop: str | list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    metadata: Metadata = None
    user: str | None = None
    safety_identifier: str | None = Field(default=None, max_length=64)
    store: bool | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    prompt_cache_options: PromptCacheOptions | None = None
    service_tier: ServiceTier | None = None
    modalities: list[Literal["text", "audio"]] | None = None

    # Known parameters this server cannot honour: accepted only when null (see chat_input).
    audio: dict[str, Any] | None = None
    logit_bias: dict[str, int] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    moderation: dict[str, Any] | None = None


class ChatCompletionUpdate(StrictModel):
    """Body of POST /v1/chat/completions/{id}: only metadata can change."""

    metadata: Metadata
