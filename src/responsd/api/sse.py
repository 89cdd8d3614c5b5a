"""Server-sent events: one compact JSON line per event, one write per frame."""

from collections.abc import AsyncIterator

from responsd.types.events import ResponseStreamEvent

DONE_FRAME = b"data: [DONE]\n\n"


def frame(event: ResponseStreamEvent) -> bytes:
    return raw_frame(event.type, event.model_dump_json())


def raw_frame(event_type: str, data: str) -> bytes:
    return b"event: " + event_type.encode() + b"\ndata: " + data.encode() + b"\n\n"


async def sse_frames(events: AsyncIterator[ResponseStreamEvent]) -> AsyncIterator[bytes]:
    async for event in events:
        yield frame(event)
    yield DONE_FRAME


async def stored_frames(events: AsyncIterator[tuple[int, str, str]]) -> AsyncIterator[bytes]:
    """Frames of events replayed from the log: (sequence, type, JSON) as stored."""
    async for _, event_type, data in events:
        yield raw_frame(event_type, data)
    yield DONE_FRAME
