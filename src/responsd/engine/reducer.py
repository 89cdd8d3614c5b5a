"""The reducer: fold one streaming event into the Response snapshot.

`apply` is the only code that changes a snapshot. It updates the snapshot in place
(copying a growing response for each text delta would be quadratic) and returns it;
lifecycle events carry a whole response, which simply becomes the snapshot.
"""

from typing import Any

from responsd.types.events import (
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseCustomToolCallInputDeltaEvent,
    ResponseCustomToolCallInputDoneEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseMcpCallArgumentsDeltaEvent,
    ResponseMcpCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseOutputTextDeltaEvent,
    ResponseOutputTextDoneEvent,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseReasoningTextDoneEvent,
    ResponseRefusalDeltaEvent,
    ResponseRefusalDoneEvent,
    ResponseStreamEvent,
)
from responsd.types.response import Response


def apply(snapshot: Response | None, event: ResponseStreamEvent) -> Response:
    match event:
        case (
            ResponseCreatedEvent()
            | ResponseInProgressEvent()
            | ResponseCompletedEvent()
            | ResponseIncompleteEvent()
            | ResponseFailedEvent()
        ):
            return event.response
    if snapshot is None:
        raise ValueError(f"'{event.type}' arrived before 'response.created'")
    # The items' kinds follow from the event order the engine keeps (a text delta only ever
    # names a message's text part): the reducer indexes the wire shapes without re-checking.
    output: list[Any] = snapshot.output
    match event:
        case ResponseOutputItemAddedEvent():
            if event.output_index != len(output):
                raise ValueError(f"output_index {event.output_index} is not the next index")
            output.append(event.item)
        case ResponseOutputItemDoneEvent():
            output[event.output_index] = event.item
        case ResponseContentPartAddedEvent():
            output[event.output_index].content.append(event.part)
        case ResponseContentPartDoneEvent():
            output[event.output_index].content[event.content_index] = event.part
        case ResponseOutputTextDeltaEvent():
            part = output[event.output_index].content[event.content_index]
            part.text += event.delta
            if event.logprobs:
                part.logprobs += event.logprobs
        case ResponseOutputTextAnnotationAddedEvent():
            part = output[event.output_index].content[event.content_index]
            part.annotations.append(dict(event.annotation))
        case ResponseOutputTextDoneEvent():
            output[event.output_index].content[event.content_index].text = event.text
        case ResponseRefusalDeltaEvent():
            output[event.output_index].content[event.content_index].refusal += event.delta
        case ResponseRefusalDoneEvent():
            output[event.output_index].content[event.content_index].refusal = event.refusal
        case ResponseFunctionCallArgumentsDeltaEvent():
            output[event.output_index].arguments += event.delta
        case ResponseFunctionCallArgumentsDoneEvent():
            output[event.output_index].arguments = event.arguments
        case ResponseCustomToolCallInputDeltaEvent():
            output[event.output_index].input += event.delta
        case ResponseCustomToolCallInputDoneEvent():
            output[event.output_index].input = event.input
        case ResponseReasoningTextDeltaEvent():
            output[event.output_index].content[event.content_index].text += event.delta
        case ResponseReasoningTextDoneEvent():
            output[event.output_index].content[event.content_index].text = event.text
        case ResponseReasoningSummaryPartAddedEvent():
            output[event.output_index].summary.append(event.part)
        case ResponseReasoningSummaryPartDoneEvent():
            output[event.output_index].summary[event.summary_index] = event.part
        case ResponseReasoningSummaryTextDeltaEvent():
            output[event.output_index].summary[event.summary_index].text += event.delta
        case ResponseReasoningSummaryTextDoneEvent():
            output[event.output_index].summary[event.summary_index].text = event.text
        case ResponseMcpCallArgumentsDeltaEvent():
            output[event.output_index].arguments += event.delta
        case ResponseMcpCallArgumentsDoneEvent():
            output[event.output_index].arguments = event.arguments
        case _:
            # ErrorEvent (the response.failed that follows carries the error) and tool
            # progress events: the item's final state arrives with output_item.done.
            pass
    return snapshot
