"""The engine: prepare a response (validate, resolve context, build its tools), then run it.

Streaming, non-streaming and background requests share `Engine.run` (see run.py); the
stored Response is the snapshot after the last event.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from responsd.concurrency import offload
from responsd.engine.context import (
    ChainCache,
    Facts,
    History,
    ItemMemos,
    ParsedItems,
    context_view,
    load_conversation,
    load_history,
    normalize_input,
    resolve_references,
)
from responsd.engine.input_files import FileReader
from responsd.engine.library import Library
from responsd.engine.output import OutputBuilder
from responsd.engine.reasoning import settle_reasoning
from responsd.engine.requests import (
    asked_logprobs,
    check_answers,
    check_create_request,
    check_input_tokens_request,
    compaction_triggered,
    conversation_id,
)
from responsd.engine.run import ResponseRun
from responsd.engine.tool_plan import ToolPlan, echo_tools, plan_tools
from responsd.engine.truncation import fit_context
from responsd.errors import InvalidRequestError, ResponsdError
from responsd.ids import new_id
from responsd.providers import sampling
from responsd.providers.base import ModelRequest, Provider
from responsd.sealing import KeyRing
from responsd.store.sql import ResponseRow, SQLStore
from responsd.tools.base import BuiltinTool
from responsd.tools.file_search import Citations
from responsd.tools.registry import ToolContext, ToolOptions, builtin_tool
from responsd.types.events import ResponseStreamEvent
from responsd.types.items import TOOL_SOURCES, Compaction, Item
from responsd.types.requests import ContextFields, InputTokensRequest, ResponseCreateRequest
from responsd.types.response import ConversationRef, ReasoningEcho, Response, ResponseStatus

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
    builtins: list[BuiltinTool] = field(default_factory=list)
    """The request's tools that this server runs (MCP servers, …), in `tools` order."""
    citations: Citations = field(default_factory=Citations)
    """Sources shown to the model by file_search, for the answer's citation markers."""
    chain_version: int | None = None
    """The response-delete count `history` was read under (see ChainCache)."""
    facts: Facts | None = None
    """What scans of `history` find, when known."""
    compact_at: int | None = None
    """Server-side compaction (`context_management`): the context's size in tokens from
    which the response compacts it before a model turn."""
    compact_only: bool = False
    """The input ends with a compaction_trigger: the response compacts its context (the
    compaction item is its output) and no model turn follows."""

    def continued(self, output: list[Item]) -> History:
        """What a next turn continues from: the history, this request's input and `output`,
        with what scans of them find when the history's are known (only the new items are
        scanned; a history with none known, a conversation's, stays unknown)."""
        new = [*self.input_items, *output]
        facts = self.facts if self.facts is not None or self.history else Facts()
        return History(
            [*self.history, *new],
            self.chain_version,
            None if facts is None else facts.plus(new),
            self.history,
        )


@dataclass(frozen=True, slots=True)
class EngineOptions:
    summary_model: str | None = None
    """Model that writes reasoning summaries; default: the request's own model."""
    zero_data_retention: bool = False
    """Force store=false on every request."""
    parsed_items_chars: int = 64_000_000
    """Bound of the parsed-items map, in characters of stored JSON (see ParsedItems)."""
    max_turns: int = 16
    """Model turns one response may take (built-in tool loops); past it: incomplete."""
    tools: ToolOptions = field(default_factory=ToolOptions)
    max_file_bytes: int = 512 * 1024 * 1024
    """Largest file fetched for an `input_file` given by URL."""


class Engine:
    def __init__(
        self,
        store: SQLStore,
        provider: Provider,
        keys: KeyRing,
        options: EngineOptions | None = None,
        library: Library | None = None,
    ):
        self.store = store
        self.provider = provider
        self.keys = keys
        self.options = options or EngineOptions()
        self.library = library or Library(store, None)
        self.files = FileReader(
            self.library, self.options.tools.allow_private_network, self.options.max_file_bytes
        )
        self.parsed = ParsedItems(self.options.parsed_items_chars)
        self._served = self.options.tools.served()
        """Hosted tool types run here that run only when configured (plan_tools)."""
        self.chains = ChainCache()
        self.memos = ItemMemos()

    async def _context(
        self,
        request: ContextFields,
        citations: Citations | None = None,
        known: History | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> tuple[History, list[Item], ModelRequest, ToolPlan]:
        """History, this request's input items, the model request built from both, and the
        tools it has (`tools`, and those the history and input add).
        `known` is the history when the caller already holds it (a WebSocket's last turn);
        `overrides` set model request fields the create request has none for (stop, seed)."""
        conversation = conversation_id(request)
        if known is not None:
            loaded = known
        elif conversation is not None:
            loaded = await load_conversation(
                self.store.conversations, self.parsed, conversation, self.chains
            )
        else:
            loaded = await load_history(
                self.store, self.parsed, request.previous_response_id, self.chains
            )
        history, facts = loaded.items, loaded.facts
        size = len(request.input) if isinstance(request.input, list) else 0
        items = await offload(size, normalize_input, request.input)
        items = await resolve_references(self.store, items)
        where = "conversation" if conversation else "previous_response_id"
        if facts is not None and not facts.files:
            history_view = history  # known to hold no file parts: no scan
        else:
            history_view = await self.files.readable(history, where, history=True)
        input_view = await self.files.readable(items, "input")

        def build() -> tuple[ModelRequest, ToolPlan]:
            check_answers(history, items)
            # Tools added in the context stay, also before a compaction: scanned in full.
            scanned = history if facts is None or facts.added_tools else []
            added = [(where, item) for item in scanned if isinstance(item, TOOL_SOURCES)]
            for i, item in enumerate(items):
                if isinstance(item, TOOL_SOURCES):
                    added.append((f"input[{i}]", item))
            plan = plan_tools(request, added, self._served)
            view = context_view(history_view, input_view, self.keys, where, citations, facts)
            model_request = _model_request(request, view, plan)
            if (
                facts is not None
                and not (facts.sealed or facts.tool_items)
                and history_view is history
                and not any(isinstance(item, Compaction) for item in items)  # cuts history
            ):
                # The view begins with the history items themselves: worth remembering.
                model_request.memo = self.memos
                model_request.memo_runs = (history,) + (
                    (loaded.extends,) if loaded.extends is not None else ()
                )
            for name, value in (overrides or {}).items():
                setattr(model_request, name, value)
            self.provider.validate(model_request)
            return fit_context(self.provider, model_request, request.truncation), plan

        # The history is walked only when its facts are unknown or it needs a view built.
        walked = facts is None or facts.sealed or facts.tool_items or history_view is not history
        built, plan = await offload(len(items) + walked * len(history), build)
        return loaded, items, built, plan

    async def prepare(
        self,
        request: ResponseCreateRequest,
        response_id: str | None = None,
        created_at: int | None = None,
        history: History | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> PreparedResponse:
        """Validate and resolve `request`; `response_id`/`created_at` re-prepare a queued one;
        `history`: the context of `previous_response_id`, already in memory (not loaded)."""
        size = len(request.input) if isinstance(request.input, list) else 0
        await offload(size, check_create_request, request)
        if self.options.zero_data_retention:
            request.store = False
        compact_only = compaction_triggered(request)
        citations = Citations()
        builtins = await self._builtins(request, citations)
        loaded, input_items, model_request, plan = await self._context(
            request, citations, history, overrides
        )
        if not request.background:  # background work waits in its own queue instead
            self.provider.admit()
        if compact_only:
            input_items = input_items[:-1]  # the trigger: a signal, not stored or listed
        if plan.skipped:
            log.info("hosted tools withheld from the model: %s", ", ".join(plan.skipped))
        return PreparedResponse(
            request=request,
            snapshot=_initial_response(request, response_id, created_at),
            input_items=input_items,
            model_request=model_request,
            history=loaded.items,
            chain_version=loaded.version,
            facts=loaded.facts,
            skipped_tools=plan.skipped,
            compact_at=self._compaction_threshold(request),
            compact_only=compact_only,
            builtins=builtins,
            citations=citations,
        )

    def _compaction_threshold(self, request: ResponseCreateRequest) -> int | None:
        if not request.context_management:
            return None
        threshold = request.context_management[0].compact_threshold
        if threshold is not None:
            return threshold
        window = self.provider.context_window(request.model)
        if window is None:
            raise InvalidRequestError(
                f"The context window of '{request.model}' is unknown here, so compaction "
                "needs its threshold: set compact_threshold.",
                param="context_management[0].compact_threshold",
            )
        return window * 4 // 5

    async def _builtins(
        self, request: ResponseCreateRequest, citations: Citations
    ) -> list[BuiltinTool]:
        context = ToolContext(self.library, frozenset(request.include), citations, request.tools)
        tools = []
        for i, config in enumerate(request.tools):
            tool = builtin_tool(config, self.options.tools, context)
            if tool is not None:
                await tool.check(f"tools[{i}]")
                tools.append(tool)
        return tools

    async def count_input_tokens(self, request: InputTokensRequest) -> int:
        check_input_tokens_request(request)
        if request.model is None:
            request.model = (await self.provider.list_models())[0].id
        _, _, model_request, _ = await self._context(request)
        return await self.provider.count_input_tokens(model_request)

    def run(self, p: PreparedResponse, generate: bool = True, live: bool = True) -> ResponseRun:
        """The response's events; iterate the run, then read its outcome from it.
        `generate=False` (a WebSocket warm-up) completes it with no output and no model turn;
        `live=False`: nobody reads the events as they come, only the outcome."""
        return ResponseRun(self, p, generate, live)

    def settle_reasoning(
        self, builder: OutputBuilder, request: ResponseCreateRequest
    ) -> AsyncIterator[ResponseStreamEvent]:
        return settle_reasoning(
            builder, self.provider, request, self.keys, self.options.summary_model
        )

    async def save(
        self,
        p: PreparedResponse,
        final: Response,
        run: ResponseRun,
        quiet: bool = False,
        converse: bool = True,
    ) -> None:
        """Store the final response; `converse=False` keeps it out of its conversation."""
        size = len(final.output) + (len(p.input_items) if p.request.store else 0)
        run.final_json = await offload(size, final.model_dump_json)
        if not p.request.store:
            return
        input_rows, output_rows = await offload(size, _rows, p.input_items, final.output)
        row = ResponseRow(
            final.id,
            final.previous_response_id,
            final.created_at,
            run.final_json,
            final.conversation.id if final.conversation and converse else None,
            final.status.value,
        )
        background = p.request.background
        try:
            if background or not self.store.save_now(row, input_rows, output_rows):
                # A client hanging up mid-save must not leave half a response behind.
                save = self.store.save_response(row, input_rows, output_rows, background)
                await asyncio.shield(save)
        except ResponsdError:
            if not quiet:
                raise
            log.exception("could not store response %s", final.id)
            return
        if final.conversation is not None:
            return
        # The next turn most likely continues this one: its chain is known already.
        if p.chain_version is not None and p.facts is not None:
            self.chains.put(final.id, p.continued(final.output))
        elif p.request.previous_response_id is None and not p.history:
            self.chains.put_first(final.id, [*p.input_items, *final.output])


def _rows(*lists: list[Item]) -> list[list[tuple[str, str]]]:
    # Every item has its id by now (normalize_input, the output builder).
    return [[(item.id or "", item.model_dump_json()) for item in items] for items in lists]


def _model_request(request: ContextFields, items: list[Item], plan: ToolPlan) -> ModelRequest:
    return ModelRequest(
        model=request.model,
        items=items,
        instructions=request.instructions,
        tools=plan.specs,
        tool_choice=plan.mode,
        parallel_tool_calls=request.parallel_tool_calls,
        output_format=request.text.format,
        reasoning_effort=request.reasoning.effort if request.reasoning else None,
        reasoning_context=request.reasoning.context if request.reasoning else None,
        verbosity=request.text.verbosity if request.text.verbosity != "medium" else None,
        logprobs=asked_logprobs(request),
        **sampling.values(request),
    )


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
        tools=echo_tools(request.tools),
        tool_choice=request.tool_choice,
        parallel_tool_calls=request.parallel_tool_calls,
        max_tool_calls=request.max_tool_calls,
        text=request.text,
        reasoning=ReasoningEcho(
            effort=reasoning.effort if reasoning else None,
            summary=(reasoning.summary or reasoning.generate_summary) if reasoning else None,
            context=reasoning.context if reasoning else None,
        ),
        top_logprobs=request.top_logprobs or 0,
        store=request.store,
        metadata=request.metadata or {},
        **{
            **sampling.echoed(request, _ECHOED),
            "service_tier": request.service_tier
            if request.service_tier not in (None, "auto")
            else "default",
        },
    )


_ECHOED = frozenset(Response.model_fields)
