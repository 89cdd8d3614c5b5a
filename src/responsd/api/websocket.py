"""WebSocket mode for /v1/responses: one socket, many turns.

Each `response.create` frame is one create request (without the HTTP-only `stream`,
`stream_options` and `background`); its events go back as JSON text frames, the same
objects in the same order as over SSE. Turns run one at a time, in the order they arrive.
The socket remembers its last response with its whole context, so a `previous_response_id`
naming it continues without a database read, even with `store: false` (nothing is written).
Request errors are `{"type": "error", "status", "error": {…}}` frames and leave the socket
usable. A warm-up turn (`generate: false`) runs no model: it answers a completed response
with no output whose context (instructions aside) the next turn can continue from. The socket
closes after `websocket_max_seconds` or when the client hangs up (which
cancels the turn in flight, like a dropped stream).
"""

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from responsd.api.parsing import validate
from responsd.engine.loop import Engine
from responsd.errors import InvalidRequestError, ResponsdError, UnsupportedParameterError
from responsd.types.events import ErrorEvent
from responsd.types.items import Item
from responsd.types.requests import ResponseCreateRequest

log = logging.getLogger("responsd.api")

HTTP_ONLY = {
    "stream": "Responses are always streamed over a WebSocket; leave out `stream`.",
    "stream_options": "Stream options do not apply over a WebSocket; leave out `stream_options`.",
    "background": "Background responses are not available over a WebSocket; use HTTP.",
}
NOT_YET = {
    "stream_id": "Several streams on one socket (`stream_id`) are not supported; open one "
    "socket per conversation.",
}


class ConnectionLimitError(ResponsdError):
    status_code = 400
    type = "invalid_request_error"
    code = "websocket_connection_limit_reached"


@dataclass(slots=True)
class _LastTurn:
    response_id: str
    context: list[Item]
    """Everything the next turn continues from: history, input and output items."""


class ResponsesSocket:
    def __init__(self, websocket: WebSocket, engine: Engine, max_seconds: float):
        self.ws = websocket
        self.engine = engine
        self.max_seconds = max_seconds
        self.last: _LastTurn | None = None
        self._frames: asyncio.Queue[str | None] = asyncio.Queue()
        self._gone = asyncio.Event()

    async def serve(self) -> None:
        await self.ws.accept()
        reader = asyncio.create_task(self._read())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_seconds
        try:
            while True:
                try:
                    frame = await asyncio.wait_for(
                        self._frames.get(), max(0.0, deadline - loop.time())
                    )
                except TimeoutError:
                    await self._limit_reached()
                    return
                if frame is None:
                    return  # the client hung up
                if not await self._turn_or_hang_up(frame):
                    return
                if loop.time() >= deadline:
                    await self._limit_reached()
                    return
        finally:
            reader.cancel()

    async def _read(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", errors="replace")
                await self._frames.put(text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        self._gone.set()
        await self._frames.put(None)

    async def _turn_or_hang_up(self, frame: str) -> bool:
        """Run one frame's turn; False when the client left meanwhile (the turn is cancelled)."""
        turn = asyncio.create_task(self._turn(frame))
        gone = asyncio.create_task(self._gone.wait())
        await asyncio.wait({turn, gone}, return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if not turn.done():
            turn.cancel()
            await asyncio.gather(turn, return_exceptions=True)
            return False
        failure = turn.exception()
        if failure is None:
            return True
        if self._gone.is_set() or isinstance(failure, WebSocketDisconnect | OSError):
            return False  # a send that lost the race with the hang-up
        log.error("a WebSocket turn failed", exc_info=failure)
        await self._error(ResponsdError("The server had an internal error."))
        return True

    async def _turn(self, frame: str) -> None:
        body: dict[str, Any] = {}
        try:
            body = _create_body(frame)
            generate = _generate(body)
            request = validate(ResponseCreateRequest, body)
            continues = self.last is not None and request.previous_response_id == (
                self.last.response_id
            )
            known = self.last.context if continues and self.last else None
            prepared = await self.engine.prepare(request, history=known)
        except ResponsdError as exc:
            if self.last and body.get("previous_response_id") == self.last.response_id:
                self.last = None  # a failed continuation forgets what it continued
            await self._error(exc)
            return
        run = self.engine.run(prepared, generate=generate)
        async for event in run:
            if isinstance(event, ErrorEvent):
                await self._error(run.failure or ResponsdError(event.message), event)
            else:
                await self.ws.send_text(event.model_dump_json())
        if run.failure is not None:
            if continues:
                self.last = None
            return
        context = [*prepared.history, *prepared.input_items, *run.snapshot.output]
        self.last = _LastTurn(run.snapshot.id, context)

    async def _error(self, exc: ResponsdError, event: ErrorEvent | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "status": exc.status_code}
        frame["error"] = exc.envelope()
        if event is not None:
            frame["sequence_number"] = event.sequence_number
        await self.ws.send_text(orjson.dumps(frame).decode())

    async def _limit_reached(self) -> None:
        minutes = self.max_seconds / 60
        await self._error(
            ConnectionLimitError(
                f"This WebSocket has been open for its limit ({minutes:g} minutes); open a new "
                "one to continue (previous_response_id works across sockets for stored "
                "responses)."
            )
        )
        await self.ws.close(1000)


def _create_body(frame: str) -> dict[str, Any]:
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(
            'A frame is not JSON; send {"type": "response.create", …} as a text frame.',
            code="invalid_json",
        ) from exc
    if not isinstance(data, dict):
        raise InvalidRequestError("A frame must be a JSON object.", code="invalid_json")
    kind = data.pop("type", None)
    if kind != "response.create":
        raise InvalidRequestError(
            f"Unknown event type {kind!r}; this socket takes 'response.create' events.",
            param="type",
            code="unknown_event_type",
        )
    for field, message in HTTP_ONLY.items():
        if field in data:
            raise InvalidRequestError(message, param=field)
    for field, message in NOT_YET.items():
        if field in data:
            raise UnsupportedParameterError(message, param=field)
    return data


def _generate(body: dict[str, Any]) -> bool:
    generate = body.pop("generate", True)
    if not isinstance(generate, bool):
        raise InvalidRequestError(
            "`generate` must be a boolean (false: a warm-up turn with no model output).",
            param="generate",
        )
    return generate


async def responses_socket(websocket: WebSocket) -> None:
    state = websocket.app.state
    await ResponsesSocket(websocket, state.engine, state.websocket_max_seconds).serve()


routes = [WebSocketRoute("/v1/responses", responses_socket)]
