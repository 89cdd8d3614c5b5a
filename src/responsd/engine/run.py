"""One response from its first event to its last: setup, model turns, tools, finish.

`ResponseRun` is an async iterator of the response's events. Its loop:

    setup (built-in tools list their functions) → approved calls from the input run
    → model turn → NextStep: run tools → turn again | finish

Every ending goes through one finish path (`_finish` / `_fail`), which stores the final
snapshot and emits the terminal event; background cancel and shutdown end through
`stopped()`. The run's results (`snapshot`, `failure`, `final_json`) are its own
attributes, read after the iteration ends.
"""

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

from responsd.engine.compaction import summarize, summary_request
from responsd.engine.context import compacted
from responsd.engine.output import OutputBuilder
from responsd.engine.output_format import check_output_text
from responsd.engine.reducer import Reducer
from responsd.engine.steps import NextStep, NextStepFinish, NextStepRunAgain, NextStepRunTools
from responsd.engine.strict_schema import check_arguments
from responsd.engine.tool_jobs import run_jobs
from responsd.engine.tool_plan import load_tools
from responsd.engine.truncation import fit_context
from responsd.errors import ResponsdError
from responsd.ids import new_id
from responsd.providers.base import (
    Finish,
    ModelDelta,
    ModelRequest,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageDelta,
)
from responsd.tools.base import ToolJob
from responsd.tools.registry import model_items
from responsd.types.content import InputText
from responsd.types.events import (
    ErrorEvent,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseStreamEvent,
)
from responsd.types.items import Compaction, Message, ToolSearchOutput
from responsd.types.response import (
    IncompleteDetails,
    InputTokensDetails,
    OutputTokensDetails,
    Response,
    ResponseError,
    ResponseStatus,
    Usage,
)

if TYPE_CHECKING:
    from responsd.engine.loop import Engine, PreparedResponse

log = logging.getLogger("responsd.engine")

TOOLS_EXHAUSTED_NOTE = (
    "The tool call limit of this response (max_tool_calls) is reached: no more tools can be "
    "called. Answer with what you have."
)


class ResponseRun:
    """The events of one prepared response, and its outcome once they are all read."""

    def __init__(
        self, engine: "Engine", p: "PreparedResponse", generate: bool = True, live: bool = True
    ) -> None:
        self.engine = engine
        self.p = p
        self.generate = generate
        self.live = live
        """Someone reads the events as they come (a stream, a socket, a background run's log);
        when not, a turn's deltas are joined first: one event per run of text, not per token."""
        self._reducer = Reducer(p.snapshot)
        self.failure: ResponsdError | None = None
        """Set when the run failed; non-streaming callers turn it into an HTTP error."""
        self.final_json: str | None = None
        """The final Response as JSON, encoded once for storage and reply."""
        request = p.request
        self.builder = OutputBuilder(
            max_calls=request.max_tool_calls,
            turn_calls=None if request.parallel_tool_calls else 1,
            citations=p.citations,
        )
        self.usage: UsageDelta | None = None
        """The model turns' usage (what max_output_tokens caps)."""
        self.compaction: tuple[int, str, UsageDelta] | None = None
        """Server-side compaction, once done: the compaction item's output index, the
        summary it carries, and the summary's usage (in the response's, not under its cap)."""
        self.turns = 0
        self.finish = "stop"
        """The last model turn's finish reason."""
        self.steered = False
        """Set by WebSocket steering: the run ends at its next safe boundary (its built-in
        tools ran, another model turn would start) as incomplete, reason `steered`, and a
        successor continues with the steer's input."""
        self._sequence = 0
        self._tool_choice = p.model_request.tool_choice
        self._functions = list(p.model_request.tools)

    @property
    def snapshot(self) -> Response:
        """The response as of the last emitted event (what a cancel stores)."""
        return self._reducer.snapshot

    def __aiter__(self) -> AsyncIterator[ResponseStreamEvent]:
        return self._events()

    def _emit(self, event: ResponseStreamEvent) -> ResponseStreamEvent:
        event.sequence_number = self._sequence
        self._sequence += 1
        self._reducer.apply(event)
        return event

    async def _events(self) -> AsyncIterator[ResponseStreamEvent]:
        p = self.p
        yield self._emit(ResponseCreatedEvent(response=p.snapshot))
        started = p.snapshot.model_copy(update={"status": ResponseStatus.IN_PROGRESS})
        yield self._emit(ResponseInProgressEvent(response=started))
        if not self.generate:  # a warm-up: its context is stored, nothing is generated
            async for event in self._finish(NextStepFinish()):
                yield event
            return
        try:
            step: NextStep = NextStepRunAgain()
            if p.compact_only:  # a compaction_trigger: the summary is the whole answer
                async for event in self._compact(forced=True):
                    yield self._emit(event)
                step = NextStepFinish()
            else:
                async for event in self._setup():
                    yield self._emit(event)
                resumed = [
                    job for tool in p.builtins for job in tool.resume(p.history, p.input_items)
                ]
                if resumed:
                    step = NextStepRunTools(resumed)
            while not isinstance(step, NextStepFinish):
                if isinstance(step, NextStepRunTools):
                    async for event in self._run_tools(step.jobs):
                        yield self._emit(event)
                    self._load_found(step.jobs)
                    step = self._after_tools(step)
                    continue
                if p.compact_at is not None and self.compaction is None:
                    async for event in self._compact():
                        yield self._emit(event)
                async for event in self._turn():
                    yield self._emit(event)
                step = self._decide()
        except Exception as exc:
            async for event in self._fail(exc):
                yield event
            return
        async for event in self._finish(step):
            yield event
        await self._close_tools()

    # -- steps -------------------------------------------------------------------------

    async def _setup(self) -> AsyncIterator[ResponseStreamEvent]:
        """Built-in tools prepare (MCP servers list their tools), then show their functions."""
        p = self.p
        if not p.builtins:
            return
        context = [*p.history, *p.input_items]
        jobs = [job for tool in p.builtins if (job := tool.setup(context)) is not None]
        async for event in run_jobs(jobs, self.builder.take_index, concurrent=True):
            yield event
        self._functions += [spec for tool in p.builtins for spec in tool.functions()]
        self.engine.provider.validate(dataclasses.replace(p.model_request, tools=self._functions))

    async def _turn(self) -> AsyncIterator[ResponseStreamEvent]:
        """One model turn: its deltas become output items."""
        builder, request = self.builder, self.p.request
        builder.begin_turn()
        self.turns += 1
        usage: UsageDelta | None = None
        self.finish = "stop"
        deltas = self.engine.provider.stream(self._model_request())
        async for delta in deltas if self.live else _joined(deltas):
            if builder.reasoning_item and not isinstance(
                delta, ReasoningDelta | UsageDelta | Finish
            ):
                async for event in self.engine.settle_reasoning(builder, request):
                    yield event
            match delta:
                case ReasoningDelta():
                    batch = builder.reasoning(delta.text)
                case TextDelta():
                    batch = builder.text(delta.text, delta.logprobs)
                case RefusalDelta():
                    batch = builder.refusal(delta.text)
                case ToolCallStart():
                    batch = builder.tool_call_start(delta.index, delta.call_id, delta.tool)
                case ToolCallDelta():
                    batch = builder.tool_call_delta(delta.index, delta.text)
                case UsageDelta():
                    usage = delta
                    continue
                case Finish():
                    self.finish = delta.reason
                    continue
            for event in batch:
                yield event
        if builder.reasoning_item:
            async for event in self.engine.settle_reasoning(builder, request):
                yield event
        incomplete = self.finish in ("length", "content_filter")
        for event in builder.close("incomplete" if incomplete else "completed"):
            yield event
        if not incomplete:  # a strict function's arguments must follow its schema
            for spec, arguments in builder.strict_calls:
                check_arguments(spec.name, spec.parameters or {}, arguments)
        if usage is not None:
            self.usage = usage if self.usage is None else _add(self.usage, usage)

    async def _compact(self, forced: bool = False) -> AsyncIterator[ResponseStreamEvent]:
        """Server-side compaction (`context_management`), at most once a response: when the
        next turn's context reaches the threshold (or `forced`: a compaction_trigger), the
        model first summarizes it; that turn and the next ones see the user's messages and
        the summary instead, and the output's compaction item carries the summary to the
        next response."""
        p = self.p
        turn = self._model_request()
        provider = self.engine.provider
        if not forced and (p.compact_at is None or provider.estimate_tokens(turn) < p.compact_at):
            return
        request = summary_request(
            turn.model, turn.items, p.request.instructions, p.request.prompt_cache_key
        )
        provider.validate(request)
        summary, usage = await summarize(provider, request)
        sealed = self.engine.keys.seal("compaction", {"summary": summary})
        item = Compaction(id=new_id("cmp"), encrypted_content=sealed)
        index = self.builder.take_index()
        self.compaction = (index, summary, usage)
        yield ResponseOutputItemAddedEvent(output_index=index, item=item)
        yield ResponseOutputItemDoneEvent(output_index=index, item=item.model_copy())

    def _model_request(self) -> ModelRequest:
        p = self.p
        turn = dataclasses.replace(p.model_request, tools=self._functions)
        if self.turns > 1:  # a required or forced tool is required of the first turn only
            turn.tool_choice = "none" if self._tool_choice == "none" else "auto"
        if turn.max_output_tokens is not None:  # the cap is for the whole response
            turn.max_output_tokens -= self._output_tokens()
        if not self.snapshot.output:
            return turn
        context, output = turn.items, self.snapshot.output
        if self.compaction is not None:
            index, summary, _ = self.compaction
            context, output = compacted(context, summary), output[index + 1 :]
            turn.memo_runs = ()  # the context no longer begins with the history
        # Later turns see this response's output so far, built-in calls as function calls.
        turn.items = [*context, *model_items(output, p.citations)]
        if self.builder.calls_left == 0 and self.builder.kept_calls:
            turn.tool_choice = "none"
            note = Message(role="developer", content=[InputText(text=TOOLS_EXHAUSTED_NOTE)])
            turn.items.append(note)
        return fit_context(self.engine.provider, turn, p.request.truncation)

    def _decide(self) -> NextStep:
        builder = self.builder
        if self.finish == "length":
            return NextStepFinish("incomplete", "max_output_tokens")
        if self.finish == "content_filter":
            return NextStepFinish("incomplete", "content_filter")
        if builder.builtin_calls:
            jobs = [job for call in builder.builtin_calls for job in self._jobs(*call)]
            return NextStepRunTools(jobs, then_stop=builder.client_calls > 0)
        return NextStepFinish()

    def _jobs(self, spec, arguments: str) -> list[ToolJob]:
        for tool in self.p.builtins:
            if tool.owns(spec.name):
                return tool.call(spec, arguments)
        raise ResponsdError(f"No built-in tool runs '{spec.name}'.")

    async def _run_tools(self, jobs: list[ToolJob]) -> AsyncIterator[ResponseStreamEvent]:
        concurrent = self.p.request.parallel_tool_calls
        async for event in run_jobs(jobs, self.builder.take_index, concurrent):
            yield event

    def _load_found(self, jobs: list[ToolJob]) -> None:
        """Tools a search loaded join the model's tools from its next turn on."""
        found = [job.item for job in jobs if isinstance(job.item, ToolSearchOutput)]
        for item in found:
            self._functions = load_tools(self._functions, item, "output")
        if found:
            self.engine.provider.validate(
                dataclasses.replace(self.p.model_request, tools=self._functions)
            )

    def _after_tools(self, step: NextStepRunTools) -> NextStep:
        if step.then_stop or any(job.awaits_client for job in step.jobs):
            return NextStepFinish()
        if self.steered:
            return NextStepFinish("incomplete", "steered")
        if self.turns >= self.engine.options.max_turns:
            log.warning("response %s reached %d model turns", self.p.snapshot.id, self.turns)
            return NextStepFinish("incomplete", "max_output_tokens")
        cap = self.p.request.max_output_tokens
        if cap is not None and self._output_tokens() >= cap:
            return NextStepFinish("incomplete", "max_output_tokens")
        return NextStepRunAgain()

    def _output_tokens(self) -> int:
        return self.usage.output_tokens if self.usage else 0

    # -- endings -----------------------------------------------------------------------

    async def _finish(self, step: NextStepFinish) -> AsyncIterator[ResponseStreamEvent]:
        p = self.p
        usage = self._usage()
        if step.status == "incomplete":
            update = {
                "status": ResponseStatus.INCOMPLETE,
                "incomplete_details": IncompleteDetails(reason=step.reason or "max_output_tokens"),
            }
        else:
            try:
                check_output_text(p.request.text.format, self.builder.texts)
            except ResponsdError as exc:
                async for event in self._fail(exc):
                    yield event
                return
            update = {"status": ResponseStatus.COMPLETED, "completed_at": int(time.time())}
        final = self.snapshot.model_copy(update={**update, "usage": usage})
        try:
            await self.engine.save(p, final, self)
        except ResponsdError as exc:
            self.failure = exc
            yield self._emit(ErrorEvent(code=exc.code, message=exc.message, param=None))
            failed = _failed(final.model_copy(update={"completed_at": None}), exc, usage)
            yield self._emit(ResponseFailedEvent(response=failed))
            return
        terminal = (
            ResponseIncompleteEvent if step.status == "incomplete" else ResponseCompletedEvent
        )
        yield self._emit(terminal(response=final))

    async def _fail(self, exc: Exception) -> AsyncIterator[ResponseStreamEvent]:
        failure = exc if isinstance(exc, ResponsdError) else _internal(exc)
        self.failure = failure
        yield self._emit(
            ErrorEvent(code=failure.code, message=failure.message, param=failure.param)
        )
        final = _failed(self.snapshot, failure, self._usage())
        # Kept, but out of its conversation: a failed turn changes no state (the SDK retries
        # a 5xx by itself; its input would be in the conversation twice).
        await self.engine.save(self.p, final, self, quiet=True, converse=False)
        await self._close_tools()
        yield self._emit(ResponseFailedEvent(response=final))

    async def stopped(self, failure: str | None = None) -> ResponseStreamEvent | None:
        """End a run stopped from outside: cancelled by the client, or failed (`failure`).

        The API has no `response.cancelled` event: a cancelled run ends with its stored
        status and no terminal event; a failed one ends with `response.failed`."""
        update: dict = {"status": ResponseStatus.CANCELLED, "usage": self._usage()}
        if failure is not None:
            error = ResponseError(code="server_error", message=failure)
            update.update(status=ResponseStatus.FAILED, error=error)
        final = self.snapshot.model_copy(update=update)
        # A run stopped halfway is kept, but its partial turn joins no conversation.
        await self.engine.save(self.p, final, self, quiet=True, converse=False)
        await self._close_tools()
        if failure is None:
            return None
        return self._emit(ResponseFailedEvent(response=final))

    async def _close_tools(self) -> None:
        for tool in self.p.builtins:
            await asyncio.shield(tool.close())

    def _usage(self) -> Usage | None:
        u = self.usage
        if self.compaction is not None:
            u = self.compaction[2] if u is None else _add(u, self.compaction[2])
        if u is None:
            return None
        return Usage(
            input_tokens=u.input_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=u.cached_tokens),
            output_tokens=u.output_tokens,
            output_tokens_details=OutputTokensDetails(reasoning_tokens=u.reasoning_tokens),
            total_tokens=u.input_tokens + u.output_tokens,
        )


_JOINABLE = (TextDelta, ReasoningDelta, RefusalDelta, ToolCallDelta)
Joinable = TextDelta | ReasoningDelta | RefusalDelta | ToolCallDelta


async def _joined(deltas: AsyncIterator[ModelDelta]) -> AsyncIterator[ModelDelta]:
    """`deltas` with each run of consecutive text of one kind (one call's arguments) joined
    into one delta: the same output, built with one event per run instead of one per token
    (a long answer is hundreds). A failure mid-run still hands over the text it had; a
    cancelled run loses its last unjoined run (nobody reads it: the client hung up)."""
    run: list[Joinable] = []
    try:
        async for delta in deltas:
            if run and isinstance(delta, _JOINABLE) and _continues(run[0], delta):
                run.append(delta)
                continue
            if run:
                yield _join(run)
                run = []
            if isinstance(delta, _JOINABLE):
                run = [delta]
            else:
                yield delta
    except Exception:
        if run:
            yield _join(run)
        raise
    if run:
        yield _join(run)


def _join(run: list[Joinable]) -> Joinable:
    first = run[0]
    if len(run) == 1:
        return first
    text = "".join([delta.text for delta in run])
    if isinstance(first, TextDelta):
        return TextDelta(text, tuple([t for delta in run for t in cast(TextDelta, delta).logprobs]))
    return dataclasses.replace(first, text=text)


def _continues(run: Joinable, delta: Joinable) -> bool:
    if isinstance(run, ToolCallDelta):
        return isinstance(delta, ToolCallDelta) and delta.index == run.index
    return type(delta) is type(run)


def _add(a: UsageDelta, b: UsageDelta) -> UsageDelta:
    return UsageDelta(
        input_tokens=a.input_tokens + b.input_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        cached_tokens=a.cached_tokens + b.cached_tokens,
        reasoning_tokens=a.reasoning_tokens + b.reasoning_tokens,
    )


def _failed(snapshot: Response, failure: ResponsdError, usage: Usage | None) -> Response:
    error = ResponseError(code=failure.response_code, message=failure.message)
    return snapshot.model_copy(
        update={"status": ResponseStatus.FAILED, "error": error, "usage": usage}
    )


def _internal(exc: Exception) -> ResponsdError:
    log.exception("response failed with an unexpected error", exc_info=exc)
    return ResponsdError("The server had an internal error while generating the response.")
