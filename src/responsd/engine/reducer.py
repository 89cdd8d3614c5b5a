"""The reducer: fold a response's streaming events into its snapshot.

`Reducer` is the only code that changes a snapshot. It updates the snapshot in place
(copying a growing response for each text delta would be quadratic) and lifecycle events,
which carry a whole response, simply replace it. A delta's text is gathered with the other
deltas of its part and joined when the snapshot is next read or another kind of event comes:
appending each token to the part's string would copy the text so far every time (100,000
deltas: ~6 s of CPU, measured).
"""

from collections.abc import Callable
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


class Reducer:
    """A response's snapshot, as the events applied so far make it."""

    def __init__(self, snapshot: Response | None = None) -> None:
        self._snapshot = snapshot
        self._growing: dict[tuple[int, str], tuple[Any, list[str]]] = {}
        """Deltas not joined yet: (id of their part or item, field) → (it, the deltas)."""

    @property
    def snapshot(self) -> Response:
        if self._snapshot is None:
            raise ValueError("no response yet: 'response.created' comes first")
        if self._growing:
            self._join()
        return self._snapshot

    def apply(self, event: ResponseStreamEvent) -> None:
        kind = type(event)
        if kind in _WHOLE:
            self._growing.clear()  # the new snapshot has all the text
            self._snapshot = event.response  # type: ignore[union-attr]
            return
        if self._snapshot is None:
            raise ValueError(f"'{event.type}' arrived before 'response.created'")
        output: list[Any] = self._snapshot.output
        grows = _GROWS.get(kind)
        if grows is not None:
            target, name = grows(output, event)
            key = (id(target), name)
            growing = self._growing.get(key)
            if growing is None:
                self._growing[key] = (target, [event.delta])  # type: ignore[union-attr]
            else:
                growing[1].append(event.delta)  # type: ignore[union-attr]
            return
        step = _STEPS.get(kind)
        if step is not None:
            if self._growing:  # a done event replaces the text; an added item shifts nothing
                self._join()
            step(output, event)
        # Others (ErrorEvent: the response.failed that follows carries the error; tool progress
        # events: the item's final state arrives with output_item.done) change nothing.

    def _join(self) -> None:
        for (_, name), (target, deltas) in self._growing.items():
            setattr(target, name, getattr(target, name) + "".join(deltas))
        self._growing.clear()


# Found by the event's class, not by a chain of patterns: a token's delta is most events of
# a response, and it would be tried against every class before its own.
_WHOLE = frozenset(
    {
        ResponseCreatedEvent,
        ResponseInProgressEvent,
        ResponseCompletedEvent,
        ResponseIncompleteEvent,
        ResponseFailedEvent,
    }
)
"""Lifecycle events: each carries the whole response, which becomes the snapshot."""

# The items' kinds follow from the event order the engine keeps (a text delta only ever names
# a message's text part): the steps index the wire shapes without re-checking them.


def _text_grows(output: list[Any], e: ResponseOutputTextDeltaEvent) -> tuple[Any, str]:
    part = output[e.output_index].content[e.content_index]
    if e.logprobs:
        part.logprobs += e.logprobs
    return part, "text"


def _part_grows(
    output: list[Any], e: ResponseReasoningTextDeltaEvent | ResponseRefusalDeltaEvent
) -> tuple[Any, str]:
    name = "refusal" if type(e) is ResponseRefusalDeltaEvent else "text"
    return output[e.output_index].content[e.content_index], name


def _arguments_grow(
    output: list[Any],
    e: ResponseFunctionCallArgumentsDeltaEvent | ResponseMcpCallArgumentsDeltaEvent,
) -> tuple[Any, str]:
    return output[e.output_index], "arguments"


def _input_grows(output: list[Any], e: ResponseCustomToolCallInputDeltaEvent) -> tuple[Any, str]:
    return output[e.output_index], "input"


def _summary_grows(output: list[Any], e: ResponseReasoningSummaryTextDeltaEvent) -> tuple[Any, str]:
    return output[e.output_index].summary[e.summary_index], "text"


_GROWS: dict[type, Callable[[list[Any], Any], tuple[Any, str]]] = {
    ResponseOutputTextDeltaEvent: _text_grows,
    ResponseReasoningTextDeltaEvent: _part_grows,
    ResponseRefusalDeltaEvent: _part_grows,
    ResponseFunctionCallArgumentsDeltaEvent: _arguments_grow,
    ResponseMcpCallArgumentsDeltaEvent: _arguments_grow,
    ResponseCustomToolCallInputDeltaEvent: _input_grows,
    ResponseReasoningSummaryTextDeltaEvent: _summary_grows,
}
"""Delta events: the part or item whose field (named) their text extends."""


def _item_added(output: list[Any], e: ResponseOutputItemAddedEvent) -> None:
    if e.output_index != len(output):
        raise ValueError(f"output_index {e.output_index} is not the next index")
    output.append(e.item)


def _item_done(output: list[Any], e: ResponseOutputItemDoneEvent) -> None:
    output[e.output_index] = e.item


def _part_added(output: list[Any], e: ResponseContentPartAddedEvent) -> None:
    output[e.output_index].content.append(e.part)


def _part_done(output: list[Any], e: ResponseContentPartDoneEvent) -> None:
    output[e.output_index].content[e.content_index] = e.part


def _annotation_added(output: list[Any], e: ResponseOutputTextAnnotationAddedEvent) -> None:
    output[e.output_index].content[e.content_index].annotations.append(dict(e.annotation))


def _text_done(output: list[Any], e: ResponseOutputTextDoneEvent) -> None:
    output[e.output_index].content[e.content_index].text = e.text


def _refusal_done(output: list[Any], e: ResponseRefusalDoneEvent) -> None:
    output[e.output_index].content[e.content_index].refusal = e.refusal


def _arguments_done(
    output: list[Any], e: ResponseFunctionCallArgumentsDoneEvent | ResponseMcpCallArgumentsDoneEvent
) -> None:
    output[e.output_index].arguments = e.arguments


def _input_done(output: list[Any], e: ResponseCustomToolCallInputDoneEvent) -> None:
    output[e.output_index].input = e.input


def _reasoning_done(output: list[Any], e: ResponseReasoningTextDoneEvent) -> None:
    output[e.output_index].content[e.content_index].text = e.text


def _summary_part_added(output: list[Any], e: ResponseReasoningSummaryPartAddedEvent) -> None:
    output[e.output_index].summary.append(e.part)


def _summary_part_done(output: list[Any], e: ResponseReasoningSummaryPartDoneEvent) -> None:
    output[e.output_index].summary[e.summary_index] = e.part


def _summary_done(output: list[Any], e: ResponseReasoningSummaryTextDoneEvent) -> None:
    output[e.output_index].summary[e.summary_index].text = e.text


_STEPS: dict[type, Callable[[list[Any], Any], None]] = {
    ResponseOutputItemAddedEvent: _item_added,
    ResponseOutputItemDoneEvent: _item_done,
    ResponseContentPartAddedEvent: _part_added,
    ResponseContentPartDoneEvent: _part_done,
    ResponseOutputTextAnnotationAddedEvent: _annotation_added,
    ResponseOutputTextDoneEvent: _text_done,
    ResponseRefusalDoneEvent: _refusal_done,
    ResponseFunctionCallArgumentsDoneEvent: _arguments_done,
    ResponseCustomToolCallInputDoneEvent: _input_done,
    ResponseReasoningTextDoneEvent: _reasoning_done,
    ResponseReasoningSummaryPartAddedEvent: _summary_part_added,
    ResponseReasoningSummaryPartDoneEvent: _summary_part_done,
    ResponseReasoningSummaryTextDoneEvent: _summary_done,
    ResponseMcpCallArgumentsDoneEvent: _arguments_done,
}
"""What each other event that changes an item does to the snapshot's output."""
