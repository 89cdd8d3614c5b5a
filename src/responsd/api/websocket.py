"""WebSocket mode for /v1/responses: one socket, many turns, on one or more lanes.

Each `response.create` frame is one create request (without the HTTP-only `stream`,
`stream_options` and `background`); its events go back as JSON text frames, the same
objects in the same order as over SSE. A frame's `stream_id` names its lane: turns on one
lane run one at a time in arrival order, lanes run side by side (at most MAX_ACTIVE turns
at once; more wait), and every frame of a named lane carries its `stream_id`. The default
lane (no `stream_id`) carries none.

The socket remembers each lane's last response with its whole context, so a
`previous_response_id` naming one continues without a database read, even with
`store: false` (nothing is written) and from another lane (a fork). A failed continuation
forgets the response it continued when that is its own lane's; a fork's failure leaves the
other lane's state alone. A warm-up turn (`generate: false`) runs no model: it answers a
completed response with no output whose context (instructions aside) the next turn can
continue from.

`response.steer` frames queue user input for a running response (api/steering.py): an
automatic successor continues from it with that input once it completes.

Request errors are `{"type": "error", "status", "error": {…}}` frames and leave the socket
usable. The socket closes after `websocket_max_seconds` (once the turns in flight end) or
when the client hangs up, which cancels every turn in flight, like a dropped stream.
"""

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from responsd.api import steering
from responsd.api.parsing import validate
from responsd.api.steering import Running, SteerRejected
from responsd.engine.context import History
from responsd.engine.loop import Engine
from responsd.errors import InvalidRequestError, ResponsdError
from responsd.types.events import ErrorEvent
from responsd.types.requests import ResponseCreateRequest

log = logging.getLogger("responsd.api")

HTTP_ONLY = {
    "stream": "Responses are always streamed over a WebSocket; leave out `stream`.",
    "stream_options": "Stream options do not apply over a WebSocket; leave out `stream_options`.",
    "background": "Background responses are not available over a WebSocket; use HTTP.",
}
MAX_ACTIVE = 16
"""Turns running at once on one socket, over all its lanes; further ones wait their turn."""
MAX_LANES = 32
"""Distinct named lanes one socket may use (the default lane does not count)."""
FINISHED_KEPT = 1024
_INTERNAL = "The server had an internal error."
STREAM_ID = re.compile(r"[A-Za-z0-9_.-]{1,256}")


class ConnectionLimitError(ResponsdError):
    status_code = 400
    type = "invalid_request_error"
    code = "websocket_connection_limit_reached"


@dataclass(slots=True)
class _LastTurn:
    response_id: str
    context: History
    """Everything the next turn continues from: history, input and output items, with what
    scans of them find (so a long session's turn scans and converts only its new items)."""


@dataclass(eq=False)
class _Lane:
    stream_id: str | None
    frames: asyncio.Queue[dict[str, Any] | ResponsdError] = field(default_factory=asyncio.Queue)
    """Create bodies to run in order, and errors to answer in their place."""
    last: _LastTurn | None = None
    running: Running | None = None
    """Its response in flight, once its id is known (what steering targets)."""
    worker: asyncio.Task[None] | None = None
    busy: bool = False
    """A turn of this lane is running."""


class ResponsesSocket:
    def __init__(self, websocket: WebSocket, engine: Engine, max_seconds: float):
        self.ws = websocket
        self.engine = engine
        self.max_seconds = max_seconds
        self.lanes: dict[str | None, _Lane] = {}
        self._frames: asyncio.Queue[str | None] = asyncio.Queue()
        self._active = asyncio.Semaphore(MAX_ACTIVE)
        self._sending = asyncio.Lock()
        self._closing = False
        self._waiting: dict[str, tuple[_Lane, Running]] = {}
        """Completed responses whose steers wait for the client's tool results, by id."""
        self._finished: dict[str, None] = {}
        """Ids of the latest responses this socket ran (a steer naming one is too late)."""

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
                    break
                if frame is None:
                    return  # the client hung up: its turns are for nobody now
                await self._dispatch(frame)
            if await self._finish_turns():
                await self._limit_reached()
        finally:
            reader.cancel()
            await self._stop_lanes()

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
        await self._frames.put(None)

    async def _dispatch(self, frame: str) -> None:
        """Hand a frame to its lane. A frame that names no usable lane is answered on the
        default lane, in its order there."""
        stream_id = None
        data: dict[str, Any] | ResponsdError
        try:
            data = _frame_object(frame)
            if data.get("type") == "response.steer":
                await self._steer(data)  # at once: the response it targets is running
                return
            stream_id = _stream_id(data.pop("stream_id", None))
        except ResponsdError as exc:
            data = exc
        lane = self.lanes.get(stream_id)
        if lane is None:
            if stream_id is not None and len(self.lanes) - (None in self.lanes) >= MAX_LANES:
                await self._error(
                    InvalidRequestError(
                        f"This socket already uses {MAX_LANES} named lanes (`stream_id`); "
                        "reuse one, or open another socket.",
                        param="stream_id",
                        code="websocket_stream_limit_reached",
                    ),
                    stream_id,
                )
                return
            lane = self.lanes[stream_id] = _Lane(stream_id)
            lane.worker = asyncio.create_task(self._run_lane(lane))
        lane.frames.put_nowait(data)

    async def _run_lane(self, lane: _Lane) -> None:
        while not self._closing:
            data = await lane.frames.get()
            if isinstance(data, ResponsdError):
                await self._error(data, lane.stream_id)
                continue
            async with self._active:
                lane.busy = True
                try:
                    turn: tuple[dict[str, Any], Running | None] | None = (data, None)
                    while turn is not None:  # a turn, then its automatic successors
                        turn = await self._turn(lane, *turn)
                except (WebSocketDisconnect, OSError):
                    return  # a send that lost the race with the hang-up
                except Exception:
                    log.exception("a WebSocket turn failed")
                    await self._error(ResponsdError(_INTERNAL), lane.stream_id)
                finally:
                    lane.busy = False

    async def _finish_turns(self) -> bool:
        """At the time limit: let the turns in flight end (frames still waiting are not
        run); False when the client hangs up meanwhile."""
        self._closing = True
        running = set()
        for lane in self.lanes.values():
            if lane.worker is not None and lane.busy:
                running.add(lane.worker)
            elif lane.worker is not None:
                lane.worker.cancel()
        while running:
            frame = asyncio.create_task(self._frames.get())
            done, _ = await asyncio.wait({*running, frame}, return_when=asyncio.FIRST_COMPLETED)
            if frame in done and frame.result() is None:
                return False
            frame.cancel()
            running -= done
        return True

    async def _stop_lanes(self) -> None:
        """Cancel every lane's worker (and so its turn in flight)."""
        workers = [lane.worker for lane in self.lanes.values() if lane.worker is not None]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _steer(self, data: dict[str, Any]) -> None:
        target, given = steering.parse(data)
        lane = self._holding(target)
        running = lane.running if lane is not None else None
        if running is not None and running.response_id != target:
            running = None  # the lane has moved on: `target` is its last response
        try:
            steer = steering.check(data)
            if running is None:
                if lane is not None or target in self._finished:
                    raise SteerRejected(
                        "response_already_completed",
                        f"Response '{target}' has completed; continue it with response.create.",
                    )
                raise SteerRejected(
                    "response_not_found", f"No response '{target}' is running on this socket."
                )
            if not steering.steerable(running.body):
                raise SteerRejected(
                    "steering_not_supported",
                    "A response bound to a conversation or using context_management cannot "
                    "be steered.",
                )
            if len(running.steers) >= steering.MAX_STEERS:
                raise SteerRejected(
                    "too_many_pending_steers",
                    f"Response '{target}' already holds {steering.MAX_STEERS} steers; wait for "
                    "its successor.",
                )
        except SteerRejected as exc:
            number = running.insert() if running is not None else 0
            event = steering.failed(exc.code, exc.message, target, given, number)
            await self._send_steering(event, lane.stream_id if lane else None)
            return
        assert lane is not None and running is not None
        running.steers.append(steer)
        running.run.steered = True
        event = steering.accepted(steer, running.insert())
        await self._send_steering(event, lane.stream_id)

    def _holding(self, response_id: str | None) -> _Lane | None:
        """The lane running `response_id`, or whose last response it is."""
        for lane in self.lanes.values():
            if lane.running is not None and lane.running.response_id == response_id:
                return lane
        return self._known(response_id)

    async def _fail_steers(self, lane: _Lane, parent: Running, code: str, message: str) -> None:
        for steer in parent.steers:
            event = steering.failed(
                code, message, parent.response_id, steer.input, parent.insert(), steer.id
            )
            await self._send_steering(event, lane.stream_id)

    def _known(self, response_id: str | None) -> _Lane | None:
        """The lane whose last response is `response_id`, if any."""
        for lane in self.lanes.values():
            if lane.last is not None and lane.last.response_id == response_id:
                return lane
        return None

    async def _turn(
        self, lane: _Lane, body: dict[str, Any], steered: Running | None
    ) -> tuple[dict[str, Any], Running | None] | None:
        """Run one create body; the automatic successor to run next, if steers want one.
        `steered`: the response whose steers this body commits (in its input)."""
        parent: _Lane | None = None
        try:
            if steered is None:
                _check_fields(body)
                if waiting := self._waiting.pop(body.get("previous_response_id") or "", None):
                    steered = waiting[1]
                    body = steering.with_steers(body, steered.steers)
            generate = _generate(body)
            settings = dict(body)  # what a successor inherits (it always generates)
            request = validate(ResponseCreateRequest, body)
            parent = self._known(request.previous_response_id)
            known = parent.last.context if parent and parent.last else None
            prepared = await self.engine.prepare(request, history=known)
        except ResponsdError as exc:
            parent = parent or self._known(body.get("previous_response_id"))
            self._forget(lane, parent)
            await self._error(exc, lane.stream_id)
            if steered is not None:
                await self._fail_steers(lane, steered, "successor_creation_failed", exc.message)
            return None
        except Exception:  # a fault of ours (the lane reports it): the steers go back first
            if steered is not None:
                await self._fail_steers(lane, steered, "successor_creation_failed", _INTERNAL)
            raise
        run = self.engine.run(prepared, generate=generate)
        running = lane.running = Running(prepared.snapshot.id, settings, run)
        try:
            await self._stream(lane, running)
        except Exception as exc:  # a fault of ours, or the socket gone (nobody to tell)
            if not isinstance(exc, WebSocketDisconnect | OSError):
                await self._fail_steers(lane, running, "response_not_active", _INTERNAL)
            raise
        finally:
            lane.running = None
            self._finished[running.response_id] = None
            if len(self._finished) > FINISHED_KEPT:
                del self._finished[next(iter(self._finished))]
        if run.failure is not None:
            self._forget(lane, parent)
            await self._fail_steers(
                lane, running, "response_not_active", "The response failed before its successor."
            )
            return None
        # The socket's memory is not a stored chain (store=false turns are in it): its turns
        # are not cached as one.
        context = prepared.continued(run.snapshot.output)._replace(version=None)
        lane.last = _LastTurn(run.snapshot.id, context)
        return await self._after_steers(lane, running, run.snapshot.output)

    async def _stream(self, lane: _Lane, running: Running) -> None:
        """Send a running response's events on its lane."""
        run = running.run
        async for event in run:
            if running.shift:  # steering events went out inside this stream
                number = event.sequence_number + running.shift
                event = event.model_copy(update={"sequence_number": number})
            running.sequence = event.sequence_number
            if isinstance(event, ErrorEvent):
                failure = run.failure or ResponsdError(event.message)
                await self._error(failure, lane.stream_id, event)
            else:
                await self._send(_on_lane(event.model_dump_json(), lane.stream_id))

    async def _after_steers(
        self, lane: _Lane, running: Running, output: list[Any]
    ) -> tuple[dict[str, Any], Running | None] | None:
        """What a completed response's steers lead to: its automatic successor, or a wait
        for the client's tool results."""
        if not running.steers:
            return None
        if self._closing:
            await self._fail_steers(
                lane, running, "successor_creation_failed", "The socket reached its time limit."
            )
            return None
        if stubs := steering.required_input(output):
            for steer in running.steers:
                event = steering.pending(steer, stubs, running.insert())
                await self._send_steering(event, lane.stream_id)
            self._waiting[running.response_id] = lane, running
            if len(self._waiting) > steering.MAX_WAITING:  # the oldest are given back
                oldest = next(iter(self._waiting))
                old_lane, old = self._waiting.pop(oldest)
                await self._fail_steers(
                    old_lane,
                    old,
                    "too_many_pending_steers",
                    f"This socket holds steers for {steering.MAX_WAITING} responses waiting "
                    "for tool results; the oldest are returned.",
                )
            return None
        return steering.successor_body(running, running.steers), running

    @staticmethod
    def _forget(lane: _Lane, parent: _Lane | None) -> None:
        """A failed continuation forgets what it continued, when that is its own lane's
        last response; another lane's (this turn was a fork) stays."""
        if parent is lane:
            lane.last = None

    async def _send_steering(self, event: dict[str, Any], stream_id: str | None) -> None:
        await self._send(_on_lane(orjson.dumps(event).decode(), stream_id))

    async def _send(self, text: str) -> None:
        async with self._sending:  # lanes send side by side: one frame at a time
            await self.ws.send_text(text)

    async def _error(
        self, exc: ResponsdError, stream_id: str | None, event: ErrorEvent | None = None
    ) -> None:
        frame: dict[str, Any] = {"type": "error", "status": exc.status_code}
        frame["error"] = exc.envelope()
        if event is not None:
            frame["sequence_number"] = event.sequence_number
        if stream_id is not None:
            frame["stream_id"] = stream_id
        await self._send(orjson.dumps(frame).decode())

    async def _limit_reached(self) -> None:
        minutes = self.max_seconds / 60
        await self._error(
            ConnectionLimitError(
                f"This WebSocket has been open for its limit ({minutes:g} minutes); open a new "
                "one to continue (previous_response_id works across sockets for stored "
                "responses)."
            ),
            None,
        )
        await self.ws.close(1000)


def _on_lane(event_json: str, stream_id: str | None) -> str:
    """The event's JSON with its lane's `stream_id` (validated: nothing to escape)."""
    if stream_id is None:
        return event_json
    return f'{event_json[:-1]},"stream_id":"{stream_id}"}}'


def _frame_object(frame: str) -> dict[str, Any]:
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(
            'A frame is not JSON; send {"type": "response.create", …} as a text frame.',
            code="invalid_json",
        ) from exc
    if not isinstance(data, dict):
        raise InvalidRequestError("A frame must be a JSON object.", code="invalid_json")
    return data


def _stream_id(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and STREAM_ID.fullmatch(value)):
        return value
    raise InvalidRequestError(
        "`stream_id` must be 1-256 ASCII letters, digits, '_', '-' or '.'.",
        param="stream_id",
        code="invalid_stream_id",
    )


def _check_fields(data: dict[str, Any]) -> None:
    kind = data.pop("type", None)
    if kind != "response.create":
        raise InvalidRequestError(
            f"Unknown event type {kind!r}; this socket takes 'response.create' and "
            "'response.steer' events.",
            param="type",
            code="unknown_event_type",
        )
    for name, message in HTTP_ONLY.items():
        if name in data:
            raise InvalidRequestError(message, param=name)


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
