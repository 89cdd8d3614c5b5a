"""Server-sent events: one compact JSON line per event, one write per frame."""

from collections.abc import AsyncIterator

from responsd.types.events import ResponseStreamEvent

DONE_FRAME = b"data: [DONE]\n\n"


def frame(event: ResponseStreamEvent) -> bytes:
    return (
        b"event: " + event.type.encode() + b"\ndata: " + event.model_dump_json().encode() + b"\n\n"
    )


async def sse_frames(events: AsyncIterator[ResponseStreamEvent]) -> AsyncIterator[bytes]:
    async for event in events:
        yield frame(event)
    yield DONE_FRAME
