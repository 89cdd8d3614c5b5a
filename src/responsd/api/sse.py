"""Server-sent events: one compact JSON line per event, one write per frame."""

from collections.abc import AsyncIterator

from starlette.types import Receive, Scope, Send

from responsd.api.disconnect import cancelled_on_disconnect
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


class EventStream:
    """A `text/event-stream` response of `frames`; a client that hangs up cancels the
    producer at its next await (and is logged as a disconnect, see request_ids).

    Starlette's StreamingResponse does the same inside an anyio task group, which costs
    ~0.1 ms of CPU per stream (measured: 107-112 µs against 5 µs for an asyncio task) and
    ~6 KiB per open stream; every stream pays it before its first event."""

    def __init__(self, frames: AsyncIterator[bytes], headers: dict[str, str] | None = None):
        self.frames = frames
        extra = [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
        self.headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            *extra,
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with cancelled_on_disconnect(receive):
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            async for frame in self.frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
