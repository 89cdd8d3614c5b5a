"""Background responses: run detached from any HTTP request, logged event by event.

Every worker process runs one BackgroundRunner. A background request is stored as
`queued`; any worker claims it (compare-and-set in the store) and runs it, appending each
event to the durable log, so a stream can be resumed from any worker
(`GET /v1/responses/{id}?stream=true&starting_after=N`). Workers beat a heartbeat on the
responses they run; one that stops beating for STALE_AFTER seconds is presumed dead and
its responses end `failed` with an error that says so. A cancel is flagged in the store and
reaches the running worker at its next heartbeat (at once when it runs here). Queued work
survives restarts: the stored request is prepared again by whichever worker claims it.
"""

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator

import orjson

from responsd.concurrency import offload
from responsd.engine.loop import Engine, PreparedResponse
from responsd.engine.run import ResponseRun
from responsd.errors import InvalidRequestError, NotFoundError, ResponsdError
from responsd.ids import new_id
from responsd.types.events import (
    TERMINAL_EVENT_TYPES,
    ResponseFailedEvent,
    ResponseStreamEvent,
)
from responsd.types.requests import COMPLETION_WINDOWS, BackgroundOptions, ResponseCreateRequest
from responsd.types.response import Response, ResponseStatus

log = logging.getLogger("responsd.background")

HEARTBEAT = 1.0
"""Seconds between a worker's heartbeats (and its checks for remote cancels)."""
STALE_AFTER = 10.0
"""Seconds without a heartbeat after which a worker is presumed dead."""
POLL = 0.5
"""Seconds between looks for queued work submitted to other workers."""
FOLLOW_POLL = 0.05
"""Seconds between reads of the event log while following a response run elsewhere."""
FLUSH_EVERY = 0.02
"""Seconds events may wait in memory before they are appended to the log (batched writes)."""
MAX_RUNNING = 32
TERMINAL_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled"})


class BackgroundRunner:
    def __init__(self, engine: Engine, stale_after: float = STALE_AFTER):
        self.engine = engine
        self.stale_after = stale_after
        self.store = engine.store.background
        self.worker_id = new_id("wrk")
        self._running: dict[str, asyncio.Task] = {}
        self._user_cancelled: set[str] = set()
        self._progress: dict[str, asyncio.Event] = {}
        self._loops: list[asyncio.Task] = []
        self._closing = False

    async def start(self) -> None:
        await self._reap_stale()
        self._loops = [
            asyncio.create_task(self._dispatch(), name="responsd-dispatch"),
            asyncio.create_task(self._beat(), name="responsd-heartbeat"),
        ]

    async def close(self) -> None:
        self._closing = True
        for task in self._loops:
            task.cancel()
        running = list(self._running.values())
        for task in running:
            task.cancel()  # each ends `failed`: the server stopped while it ran
        await asyncio.gather(*self._loops, *running, return_exceptions=True)

    async def submit(self, p: PreparedResponse) -> None:
        snapshot = p.snapshot
        size = len(p.input_items)
        request_json = await offload(
            size, p.request.model_dump_json, by_alias=True, exclude_unset=True
        )
        options = p.request.background_options or BackgroundOptions()
        window = options.completion_window
        await self.store.enqueue(
            snapshot.id,
            snapshot.created_at,
            snapshot.model_dump_json(),
            request_json,
            snapshot.previous_response_id,
            snapshot.conversation.id if snapshot.conversation else None,
            run_by=snapshot.created_at + COMPLETION_WINDOWS[window],
            continuation=_continuation(window, p.request.model, options.continuation_id),
        )
        if len(self._running) < MAX_RUNNING:  # else it waits for any worker's dispatcher
            # Shielded: a claim written but not followed by its run would leave the
            # response in progress with nobody running it.
            await asyncio.shield(self._claim(snapshot.id, p))

    async def cancel(self, response_id: str) -> str:
        """Cancel a background response; its JSON afterwards (idempotent)."""
        state = await self.store.request_cancel(response_id)
        if state is None:
            raise NotFoundError(f"Response with id '{response_id}' not found.", param="response_id")
        background, status, body, _ = state
        if not background:
            raise InvalidRequestError(
                "Only background responses can be cancelled, and this one was not created "
                "with background=true.",
                param="response_id",
            )
        if status == "queued":
            cancelled = _with_status(body, ResponseStatus.CANCELLED)
            if await self.store.cancel_queued(response_id, cancelled):
                return cancelled
        task = self._running.get(response_id)
        if task is not None:
            self._user_cancelled.add(response_id)
            task.cancel()
            await asyncio.wait({task}, timeout=5)
        deadline = time.monotonic() + 2 * HEARTBEAT + 1
        while time.monotonic() < deadline:  # another worker acts at its next heartbeat
            state = await self.store.state(response_id)
            if state and state[1] in TERMINAL_STATUSES:
                return state[2]
            await asyncio.sleep(FOLLOW_POLL)
        state = await self.store.state(response_id)
        assert state is not None  # its row exists: the cancel was accepted for it
        return state[2]

    async def follow(self, response_id: str, after: int) -> AsyncIterator[tuple[int, str, str]]:
        """Stored events after `after`, then live ones, until the response ends."""
        state = await self.store.state(response_id)
        if state is None:
            raise NotFoundError(f"Response with id '{response_id}' not found.", param="response_id")
        if not state[0]:
            raise InvalidRequestError(
                "Only background responses can be streamed again; this one was not created "
                "with background=true.",
                param="stream",
            )
        return self._follow(response_id, after)

    async def _follow(self, response_id: str, after: int) -> AsyncIterator[tuple[int, str, str]]:
        ended_at = None
        while True:
            rows = await self.store.read_events(response_id, after)
            for row in rows:
                yield row
                after = row[0]
                if row[1] in TERMINAL_EVENT_TYPES:
                    return
            if rows:
                continue
            state = await self.store.state(response_id)
            if state is None:
                return  # deleted meanwhile
            if state[1] in TERMINAL_STATUSES:
                # A run's worker saves its ending, then writes the log's last events and
                # lets go of it (`worker_id`): until then the log may lack its end. A worker
                # that died in between never lets go; its stream ends with what was written.
                ended_at = ended_at or time.monotonic()
                if state[3] is None or time.monotonic() - ended_at > self.stale_after:
                    for row in await self.store.read_events(response_id, after):
                        yield row
                    return
            progress = self._progress.get(response_id)
            if progress is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(progress.wait(), FOLLOW_POLL * 10)
            else:
                await asyncio.sleep(FOLLOW_POLL)

    async def _dispatch(self) -> None:
        last_reap = time.monotonic()
        while True:
            await asyncio.sleep(POLL)
            try:
                if time.monotonic() - last_reap > self.stale_after / 2:
                    last_reap = time.monotonic()
                    await self._reap_stale()
                room = MAX_RUNNING - len(self._running)
                for response_id in await self.store.queued(room) if room > 0 else []:
                    await self._claim(response_id)
            except ResponsdError:
                log.exception("background dispatch failed; retrying")

    async def _claim(self, response_id: str, p: PreparedResponse | None = None) -> None:
        """Run a queued response here unless another worker won it; `p`: it was prepared
        here (submitted to this worker), else its stored request is prepared again."""
        request_json = await self.store.claim(response_id, self.worker_id, time.time())
        if request_json is None:
            return  # another worker won it
        if p is None:
            p = await self._prepare_again(response_id, request_json)
            if p is None:
                return
        self._progress[response_id] = asyncio.Event()
        task = asyncio.create_task(self._execute(p), name=f"responsd-{response_id}")
        self._running[response_id] = task
        task.add_done_callback(lambda _: self._running.pop(response_id, None))

    async def _prepare_again(self, response_id: str, request_json: str) -> PreparedResponse | None:
        state = await self.store.state(response_id)
        if state is None:  # deleted while queued: nothing to run
            return None
        created_at = orjson.loads(state[2])["created_at"]
        request = ResponseCreateRequest.model_validate_json(request_json)
        try:
            return await self.engine.prepare(request, response_id, created_at)
        except ResponsdError as exc:  # e.g. its previous response was deleted meanwhile
            await self._end_failed(response_id, time.time() + 1, state[2], exc.message)
            return None

    async def _execute(self, p: PreparedResponse) -> None:
        response_id = p.snapshot.id
        pending: list[tuple[int, str, str]] = []
        flushed_at = time.monotonic()

        async def flush(last: bool = False) -> None:
            nonlocal pending, flushed_at
            if pending or last:
                batch, pending = pending, []
                await self.store.append_events(response_id, batch, last)
            flushed_at = time.monotonic()
            progress = self._progress.get(response_id)
            if progress is not None:
                progress.set()
                self._progress[response_id] = asyncio.Event()

        run = self.engine.run(p)
        try:
            async for event in run:
                pending.append(_logged(event))
                if event.type == "response.in_progress":
                    await self.store.set_body(response_id, event.response.model_dump_json())
                if event.type in TERMINAL_EVENT_TYPES:
                    await flush(last=True)
                elif time.monotonic() - flushed_at > FLUSH_EVERY:
                    await flush()
        except asyncio.CancelledError:
            await asyncio.shield(self._stop(run, pending))
        finally:
            self._progress.pop(response_id, None)
            self._user_cancelled.discard(response_id)

    async def _stop(self, run: ResponseRun, pending: list[tuple[int, str, str]]) -> None:
        """A run stopped early: by a cancel (`cancelled`) or by shutdown (`failed`)."""
        response_id = run.p.snapshot.id
        cancelled = response_id in self._user_cancelled or not self._closing
        terminal = await run.stopped(None if cancelled else SHUTDOWN_MESSAGE)
        if terminal is not None:
            pending.append(_logged(terminal))
        await self.store.append_events(response_id, pending, last=True)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                for response_id in await self.store.heartbeat(
                    self.worker_id, time.time(), list(self._running)
                ):
                    task = self._running.get(response_id)
                    if task is not None:
                        self._user_cancelled.add(response_id)
                        task.cancel()
            except ResponsdError:
                log.exception("heartbeat failed; retrying")

    async def _reap_stale(self) -> None:
        before = time.time() - self.stale_after
        for response_id, body in await self.store.stale(before):
            if await self._end_failed(response_id, before, body, DEAD_MESSAGE):
                log.warning("response %s failed: its worker stopped", response_id)

    async def _end_failed(self, response_id: str, before: float, body: str, message: str) -> bool:
        """End a response nobody runs as `failed`; its log ends as a failed run's does, so a
        stream of it ends the same way."""
        failed = _failed(body, message)
        final = Response.model_validate_json(failed)

        def event(number: int) -> str:
            return ResponseFailedEvent(response=final, sequence_number=number).model_dump_json()

        return await self.store.finish_stale(response_id, before, failed, event)


SHUTDOWN_MESSAGE = "The server shut down while this response was running; create it again."
DEAD_MESSAGE = (
    "The worker running this response stopped (it was killed or lost its database connection); "
    "create the response again."
)


def _continuation(window: str, model: str, continuation_id: str | None) -> str | None:
    """The key a run's follow-ups share (the hosted API's rule: same continuation id, window
    and model), hashed to a fixed size; None without a continuation id."""
    if continuation_id is None:
        return None
    return hashlib.sha256(orjson.dumps([window, model, continuation_id])).hexdigest()


def _logged(event: ResponseStreamEvent) -> tuple[int, str, str]:
    return event.sequence_number, event.type, event.model_dump_json()


def _with_status(body: str, status: ResponseStatus) -> str:
    return orjson.dumps({**orjson.loads(body), "status": status.value}).decode()


def _failed(body: str, message: str) -> str:
    data = orjson.loads(body)
    data.update(status="failed", error={"code": "server_error", "message": message})
    return orjson.dumps(data).decode()
