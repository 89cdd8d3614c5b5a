"""Reasoning items: closing one with its optional summary and its sealed copy.

Summaries are written by a second, summarising model call (the `summary_model` setting,
or the request's own model) over the finished reasoning text, and streamed as
`response.reasoning_summary_*` events. A response without reasoning gets no summary.
"""

from collections.abc import AsyncIterator

from responsd.engine.output import OutputBuilder
from responsd.providers.base import ModelRequest, Provider, TextDelta
from responsd.sealing import KeyRing
from responsd.types.content import InputText
from responsd.types.events import ResponseStreamEvent
from responsd.types.items import Message
from responsd.types.requests import ResponseCreateRequest

SUMMARY_INSTRUCTIONS = {
    "concise": "Summarize the reasoning you are given in one or two plain sentences.",
    "auto": "Summarize the reasoning you are given in a few plain sentences.",
    "detailed": "Summarize the reasoning you are given in a detailed paragraph, step by step.",
}
ENCRYPTED_REASONING = "reasoning.encrypted_content"


def summary_level(request: ResponseCreateRequest) -> str | None:
    reasoning = request.reasoning
    return (reasoning.summary or reasoning.generate_summary) if reasoning else None


async def summarize(
    provider: Provider, model: str, level: str, reasoning: str
) -> AsyncIterator[str]:
    request = ModelRequest(
        model=model,
        instructions=SUMMARY_INSTRUCTIONS[level],
        items=[Message(role="user", content=[InputText(text=reasoning)])],
    )
    async for delta in provider.stream(request):
        if isinstance(delta, TextDelta):
            yield delta.text


async def settle_reasoning(
    builder: OutputBuilder,
    provider: Provider,
    request: ResponseCreateRequest,
    keys: KeyRing,
    summary_model: str | None,
) -> AsyncIterator[ResponseStreamEvent]:
    """Close the open reasoning item: raw text done, summary if asked, then the item itself."""
    events, text = builder.end_reasoning_text()
    for event in events:
        yield event
    level = summary_level(request)
    if level and text.strip():
        for event in builder.summary_start():
            yield event
        async for piece in summarize(provider, summary_model or request.model, level, text):
            yield builder.summary_delta(piece)
        for event in builder.summary_end():
            yield event
    sealed = (
        keys.seal("reasoning", {"text": text}) if ENCRYPTED_REASONING in request.include else None
    )
    for event in builder.finish_reasoning(sealed):
        yield event
