"""POST /v1/responses/compact: a long history becomes its user messages plus one sealed summary.

The summary is written by the requested model over the whole context; the `compaction`
item that carries it is sealed (see sealing.py), and shown to the model, when sent back
as input, as a developer message holding the summary.
"""

import time
from typing import TYPE_CHECKING, Any

from responsd.engine.context import (
    context_view,
    load_history,
    normalize_input,
    resolve_references,
)
from responsd.engine.requests import check_cache_options, check_items, without_trigger
from responsd.engine.truncation import fit_context
from responsd.ids import new_id
from responsd.providers.base import ModelRequest, Provider, TextDelta, UsageDelta
from responsd.types.content import InputText
from responsd.types.items import AdditionalTools, Compaction, Item, Message, ToolSearchOutput
from responsd.types.requests import CompactRequest

if TYPE_CHECKING:
    from responsd.engine.loop import Engine

COMPACT_INSTRUCTIONS = (
    "You compress conversations. Write a summary of the conversation so far that lets it "
    "continue without the original: the user's goals, decisions made, facts and tool "
    "results that matter, and what is still open. Be brief and concrete."
)
COMPACT_ASK = "Summarize the conversation above, as instructed."


async def compact(engine: "Engine", request: CompactRequest) -> dict[str, Any]:
    check_cache_options(request.prompt_cache_options)
    given = request.input or []
    if isinstance(given, list):  # a final compaction_trigger asks for what this does anyway
        given = without_trigger(given)[0]
        check_items(given, "input")
    history = (await load_history(engine.store, engine.parsed, request.previous_response_id)).items
    items = await resolve_references(engine.store, normalize_input(given))
    view = context_view(history, items, engine.keys, "previous_response_id")
    model_request = summary_request(
        request.model, view, request.instructions, request.prompt_cache_key
    )
    engine.provider.validate(model_request)
    engine.provider.admit()
    summary, usage = await summarize(engine.provider, model_request)
    sealed = engine.keys.seal("compaction", {"summary": summary})
    output = [
        *_kept(history),
        *_kept(items),
        Compaction(id=new_id("cmp"), encrypted_content=sealed),
    ]
    return {
        "id": new_id("resp"),
        "object": "response.compaction",
        "created_at": int(time.time()),
        "output": [item.model_dump(mode="json") for item in output],
        "usage": {
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
    }


def _kept(items: list[Item]) -> list[Item]:
    """What the summary does not stand for: the user's own words, and the tools the context
    added (a search's loaded tools as the additional_tools item that keeps them loaded)."""
    kept: list[Item] = []
    for item in items:
        if isinstance(item, AdditionalTools) or (isinstance(item, Message) and item.role == "user"):
            kept.append(item)
        elif isinstance(item, ToolSearchOutput) and item.tools:
            kept.append(AdditionalTools(tools=item.tools))
    return kept


def summary_request(
    model: str, view: list[Item], instructions: str | None, prompt_cache_key: str | None
) -> ModelRequest:
    """The model request that summarizes `view` (what the model sees of a context)."""
    if instructions:
        instructions = f"{instructions}\n\n{COMPACT_INSTRUCTIONS}"
    ask = Message(role="user", content=[InputText(text=COMPACT_ASK)])
    return ModelRequest(
        model=model,
        items=[*view, ask],
        instructions=instructions or COMPACT_INSTRUCTIONS,
        prompt_cache_key=prompt_cache_key,
    )


async def summarize(provider: Provider, request: ModelRequest) -> tuple[str, UsageDelta]:
    """The summary a validated `summary_request` gets, and its usage."""
    # A history too long for the window is what compaction is for: when the window is
    # known, summarize what fits (the newest items); otherwise the backend decides.
    known = provider.context_window(request.model) is not None
    request = fit_context(provider, request, "auto" if known else None)
    pieces: list[str] = []
    usage = UsageDelta(0, 0)
    async for delta in provider.stream(request):
        if isinstance(delta, TextDelta):
            pieces.append(delta.text)
        elif isinstance(delta, UsageDelta):
            usage = delta
    return "".join(pieces).strip(), usage
