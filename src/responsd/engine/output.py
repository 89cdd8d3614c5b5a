"""Turn a model turn's deltas into output-item events, with ids and indices.

The builder keeps its own accumulators and hands every event a fresh item or part, so the
reducer can own what it receives.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from responsd.engine.citations import CitationFilter
from responsd.ids import new_item_id
from responsd.providers.base import TokenLogprob, ToolSpec
from responsd.tools import client_run
from responsd.tools.file_search import Citations
from responsd.types.content import ContentPart, OutputText, ReasoningText, Refusal, SummaryText
from responsd.types.events import (
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCustomToolCallInputDeltaEvent,
    ResponseCustomToolCallInputDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
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
from responsd.types.items import CustomToolCall, FunctionCall, Message, Reasoning

Events = list[ResponseStreamEvent]


@dataclass(slots=True)
class _OpenMessage:
    item_id: str
    output_index: int
    parts: list[OutputText | Refusal] = field(default_factory=list)
    kind: Literal["text", "refusal"] | None = None
    chunks: list[str] = field(default_factory=list)
    annotations: list[dict] = field(default_factory=list)
    markers: CitationFilter | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)
    """The open text part's token log probabilities (when asked for)."""
    unsent: int = 0
    """How many of them no delta event has carried yet (text held back by the citations
    filter goes out later, its tokens with it)."""


@dataclass(slots=True)
class _OpenReasoning:
    item_id: str
    output_index: int
    chunks: list[str] = field(default_factory=list)
    text: str | None = None
    """Set once the raw text is final; summaries may still follow."""
    summary: list[SummaryText] = field(default_factory=list)


@dataclass(slots=True)
class _OpenCall:
    item_id: str
    output_index: int
    call_id: str
    spec: ToolSpec
    chunks: list[str] = field(default_factory=list)


@dataclass(slots=True)
class OutputBuilder:
    """Builds the output of one response, over all its model turns.

    `max_calls` caps the tool calls kept in the whole response, `turn_calls` those of one
    turn (1 without parallel_tool_calls); calls over either are dropped. Calls of built-in
    tools are not shown as they stream: `close` hands them over (`builtin_calls`) for the
    tool to open as its own items."""

    next_index: int = 0
    max_calls: int | None = None
    turn_calls: int | None = None
    message: _OpenMessage | None = None
    reasoning_item: _OpenReasoning | None = None
    calls: dict[int, _OpenCall] = field(default_factory=dict)
    kept_calls: int = 0
    kept_this_turn: int = 0
    dropped_calls: int = 0
    builtin_calls: list[tuple[ToolSpec, str]] = field(default_factory=list)
    client_calls: int = 0
    """Client-side calls made in the current turn."""
    strict_calls: list[tuple[ToolSpec, str]] = field(default_factory=list)
    """The current turn's calls of strict functions, with their arguments, to check."""
    texts: list[str] = field(default_factory=list)
    """Every finished output_text, for structured-output checks."""
    citations: Citations | None = None
    """Sources shown to the model (file_search): their markers in text become annotations."""

    @property
    def open_reasoning(self) -> _OpenReasoning:
        """The reasoning item being written (callers only ask while one is open)."""
        assert self.reasoning_item is not None, "no reasoning item is open"
        return self.reasoning_item

    @property
    def open_message(self) -> _OpenMessage:
        """The message being written (callers only ask while one is open)."""
        assert self.message is not None, "no message is open"
        return self.message

    def begin_turn(self) -> None:
        self.kept_this_turn = self.dropped_calls = self.client_calls = 0
        self.builtin_calls = []
        self.strict_calls = []

    @property
    def calls_left(self) -> int | None:
        return None if self.max_calls is None else max(0, self.max_calls - self.kept_calls)

    def take_index(self) -> int:
        self.next_index += 1
        return self.next_index - 1

    def reasoning(self, delta: str) -> Events:
        events = self._close_message("completed")
        r = self.reasoning_item
        if r is None:
            r = self.reasoning_item = _OpenReasoning(new_item_id("reasoning"), self.take_index())
            item = Reasoning(id=r.item_id, summary=[], content=[], status="in_progress")
            events.append(ResponseOutputItemAddedEvent(output_index=r.output_index, item=item))
            events.append(
                ResponseContentPartAddedEvent(
                    item_id=r.item_id,
                    output_index=r.output_index,
                    content_index=0,
                    part=ReasoningText(text=""),
                )
            )
        r.chunks.append(delta)
        events.append(
            ResponseReasoningTextDeltaEvent(
                item_id=r.item_id, output_index=r.output_index, content_index=0, delta=delta
            )
        )
        return events

    def end_reasoning_text(self) -> tuple[Events, str]:
        """Finish the raw reasoning; the item stays open for summaries (`finish_reasoning`)."""
        r = self.open_reasoning
        r.text = "".join(r.chunks)
        ids: dict[str, Any] = {
            "item_id": r.item_id,
            "output_index": r.output_index,
            "content_index": 0,
        }
        return [
            ResponseReasoningTextDoneEvent(**ids, text=r.text),
            ResponseContentPartDoneEvent(**ids, part=ReasoningText(text=r.text)),
        ], r.text

    def summary_start(self) -> Events:
        r = self.open_reasoning
        r.summary.append(SummaryText(text=""))
        return [
            ResponseReasoningSummaryPartAddedEvent(
                item_id=r.item_id,
                output_index=r.output_index,
                summary_index=len(r.summary) - 1,
                part=SummaryText(text=""),
            )
        ]

    def summary_delta(self, delta: str) -> ResponseStreamEvent:
        r = self.open_reasoning
        r.summary[-1].text += delta
        return ResponseReasoningSummaryTextDeltaEvent(
            item_id=r.item_id,
            output_index=r.output_index,
            summary_index=len(r.summary) - 1,
            delta=delta,
        )

    def summary_end(self) -> Events:
        r = self.open_reasoning
        ids: dict[str, Any] = {"item_id": r.item_id, "output_index": r.output_index}
        index, text = len(r.summary) - 1, r.summary[-1].text
        return [
            ResponseReasoningSummaryTextDoneEvent(**ids, summary_index=index, text=text),
            ResponseReasoningSummaryPartDoneEvent(
                **ids, summary_index=index, part=SummaryText(text=text)
            ),
        ]

    def finish_reasoning(self, encrypted_content: str | None) -> Events:
        r, self.reasoning_item = self.open_reasoning, None
        item = Reasoning(
            id=r.item_id,
            summary=[part.model_copy() for part in r.summary],
            content=[ReasoningText(text=r.text or "")],
            encrypted_content=encrypted_content,
            status="completed",
        )
        return [ResponseOutputItemDoneEvent(output_index=r.output_index, item=item)]

    def text(self, delta: str, logprobs: Sequence[TokenLogprob] = ()) -> Events:
        m = self.message
        cited = self.citations is not None and bool(self.citations.sources)
        if m is not None and m.kind == "text" and not cited:
            # A token of the text being written, no sources to cite: nearly every delta.
            if logprobs:
                m.logprobs += logprobs
            return self._text_events(delta, [])
        events = self._open_part("text")
        m = self.open_message
        m.logprobs += logprobs
        if self.citations is not None and self.citations.sources:
            if m.markers is None:
                m.markers = CitationFilter(self.citations)
            delta, annotations = m.markers.feed(delta)
            return events + self._text_events(delta, annotations)
        return events + self._text_events(delta, [])

    def _text_events(self, delta: str, annotations: list[dict]) -> Events:
        m = self.open_message
        ids: dict[str, Any] = {
            "item_id": m.item_id,
            "output_index": m.output_index,
            "content_index": len(m.parts),
        }
        events: Events = []
        if delta:
            m.chunks.append(delta)
            logprobs = m.logprobs[m.unsent :] if m.unsent < len(m.logprobs) else []
            m.unsent = len(m.logprobs)
            events.append(ResponseOutputTextDeltaEvent(**ids, delta=delta, logprobs=logprobs))
        for annotation in annotations:
            m.annotations.append(annotation)
            events.append(
                ResponseOutputTextAnnotationAddedEvent(
                    **ids, annotation_index=len(m.annotations) - 1, annotation=annotation
                )
            )
        return events

    def refusal(self, delta: str) -> Events:
        events = self._open_part("refusal")
        m = self.open_message
        m.chunks.append(delta)
        events.append(
            ResponseRefusalDeltaEvent(
                item_id=m.item_id,
                output_index=m.output_index,
                content_index=len(m.parts),
                delta=delta,
            )
        )
        return events

    def tool_call_start(self, index: int, call_id: str, spec: ToolSpec) -> Events:
        over_turn = self.turn_calls is not None and self.kept_this_turn >= self.turn_calls
        if self.calls_left == 0 or over_turn:
            self.dropped_calls += 1
            return []  # over max_tool_calls (or parallel_tool_calls=false): dropped
        self.kept_calls += 1
        self.kept_this_turn += 1
        if spec.builtin:
            self.calls[index] = _OpenCall("", -1, call_id, spec)
            return []
        self.client_calls += 1
        events = self._close_message("completed")
        kind = _CALL_ITEMS.get(spec.kind, "function_call")
        if spec.kind in _TYPED:  # shown whole once its arguments are (they make the item)
            self.calls[index] = _OpenCall(new_item_id(kind), -1, call_id, spec)
            return events
        call = _OpenCall(new_item_id(kind), self.take_index(), call_id, spec)
        self.calls[index] = call
        events.append(
            ResponseOutputItemAddedEvent(output_index=call.output_index, item=_call_item(call, ""))
        )
        return events

    def tool_call_delta(self, index: int, delta: str) -> Events:
        call = self.calls.get(index)
        if call is None:
            return []  # a dropped call, or fragments before any start: nothing to show
        call.chunks.append(delta)
        if call.spec.builtin or call.spec.kind in _TYPED:
            return []
        cls = (
            ResponseCustomToolCallInputDeltaEvent
            if call.spec.kind == "custom"
            else ResponseFunctionCallArgumentsDeltaEvent
        )
        return [cls(item_id=call.item_id, output_index=call.output_index, delta=delta)]

    def close(self, status: Literal["completed", "incomplete"]) -> Events:
        events = self._close_message(status)
        for call in list(self.calls.values()):
            if call.spec.builtin:
                self.builtin_calls.append((call.spec, "".join(call.chunks)))
        # Typed calls (no index yet) last: their items are made now, in the order written.
        for call in sorted(self.calls.values(), key=lambda c: (c.output_index < 0, c.output_index)):
            if call.spec.builtin:
                continue
            text = "".join(call.chunks)
            if call.spec.kind in _TYPED:
                events += self._typed_call(call, text, status)
                continue
            if call.spec.kind == "custom":
                events.append(
                    ResponseCustomToolCallInputDoneEvent(
                        item_id=call.item_id, output_index=call.output_index, input=text
                    )
                )
            else:
                if call.spec.strict:
                    self.strict_calls.append((call.spec, text))
                events.append(
                    ResponseFunctionCallArgumentsDoneEvent(
                        item_id=call.item_id,
                        output_index=call.output_index,
                        name=call.spec.name,
                        arguments=text,
                    )
                )
            item = _call_item(call, text, status)
            events.append(ResponseOutputItemDoneEvent(output_index=call.output_index, item=item))
        self.calls.clear()
        return events

    def _typed_call(
        self, call: _OpenCall, text: str, status: Literal["completed", "incomplete"]
    ) -> Events:
        """A call of a typed tool the client runs (client_run), added and done at once.
        Arguments that make no such call show nothing: the strict check then fails the turn
        with the reason, and a call cut short (incomplete) has no operation or command to
        show."""
        item = client_run.call_item(call.spec, call.call_id, text, call.item_id)
        if status == "completed":
            self.strict_calls.append((call.spec, text))
        if item is None or status != "completed":
            return []
        index = call.output_index = self.take_index()
        return [
            ResponseOutputItemAddedEvent(output_index=index, item=item),
            ResponseOutputItemDoneEvent(output_index=index, item=item.model_copy()),
        ]

    def _open_part(self, kind: Literal["text", "refusal"]) -> Events:
        events: Events = []
        if self.message is None:
            opened = self.message = _OpenMessage(new_item_id("message"), self.take_index())
            item = Message(id=opened.item_id, role="assistant", content=[], status="in_progress")
            events.append(ResponseOutputItemAddedEvent(output_index=opened.output_index, item=item))
        m = self.open_message
        if m.kind == kind:
            return events
        if m.kind is not None:
            events.extend(self._close_part())
        m.kind = kind
        part = OutputText(text="") if kind == "text" else Refusal(refusal="")
        events.append(
            ResponseContentPartAddedEvent(
                item_id=m.item_id,
                output_index=m.output_index,
                content_index=len(m.parts),
                part=part,
            )
        )
        return events

    def _close_part(self) -> Events:
        m = self.open_message
        events: Events = []
        if m.kind == "text" and m.markers is not None:
            events = self._text_events(*m.markers.flush())
            m.markers = None
        text = "".join(m.chunks)
        m.chunks = []
        index = len(m.parts)
        ids: dict[str, Any] = {
            "item_id": m.item_id,
            "output_index": m.output_index,
            "content_index": index,
        }
        if m.kind == "text":
            part: OutputText | Refusal = OutputText(
                text=text, annotations=m.annotations, logprobs=m.logprobs
            )
            done: ResponseStreamEvent = ResponseOutputTextDoneEvent(
                **ids, text=text, logprobs=[*m.logprobs]
            )
            m.annotations, m.logprobs, m.unsent = [], [], 0
            self.texts.append(text)
        else:
            part = Refusal(refusal=text)
            done = ResponseRefusalDoneEvent(**ids, refusal=text)
        m.parts.append(part)
        m.kind = None
        # The event's part is the snapshot's until the item is done: its own lists, so the
        # item's part never shares one with it (a deep copy cost ~30 µs per part).
        copy = (
            part.model_copy(
                update={"annotations": [*part.annotations], "logprobs": [*part.logprobs]}
            )
            if isinstance(part, OutputText)
            else part.model_copy()
        )
        return [*events, done, ResponseContentPartDoneEvent(**ids, part=copy)]

    def _close_message(self, status: Literal["completed", "incomplete"]) -> Events:
        if self.message is None:
            return []
        events = self._close_part() if self.message.kind else []
        m = self.open_message
        content = cast(list[ContentPart], m.parts)
        item = Message(id=m.item_id, role="assistant", content=content, status=status)
        events.append(ResponseOutputItemDoneEvent(output_index=m.output_index, item=item))
        self.message = None
        return events


_CALL_ITEMS = {"custom": "custom_tool_call", **client_run.CALL_ITEMS}
_TYPED = frozenset(client_run.CALL_ITEMS)
"""Tools whose calls are items of their own, made of the complete arguments."""


def _call_item(
    call: _OpenCall,
    text: str,
    status: Literal["in_progress", "completed", "incomplete"] = "in_progress",
) -> FunctionCall | CustomToolCall:
    spec = call.spec
    if spec.kind == "custom":
        return CustomToolCall(
            id=call.item_id,
            call_id=call.call_id,
            name=spec.name,
            input=text,
            namespace=spec.namespace,
            status=status,
        )
    return FunctionCall(
        id=call.item_id,
        call_id=call.call_id,
        name=spec.name,
        arguments=text,
        namespace=spec.namespace,
        status=status,
    )
