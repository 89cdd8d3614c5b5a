"""Run a response: prepare (validate, resolve context), then stream it as events.

Streaming and non-streaming requests share `Engine.run`; the stored Response is the
snapshot after the last event.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from responsd.engine.context import (
    ParsedItems,
    load_conversation,
    load_history,
    model_view,
    normalize_input,
    resolve_references,
)
from responsd.engine.output import OutputBuilder
from responsd.engine.output_format import check_output_text
from responsd.engine.reasoning import settle_reasoning
from responsd.engine.reducer import apply
from responsd.engine.requests import (
    ToolPlan,
    check_context_fields,
    check_create_request,
    conversation_id,
    plan_tools,
)
from responsd.engine.truncation import fit_context
from responsd.errors import ResponsdError
from responsd.ids import new_id
from responsd.providers.base import (
    Finish,
    ModelRequest,
    Provider,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageDelta,
)
from responsd.sealing import KeyRing
from responsd.store.sql import SQLStore
from responsd.types.events import (
    ErrorEvent,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseStreamEvent,
)
from responsd.types.items import Item
from responsd.types.requests import ContextFields, InputTokensRequest, ResponseCreateRequest
from responsd.types.response import (
    ConversationRef,
    IncompleteDetails,
    InputTokensDetails,
    OutputTokensDetails,
    ReasoningEcho,
    Response,
    ResponseError,
    ResponseStatus,
    Usage,
)

log = logging.getLogger("responsd.engine")


@dataclass(slots=True)
class PreparedResponse:
    """A validated request with its context resolved, ready to run."""

    request: ResponseCreateRequest
    snapshot: Response
    input_items: list[Item]
    model_request: ModelRequest
    history: list[Item]
    """The context before this request's input (previous_response_id chain or conversation)."""
    skipped_tools: list[str]
    failure: ResponsdError | None = None
    """Set when the run failed; non-streaming callers turn it into an HTTP error."""
    final_json: str | None = field(default=None, repr=False)
    """The final Response as JSON, encoded once for storage and reply."""
    live: Response | None = field(default=None, repr=False)
    """The snapshot as of the last emitted event (what a cancel stores)."""


class _EventLog:
    """Numbers events and folds them into the snapshot as they are emitted."""

    def __init__(self, p: PreparedResponse):
        self.p = p
        self.snapshot = p.snapshot
        self.next_sequence = 0

    def emit(self, event: ResponseStreamEvent) -> ResponseStreamEvent:
        event.sequence_number = self.next_sequence
        self.next_sequence += 1
        self.snapshot = self.p.live = apply(self.snapshot, event)
        return event


@dataclass(frozen=True, slots=True)
class EngineOptions:
    summary_model: str | None = None
    """Model that writes reasoning summaries; default: the request's own model."""
    zero_data_retention: bool = False
    """Force store=false on every request."""
    parsed_items_chars: int = 64_000_000
    """Bound of the parsed-items map, in characters of stored JSON (see ParsedItems)."""


class Engine:
    def __init__(
        self,
        store: SQLStore,
        provider: Provider,
        keys: KeyRing,
        options: EngineOptions | None = None,
    ):
        self.store = store
        self.provider = provider
        self.keys = keys
        self.options = options or EngineOptions()
        self.parsed = ParsedItems(self.options.parsed_items_chars)

    async def _context(
        self, request: ContextFields, plan: ToolPlan
    ) -> tuple[list[Item], list[Item], ModelRequest]:
        """History, this request's input items, and the model request built from both."""
        conversation = conversation_id(request)
        if conversation is not None:
            history = await load_conversation(self.store.conversations, self.parsed, conversation)
        else:
            history = await load_history(self.store, self.parsed, request.previous_response_id)
        items = await resolve_references(self.store, normalize_input(request.input))
        view = [
            *model_view(
                history, self.keys, "conversation" if conversation else "previous_response_id"
            ),
            *model_view(items, self.keys, "input"),
        ]
        model_request = _model_request(request, view, plan)
        self.provider.validate(model_request)
        return history, items, fit_context(self.provider, model_request, request.truncation)

    async def prepare(
        self,
        request: ResponseCreateRequest,
        response_id: str | None = None,
        created_at: int | None = None,
    ) -> PreparedResponse:
        """Validate and resolve `request`; `response_id`/`created_at` re-prepare a queued one."""
        check_create_request(request)
        if self.options.zero_data_retention:
            request.store = False
        plan = plan_tools(request)
        history, input_items, model_request = await self._context(request, plan)
        if plan.skipped:
            log.info("hosted tools withheld from the model: %s", ", ".join(plan.skipped))
        return PreparedResponse(
            request=request,
            snapshot=_initial_response(request, response_id, created_at),
            input_items=input_items,
            model_request=model_request,
            history=history,
            skipped_tools=plan.skipped,
        )

    async def count_input_tokens(self, request: InputTokensRequest) -> int:
        check_context_fields(request)
        _, _, model_request = await self._context(request, plan_tools(request))
        return await self.provider.count_input_tokens(model_request)

    async def run(self, p: PreparedResponse) -> AsyncIterator[ResponseStreamEvent]:
        events = _EventLog(p)
        yield events.emit(ResponseCreatedEvent(response=p.snapshot))
        started = p.snapshot.model_copy(update={"status": ResponseStatus.IN_PROGRESS})
        yield events.emit(ResponseInProgressEvent(response=started))
        request = p.request
        max_calls = request.max_tool_calls
        if not request.parallel_tool_calls:
            max_calls = 1
        builder = OutputBuilder(max_calls=max_calls)
        usage: Usage | None = None
        finish = "stop"
        try:
            async for delta in self.provider.stream(p.model_request):
                if builder.reasoning_item and not isinstance(
                    delta, ReasoningDelta | UsageDelta | Finish
                ):
                    async for event in self._settle_reasoning(builder, request):
                        yield events.emit(event)
                match delta:
                    case ReasoningDelta():
                        batch = builder.reasoning(delta.text)
                    case TextDelta():
                        batch = builder.text(delta.text)
                    case RefusalDelta():
                        batch = builder.refusal(delta.text)
                    case ToolCallStart():
                        batch = builder.tool_call_start(delta.index, delta.call_id, delta.tool)
                    case ToolCallDelta():
                        batch = builder.tool_call_delta(delta.index, delta.text)
                    case UsageDelta():
                        usage = _usage(delta)
                        continue
                    case Finish():
                        finish = delta.reason
                        continue
                for event in batch:
                    yield events.emit(event)
            if builder.reasoning_item:
                async for event in self._settle_reasoning(builder, request):
                    yield events.emit(event)
            incomplete = finish in ("length", "content_filter")
            for event in builder.close("incomplete" if incomplete else "completed"):
                yield events.emit(event)
            if not incomplete:
                check_output_text(request.text.format, builder.texts)
        except Exception as exc:
            failure = exc if isinstance(exc, ResponsdError) else _internal(exc)
            p.failure = failure
            yield events.emit(
                ErrorEvent(code=failure.code, message=failure.message, param=failure.param)
            )
            final = _failed(events.snapshot, failure, usage)
            await self._save(p, final, quiet=True)
            yield events.emit(ResponseFailedEvent(response=final))
            return
        if incomplete:
            reason = "max_output_tokens" if finish == "length" else "content_filter"
            update = {
                "status": ResponseStatus.INCOMPLETE,
                "incomplete_details": IncompleteDetails(reason=reason),
            }
        else:
            update = {"status": ResponseStatus.COMPLETED, "completed_at": int(time.time())}
        final = events.snapshot.model_copy(update={**update, "usage": usage})
        try:
            await self._save(p, final)
        except ResponsdError as exc:
            p.failure = exc
            yield events.emit(ErrorEvent(code=exc.code, message=exc.message, param=None))
            failed = _failed(final.model_copy(update={"completed_at": None}), exc, usage)
            yield events.emit(ResponseFailedEvent(response=failed))
            return
        terminal = ResponseIncompleteEvent if incomplete else ResponseCompletedEvent
        yield events.emit(terminal(response=final))

    def _settle_reasoning(
        self, builder: OutputBuilder, request: ResponseCreateRequest
    ) -> AsyncIterator[ResponseStreamEvent]:
        return settle_reasoning(
            builder, self.provider, request, self.keys, self.options.summary_model
        )

    async def _save(self, p: PreparedResponse, final: Response, quiet: bool = False) -> None:
        p.final_json = final.model_dump_json()
        if not p.request.store:
            return
        save = self.store.save_response(
            final.id,
            final.previous_response_id,
            final.created_at,
            p.final_json,
            [(item.id, item.model_dump_json()) for item in p.input_items],
            [(item.id, item.model_dump_json()) for item in final.output],
            final.conversation.id if final.conversation else None,
            status=final.status.value,
            background=p.request.background,
        )
        try:
            # A client hanging up mid-save must not leave half a response behind.
            await asyncio.shield(save)
        except ResponsdError:
            if not quiet:
                raise
            log.exception("could not store failed response %s", final.id)
            return


def _failed(snapshot: Response, failure: ResponsdError, usage: Usage | None) -> Response:
    error = ResponseError(code=failure.response_code, message=failure.message)
    return snapshot.model_copy(
        update={"status": ResponseStatus.FAILED, "error": error, "usage": usage}
    )


def _internal(exc: Exception) -> ResponsdError:
    log.exception("response failed with an unexpected error", exc_info=exc)
    return ResponsdError("The server had an internal error while generating the response.")


def _usage(delta: UsageDelta) -> Usage:
    return Usage(
        input_tokens=delta.input_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=delta.cached_tokens),
        output_tokens=delta.output_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=delta.reasoning_tokens),
        total_tokens=delta.input_tokens + delta.output_tokens,
    )


def _model_request(request: ContextFields, items: list[Item], plan: ToolPlan) -> ModelRequest:
    fields = dict(
        model=request.model,
        items=items,
        instructions=request.instructions,
        tools=plan.specs,
        tool_choice=plan.mode,
        parallel_tool_calls=request.parallel_tool_calls,
        output_format=request.text.format,
        reasoning_effort=request.reasoning.effort if request.reasoning else None,
        verbosity=request.text.verbosity if request.text.verbosity != "medium" else None,
    )
    if isinstance(request, ResponseCreateRequest):
        fields.update(
            temperature=request.temperature,
            top_p=request.top_p,
            presence_penalty=request.presence_penalty,
            frequency_penalty=request.frequency_penalty,
            max_output_tokens=request.max_output_tokens,
            user=request.user,
            safety_identifier=request.safety_identifier,
            prompt_cache_key=request.prompt_cache_key,
            prompt_cache_retention=request.prompt_cache_retention,
            service_tier=request.service_tier,
        )
    return ModelRequest(**fields)


def _initial_response(
    request: ResponseCreateRequest, response_id: str | None, created_at: int | None
) -> Response:
    reasoning = request.reasoning
    return Response(
        id=response_id or new_id("resp"),
        created_at=created_at or int(time.time()),
        status=ResponseStatus.QUEUED if request.background else ResponseStatus.IN_PROGRESS,
        background=request.background,
        instructions=request.instructions,
        model=request.model,
        previous_response_id=request.previous_response_id,
        conversation=ConversationRef(id=cid) if (cid := conversation_id(request)) else None,
        tools=request.tools,
        tool_choice=request.tool_choice,
        parallel_tool_calls=request.parallel_tool_calls,
        max_tool_calls=request.max_tool_calls,
        text=request.text,
        reasoning=ReasoningEcho(
            effort=reasoning.effort if reasoning else None,
            summary=(reasoning.summary or reasoning.generate_summary) if reasoning else None,
        ),
        max_output_tokens=request.max_output_tokens,
        temperature=1.0 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        presence_penalty=request.presence_penalty or 0.0,
        frequency_penalty=request.frequency_penalty or 0.0,
        top_logprobs=request.top_logprobs or 0,
        store=request.store,
        metadata=request.metadata or {},
        user=request.user,
        safety_identifier=request.safety_identifier,
        prompt_cache_key=request.prompt_cache_key,
        prompt_cache_retention=request.prompt_cache_retention,
        service_tier=request.service_tier
        if request.service_tier not in (None, "auto")
        else "default",
    )
