"""Background responses: queue, claim, heartbeat, cancel requests, and the event log.

Claiming is a compare-and-set (`UPDATE … WHERE status = 'queued'`), so exactly one worker
wins a queued response whatever the database; a worker proves it is alive by bumping
`heartbeat_at` on the responses it runs.
"""

from collections.abc import Callable

from sqlalchemy import Engine, and_, bindparam, func, insert, select, update

from responsd.store.calls import Readers, Run
from responsd.store.tables import response_events, responses

r = responses.c

_APPEND = insert(response_events)
_READ = (
    select(response_events.c.sequence_number, response_events.c.type, response_events.c.body)
    .where(
        response_events.c.response_id == bindparam("rid"),
        response_events.c.sequence_number > bindparam("after"),
    )
    .order_by(response_events.c.sequence_number)
)
_LAST = select(func.max(response_events.c.sequence_number)).where(
    response_events.c.response_id == bindparam("rid")
)
_RELEASE = update(responses).where(r.id == bindparam("rid")).values(worker_id=None)
_STATE = select(r.background, r.status, r.body, r.worker_id).where(r.id == bindparam("rid"))
_QUEUED = (
    select(r.id)
    .where(r.background, r.status == "queued", ~r.cancel_requested)
    .order_by(r.run_by, r.created_at)  # earliest completion target first
    .limit(bindparam("limit"))
)
_FIRST_TARGET = select(func.min(r.run_by)).where(r.continuation == bindparam("key"))
_STALE = select(r.id, r.body).where(
    r.background, r.status == "in_progress", r.heartbeat_at < bindparam("before")
)


class BackgroundStore:
    def __init__(self, engine: Engine, run: Run, readers: Readers):
        self._engine = engine
        self._run = run
        # Polled by every worker (twice a second, every few seconds): read like a chain's
        # head, not on a thread (~2 ms of CPU per poll on a thread; idle: measured).
        self._queued = readers(_QUEUED)
        self._stale = readers(_STALE)

    async def enqueue(
        self,
        response_id: str,
        created_at: int,
        body: str,
        request: str,
        previous_response_id: str | None,
        conversation_id: str | None,
        run_by: int,
        continuation: str | None = None,
    ) -> None:
        """Queue a background response; `run_by`: its completion target (Unix seconds),
        which orders the queue. A `continuation` (a run's key) seen before keeps the target
        of its first response, or is due at once if that has passed."""
        row = {
            "id": response_id,
            "created_at": created_at,
            "body": body,
            "status": "queued",
            "background": True,
            "request": request,
            "previous_response_id": previous_response_id,
            "conversation_id": conversation_id,
            "run_by": run_by,
            "continuation": continuation,
        }

        def add() -> None:
            with self._engine.begin() as conn:
                if continuation is not None:
                    first = conn.execute(_FIRST_TARGET, {"key": continuation}).scalar()
                    if first is not None:
                        row["run_by"] = min(run_by, max(first, created_at))
                conn.execute(insert(responses), row)

        await self._run(add)

    async def queued(self, limit: int) -> list[str]:
        return [row[0] for row in await self._queued({"limit": limit})]

    async def claim(self, response_id: str, worker_id: str, now: float) -> str | None:
        """Take a queued response for `worker_id`; its stored request, or None if taken."""

        def take() -> str | None:
            with self._engine.begin() as conn:
                won = conn.execute(
                    update(responses)
                    .where(r.id == response_id, r.status == "queued")
                    .values(status="in_progress", worker_id=worker_id, heartbeat_at=now)
                ).rowcount
                if not won:
                    return None
                return conn.execute(select(r.request).where(r.id == response_id)).scalar_one()

        return await self._run(take)

    async def set_body(self, response_id: str, body: str) -> None:
        def change() -> None:
            with self._engine.begin() as conn:
                conn.execute(update(responses).where(r.id == response_id).values(body=body))

        await self._run(change)

    async def heartbeat(self, worker_id: str, now: float, response_ids: list[str]) -> list[str]:
        """Mark `response_ids` alive; return those whose cancel was requested elsewhere."""
        if not response_ids:
            return []

        def beat() -> list[str]:
            with self._engine.begin() as conn:
                conn.execute(
                    update(responses)
                    .where(r.id.in_(response_ids), r.worker_id == worker_id)
                    .values(heartbeat_at=now)
                )
                return list(
                    conn.execute(
                        select(r.id).where(r.id.in_(response_ids), r.cancel_requested)
                    ).scalars()
                )

        return await self._run(beat)

    async def stale(self, before: float) -> list[tuple[str, str]]:
        """(id, body) of responses in progress whose worker has not beaten since `before`."""
        return [(row[0], row[1]) for row in await self._stale({"before": before})]

    async def finish_stale(
        self, response_id: str, before: float, body: str, failed_event: Callable[[int], str]
    ) -> bool:
        """End a claimed response nobody runs any more (its worker stopped beating before
        `before`, or its stored request could not be prepared again) as `failed` (`body`),
        its log ending with `failed_event(next sequence number)`, in one transaction: a
        stream that sees the status finds the event."""

        def end() -> bool:
            with self._engine.begin() as conn:
                if not conn.execute(
                    update(responses)
                    .where(r.id == response_id, r.status == "in_progress", r.heartbeat_at < before)
                    .values(status="failed", body=body, worker_id=None)
                ).rowcount:
                    return False
                last = conn.execute(_LAST, {"rid": response_id}).scalar()
                number = 0 if last is None else last + 1
                row = (number, "response.failed", failed_event(number))
                conn.execute(_APPEND, _event_rows(response_id, [row]))
                return True

        return await self._run(end)

    async def request_cancel(self, response_id: str) -> tuple[bool, str, str, str | None] | None:
        """Flag a cancel; (background, status, body, worker) as they were, or None if unknown."""

        def flag() -> tuple[bool, str, str, str | None] | None:
            with self._engine.begin() as conn:
                row = conn.execute(_STATE, {"rid": response_id}).first()
                if row is None:
                    return None
                if row[0] and row[1] in ("queued", "in_progress"):
                    conn.execute(
                        update(responses).where(r.id == response_id).values(cancel_requested=True)
                    )
                return bool(row[0]), row[1], row[2], row[3]

        return await self._run(flag)

    async def cancel_queued(self, response_id: str, body: str) -> bool:
        def cancel() -> bool:
            with self._engine.begin() as conn:
                return bool(
                    conn.execute(
                        update(responses)
                        .where(and_(r.id == response_id, r.status == "queued"))
                        .values(status="cancelled", body=body)
                    ).rowcount
                )

        return await self._run(cancel)

    async def state(self, response_id: str) -> tuple[bool, str, str, str | None] | None:
        def get() -> tuple[bool, str, str, str | None] | None:
            with self._engine.connect() as conn:
                row = conn.execute(_STATE, {"rid": response_id}).first()
            return (bool(row[0]), row[1], row[2], row[3]) if row else None

        return await self._run(get)

    async def append_events(
        self, response_id: str, events: list[tuple[int, str, str]], last: bool = False
    ) -> None:
        """Append to a response's log; `last`: these end it, and its worker lets go of the
        response in the same transaction (a follower that sees a finished response with no
        worker knows its log is complete)."""
        rows = _event_rows(response_id, events)

        def add() -> None:
            with self._engine.begin() as conn:
                if rows:
                    conn.execute(_APPEND, rows)
                if last:
                    conn.execute(_RELEASE, {"rid": response_id})

        await self._run(add)

    async def read_events(self, response_id: str, after: int) -> list[tuple[int, str, str]]:
        def read() -> list[tuple[int, str, str]]:
            with self._engine.connect() as conn:
                return [
                    tuple(row) for row in conn.execute(_READ, {"rid": response_id, "after": after})
                ]

        return await self._run(read)


def _event_rows(response_id: str, events: list[tuple[int, str, str]]) -> list[dict]:
    return [
        {"response_id": response_id, "sequence_number": n, "type": t, "body": b}
        for n, t, b in events
    ]
