"""Streaming events, one class per wire `type`; `ResponseStreamEvent` is their union.

`sequence_number` is assigned by the engine when the event is emitted.
"""

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, Field

from responsd.types.content import OutputContentPart, SummaryText
from responsd.types.items import OutputItem
from responsd.types.response import Response


class _Event(BaseModel):
    sequence_number: int = 0


class ResponseCreatedEvent(_Event):
    """The response exists; always the first event."""

    type: Literal["response.created"] = "response.created"
    response: Response


class ResponseInProgressEvent(_Event):
    """The model started working."""

    type: Literal["response.in_progress"] = "response.in_progress"
    response: Response


class ResponseCompletedEvent(_Event):
    """Terminal: the response finished; carries the final snapshot."""

    type: Literal["response.completed"] = "response.completed"
    response: Response


class ResponseIncompleteEvent(_Event):
    """Terminal: the response stopped early (see `incomplete_details`)."""

    type: Literal["response.incomplete"] = "response.incomplete"
    response: Response


class ResponseFailedEvent(_Event):
    """Terminal: the response failed (see `error`)."""

    type: Literal["response.failed"] = "response.failed"
    response: Response


class ResponseOutputItemAddedEvent(_Event):
    """A new output item was opened at `output_index`."""

    type: Literal["response.output_item.added"] = "response.output_item.added"
    output_index: int
    item: OutputItem


class ResponseOutputItemDoneEvent(_Event):
    """The output item at `output_index` is final."""

    type: Literal["response.output_item.done"] = "response.output_item.done"
    output_index: int
    item: OutputItem


class ResponseContentPartAddedEvent(_Event):
    """A content part was opened inside a message."""

    type: Literal["response.content_part.added"] = "response.content_part.added"
    item_id: str
    output_index: int
    content_index: int
    part: OutputContentPart


class ResponseContentPartDoneEvent(_Event):
    """A content part is final."""

    type: Literal["response.content_part.done"] = "response.content_part.done"
    item_id: str
    output_index: int
    content_index: int
    part: OutputContentPart


class ResponseOutputTextDeltaEvent(_Event):
    """More text for an `output_text` part."""

    type: Literal["response.output_text.delta"] = "response.output_text.delta"
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list = Field(default_factory=list)


class ResponseOutputTextDoneEvent(_Event):
    """The full text of an `output_text` part."""

    type: Literal["response.output_text.done"] = "response.output_text.done"
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list = Field(default_factory=list)


class ResponseRefusalDeltaEvent(_Event):
    """More text for a `refusal` part."""

    type: Literal["response.refusal.delta"] = "response.refusal.delta"
    item_id: str
    output_index: int
    content_index: int
    delta: str


class ResponseRefusalDoneEvent(_Event):
    """The full text of a `refusal` part."""

    type: Literal["response.refusal.done"] = "response.refusal.done"
    item_id: str
    output_index: int
    content_index: int
    refusal: str


class ResponseFunctionCallArgumentsDeltaEvent(_Event):
    """More of a function call's JSON arguments."""

    type: Literal["response.function_call_arguments.delta"] = (
        "response.function_call_arguments.delta"
    )
    item_id: str
    output_index: int
    delta: str


class ResponseFunctionCallArgumentsDoneEvent(_Event):
    """A function call's complete arguments."""

    type: Literal["response.function_call_arguments.done"] = "response.function_call_arguments.done"
    item_id: str
    output_index: int
    name: str
    arguments: str


class ResponseCustomToolCallInputDeltaEvent(_Event):
    """More of a custom tool call's input."""

    type: Literal["response.custom_tool_call_input.delta"] = "response.custom_tool_call_input.delta"
    item_id: str
    output_index: int
    delta: str


class ResponseCustomToolCallInputDoneEvent(_Event):
    """A custom tool call's complete input."""

    type: Literal["response.custom_tool_call_input.done"] = "response.custom_tool_call_input.done"
    item_id: str
    output_index: int
    input: str


class ResponseReasoningTextDeltaEvent(_Event):
    """More raw reasoning text."""

    type: Literal["response.reasoning_text.delta"] = "response.reasoning_text.delta"
    item_id: str
    output_index: int
    content_index: int
    delta: str


class ResponseReasoningTextDoneEvent(_Event):
    """The full raw reasoning text of one part."""

    type: Literal["response.reasoning_text.done"] = "response.reasoning_text.done"
    item_id: str
    output_index: int
    content_index: int
    text: str


class ResponseReasoningSummaryPartAddedEvent(_Event):
    """A summary part was opened on a reasoning item."""

    type: Literal["response.reasoning_summary_part.added"] = "response.reasoning_summary_part.added"
    item_id: str
    output_index: int
    summary_index: int
    part: SummaryText


class ResponseReasoningSummaryPartDoneEvent(_Event):
    """A summary part is final."""

    type: Literal["response.reasoning_summary_part.done"] = "response.reasoning_summary_part.done"
    item_id: str
    output_index: int
    summary_index: int
    part: SummaryText


class ResponseReasoningSummaryTextDeltaEvent(_Event):
    """More summary text."""

    type: Literal["response.reasoning_summary_text.delta"] = "response.reasoning_summary_text.delta"
    item_id: str
    output_index: int
    summary_index: int
    delta: str


class ResponseReasoningSummaryTextDoneEvent(_Event):
    """The full text of a summary part."""

    type: Literal["response.reasoning_summary_text.done"] = "response.reasoning_summary_text.done"
    item_id: str
    output_index: int
    summary_index: int
    text: str


class _ItemProgressEvent(_Event):
    item_id: str
    output_index: int


class ResponseMcpListToolsInProgressEvent(_ItemProgressEvent):
    """This server started listing an MCP server's tools."""

    type: Literal["response.mcp_list_tools.in_progress"] = "response.mcp_list_tools.in_progress"


class ResponseMcpListToolsCompletedEvent(_ItemProgressEvent):
    """The MCP server listed its tools."""

    type: Literal["response.mcp_list_tools.completed"] = "response.mcp_list_tools.completed"


class ResponseMcpListToolsFailedEvent(_ItemProgressEvent):
    """The MCP server could not be reached or could not list its tools."""

    type: Literal["response.mcp_list_tools.failed"] = "response.mcp_list_tools.failed"


class ResponseMcpCallArgumentsDeltaEvent(_ItemProgressEvent):
    """More of an MCP call's arguments (JSON text)."""

    type: Literal["response.mcp_call_arguments.delta"] = "response.mcp_call_arguments.delta"
    delta: str


class ResponseMcpCallArgumentsDoneEvent(_ItemProgressEvent):
    """An MCP call's arguments are final."""

    type: Literal["response.mcp_call_arguments.done"] = "response.mcp_call_arguments.done"
    arguments: str


class ResponseMcpCallInProgressEvent(_ItemProgressEvent):
    """An MCP call was sent to its server."""

    type: Literal["response.mcp_call.in_progress"] = "response.mcp_call.in_progress"


class ResponseMcpCallCompletedEvent(_ItemProgressEvent):
    """An MCP call returned its output."""

    type: Literal["response.mcp_call.completed"] = "response.mcp_call.completed"


class ResponseMcpCallFailedEvent(_ItemProgressEvent):
    """An MCP call failed (see the item's `error`)."""

    type: Literal["response.mcp_call.failed"] = "response.mcp_call.failed"


class ErrorEvent(_Event):
    """A failure after the stream started; flat, as the hosted API sends it."""

    type: Literal["error"] = "error"
    code: str | None
    message: str
    param: str | None


class ResponseFileSearchCallInProgressEvent(_ItemProgressEvent):
    """A file search call started."""

    type: Literal["response.file_search_call.in_progress"] = "response.file_search_call.in_progress"


class ResponseFileSearchCallSearchingEvent(_ItemProgressEvent):
    """A file search call is searching its vector stores."""

    type: Literal["response.file_search_call.searching"] = "response.file_search_call.searching"


class ResponseFileSearchCallCompletedEvent(_ItemProgressEvent):
    """A file search call found its results."""

    type: Literal["response.file_search_call.completed"] = "response.file_search_call.completed"


class ResponseWebSearchCallInProgressEvent(_ItemProgressEvent):
    """A web search call started."""

    type: Literal["response.web_search_call.in_progress"] = "response.web_search_call.in_progress"


class ResponseWebSearchCallSearchingEvent(_ItemProgressEvent):
    """A web search call is searching."""

    type: Literal["response.web_search_call.searching"] = "response.web_search_call.searching"


class ResponseWebSearchCallCompletedEvent(_ItemProgressEvent):
    """A web search call has its results."""

    type: Literal["response.web_search_call.completed"] = "response.web_search_call.completed"


class ResponseImageGenCallInProgressEvent(_ItemProgressEvent):
    """An image generation call started."""

    type: Literal["response.image_generation_call.in_progress"] = (
        "response.image_generation_call.in_progress"
    )


class ResponseImageGenCallGeneratingEvent(_ItemProgressEvent):
    """The image service is generating the image."""

    type: Literal["response.image_generation_call.generating"] = (
        "response.image_generation_call.generating"
    )


class ResponseImageGenCallCompletedEvent(_ItemProgressEvent):
    """The image is generated (the item's `result`)."""

    type: Literal["response.image_generation_call.completed"] = (
        "response.image_generation_call.completed"
    )


class ResponseOutputTextAnnotationAddedEvent(_Event):
    """A citation was added to an output_text part, at `annotation_index`."""

    type: Literal["response.output_text.annotation.added"] = "response.output_text.annotation.added"
    item_id: str
    output_index: int
    content_index: int
    annotation_index: int
    annotation: dict[str, Any]


ResponseStreamEvent: TypeAlias = Annotated[
    ResponseCreatedEvent
    | ResponseInProgressEvent
    | ResponseCompletedEvent
    | ResponseIncompleteEvent
    | ResponseFailedEvent
    | ResponseOutputItemAddedEvent
    | ResponseOutputItemDoneEvent
    | ResponseContentPartAddedEvent
    | ResponseContentPartDoneEvent
    | ResponseOutputTextDeltaEvent
    | ResponseOutputTextDoneEvent
    | ResponseRefusalDeltaEvent
    | ResponseRefusalDoneEvent
    | ResponseFunctionCallArgumentsDeltaEvent
    | ResponseFunctionCallArgumentsDoneEvent
    | ResponseCustomToolCallInputDeltaEvent
    | ResponseCustomToolCallInputDoneEvent
    | ResponseReasoningTextDeltaEvent
    | ResponseReasoningTextDoneEvent
    | ResponseReasoningSummaryPartAddedEvent
    | ResponseReasoningSummaryPartDoneEvent
    | ResponseReasoningSummaryTextDeltaEvent
    | ResponseReasoningSummaryTextDoneEvent
    | ResponseMcpListToolsInProgressEvent
    | ResponseMcpListToolsCompletedEvent
    | ResponseMcpListToolsFailedEvent
    | ResponseMcpCallArgumentsDeltaEvent
    | ResponseMcpCallArgumentsDoneEvent
    | ResponseMcpCallInProgressEvent
    | ResponseMcpCallCompletedEvent
    | ResponseMcpCallFailedEvent
    | ResponseFileSearchCallInProgressEvent
    | ResponseFileSearchCallSearchingEvent
    | ResponseFileSearchCallCompletedEvent
    | ResponseWebSearchCallInProgressEvent
    | ResponseWebSearchCallSearchingEvent
    | ResponseWebSearchCallCompletedEvent
    | ResponseImageGenCallInProgressEvent
    | ResponseImageGenCallGeneratingEvent
    | ResponseImageGenCallCompletedEvent
    | ResponseOutputTextAnnotationAddedEvent
    | ErrorEvent,
    Field(discriminator="type"),
]

TERMINAL_EVENT_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})
