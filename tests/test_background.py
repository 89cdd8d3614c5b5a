"""Background responses: detached runs, polling, cancel, resumable streams, restarts, workers."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import openai
import orjson
import pytest
from sqlalchemy import create_engine, delete, insert, select, update

from bench.fake_upstream import Reply
from bench.servers import ServerThread, free_port, wait_healthy
from responsd.app import create_app
from responsd.config import Settings
from responsd.store import tables
from responsd.store.sql import SQLStore
from responsd.types.requests import ResponseCreateRequest
from responsd.types.response import Response
from tests.wire import check_response


def _wait_for(client, response_id, statuses, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.responses.retrieve(response_id)
        if response.status in statuses:
            return response
        time.sleep(0.05)
    raise AssertionError(f"{response_id} never reached {statuses}: {response.status}")


def _sse(reply) -> list[dict]:
    events = []
    for line in reply.iter_lines():
        if line.startswith("data: {"):
            events.append(orjson.loads(line[6:]))
    return events


def test_background_returns_queued_and_polling_sees_it_finish(http, client, upstream):
    upstream.script(Reply(text="done in the background", delay=0.5))
    body = {"model": "fake-model", "input": "x", "background": True}
    started = time.monotonic()  # (raw HTTP: the SDK's first `responses` call imports ~0.15 s)
    reply = http.post("/responses", json=body)
    assert time.monotonic() - started < 0.4
    response = Response.model_validate_json(reply.content)
    assert response.status == "queued" and response.background is True
    seen = _wait_for(client, response.id, {"in_progress"}).status
    final = _wait_for(client, response.id, {"completed"})
    assert seen == "in_progress" and final.output_text == "done in the background"
    check_response(client.responses.with_raw_response.retrieve(response.id).http_response.json())


def test_background_stream_then_resume_from_any_point(http, client, upstream):
    upstream.script(Reply(text="one two three four", chunk_size=4))
    body = {"model": "fake-model", "input": "x", "background": True, "stream": True}
    with http.stream("POST", "/responses", json=body) as reply:
        events = _sse(reply)
    types = [e["type"] for e in events]
    assert types[0] == "response.created" and events[0]["response"]["status"] == "queued"
    assert types[1] == "response.in_progress" and types[-1] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    response_id = events[0]["response"]["id"]
    resumed = list(client.responses.retrieve(response_id, stream=True, starting_after=3))
    assert [e.sequence_number for e in resumed] == list(range(4, len(events)))
    assert resumed[-1].response.output_text == "one two three four"


def test_a_stream_waits_for_the_end_of_a_log_still_being_written(make_client, upstream, tmp_path):
    # A run's worker stores its ending (the status), then writes the log's last events. A
    # stream that reads the status in between waits for them: it ends as the run did.
    c = make_client(worker_stale_after=2)
    upstream.script(Reply(text="all of it", chunk_size=3), Reply(text="half", chunk_size=2))
    finished = c.responses.create(model="fake-model", input="x", background=True)
    orphaned = c.responses.create(model="fake-model", input="y", background=True)
    for response in (finished, orphaned):
        _wait_for(c, response.id, {"completed"})
    whole = [e.type for e in c.responses.retrieve(finished.id, stream=True)]
    assert whole[-1] == "response.completed"
    db = create_engine(f"sqlite:///{tmp_path / 'data0' / 'responsd.db'}")
    events, responses = tables.response_events.c, tables.responses.c

    def back_to_the_moment_between(response_id: str) -> tuple:
        with db.begin() as conn:
            last = conn.execute(
                select(tables.response_events)
                .where(events.response_id == response_id)
                .order_by(events.sequence_number.desc())
            ).first()
            conn.execute(
                delete(tables.response_events).where(
                    events.response_id == response_id,
                    events.sequence_number == last.sequence_number,
                )
            )
            conn.execute(
                update(tables.responses)
                .where(responses.id == response_id)
                .values(worker_id="wrk_still_writing")
            )
        return last

    last = back_to_the_moment_between(finished.id)
    back_to_the_moment_between(orphaned.id)
    streamed: dict[str, list[str]] = {finished.id: [], orphaned.id: []}
    readers = [
        threading.Thread(
            target=lambda rid=rid: streamed[rid].extend(
                e.type for e in c.responses.retrieve(rid, stream=True)
            )
        )
        for rid in streamed
    ]
    for reader in readers:
        reader.start()
    time.sleep(0.5)
    assert all(reader.is_alive() for reader in readers)  # both wait for the log's end
    assert streamed[finished.id] == whole[:-1]
    with db.begin() as conn:  # the worker writes the last event and lets go
        conn.execute(insert(tables.response_events).values(**last._mapping))
        conn.execute(
            update(tables.responses).where(responses.id == finished.id).values(worker_id=None)
        )
    readers[0].join(5)
    assert streamed[finished.id] == whole
    # The orphaned one's worker never comes back: its stream ends with what was written.
    readers[1].join(5)
    assert not readers[1].is_alive() and streamed[orphaned.id][-1] != "response.completed"


def test_a_client_that_disconnects_changes_nothing(http, client, upstream):
    upstream.script(Reply(text="still finished", chunk_size=2, stall_after_first=0.3))
    body = {"model": "fake-model", "input": "x", "background": True, "stream": True}
    with http.stream("POST", "/responses", json=body) as reply:
        first = next(line for line in reply.iter_lines() if line.startswith("data: {"))
    response_id = orjson.loads(first[6:])["response"]["id"]
    assert _wait_for(client, response_id, {"completed"}).output_text == "still finished"


def test_cancel_stops_a_running_response_and_is_idempotent(client, upstream):
    upstream.script(Reply(text="never finished", stall_after_first=0.8))
    response = client.responses.create(model="fake-model", input="x", background=True)
    _wait_for(client, response.id, {"in_progress"})
    cancelled = client.responses.cancel(response.id)
    assert cancelled.status == "cancelled"
    assert client.responses.cancel(response.id).status == "cancelled"
    assert client.responses.retrieve(response.id).status == "cancelled"
    events = list(client.responses.retrieve(response.id, stream=True))
    assert events[0].type == "response.created"  # the log ends where the run stopped


def test_background_needs_store(client, upstream):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input="x", background=True, store=False)
    assert info.value.param == "store"


def test_streaming_a_foreground_response_again_is_a_400(client, upstream):
    upstream.script(Reply(text="x"))
    response = client.responses.create(model="fake-model", input="x")
    with pytest.raises(openai.BadRequestError):
        list(client.responses.retrieve(response.id, stream=True))


async def _enqueue_while_down(settings: Settings) -> str:
    """Queue a response straight into the database, as a server that died after accepting it."""
    store = await SQLStore.open(settings.resolved_database_url())
    try:
        request = ResponseCreateRequest.model_validate(
            {"model": "fake-model", "input": "b", "background": True}
        )
        snapshot = Response(
            id="resp_queued1",
            created_at=int(time.time()),
            status="queued",
            model="fake-model",
            background=True,
        )
        await store.background.enqueue(
            snapshot.id,
            snapshot.created_at,
            snapshot.model_dump_json(),
            request.model_dump_json(exclude_unset=True),
            None,
            None,
            run_by=snapshot.created_at,
        )
        return snapshot.id
    finally:
        await store.close()


def test_restart_runs_queued_work_and_fails_interrupted_work(upstream_server, upstream, tmp_path):
    _, up = upstream_server
    settings = Settings(_env_file=None, upstream_url=f"{up.url}/v1", data_dir=tmp_path)
    upstream.script(
        Reply(text="never finished", stall_after_first=5.0), Reply(text="after restart")
    )
    first = ServerThread(create_app(settings)).start()
    with openai.OpenAI(base_url=f"{first.url}/v1", api_key="x", max_retries=0) as c:
        running = c.responses.create(model="fake-model", input="a", background=True)
        _wait_for(c, running.id, {"in_progress"})
    first.stop()
    queued_id = asyncio.run(_enqueue_while_down(settings))
    second = ServerThread(create_app(settings)).start()
    try:
        with openai.OpenAI(base_url=f"{second.url}/v1", api_key="x", max_retries=0) as c:
            stopped = c.responses.retrieve(running.id)
            assert stopped.status == "failed" and "shut down" in stopped.error.message
            assert _wait_for(c, queued_id, {"completed"}).output_text == "after restart"
    finally:
        second.stop()


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "responsd", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # a pipe nobody reads would fill up and stall the server
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, f"{url}/healthz")
    return proc, url


def test_two_workers_share_retrieve_cancel_and_resume(upstream_server, upstream, tmp_path):
    _, up = upstream_server
    env = {
        **os.environ,
        "RESPONSD_UPSTREAM_URL": f"{up.url}/v1",
        "RESPONSD_DATA_DIR": str(tmp_path),
    }
    (a, url_a), (b, url_b) = _serve(env), _serve(env)
    upstream.script(Reply(text="finished on A"), Reply(text="slow", stall_after_first=5.0))
    try:
        with (
            openai.OpenAI(base_url=f"{url_a}/v1", api_key="x", max_retries=0) as on_a,
            openai.OpenAI(base_url=f"{url_b}/v1", api_key="x", max_retries=0) as on_b,
        ):
            done = on_a.responses.create(model="fake-model", input="x", background=True)
            assert _wait_for(on_b, done.id, {"completed"}).output_text == "finished on A"
            replayed = list(on_b.responses.retrieve(done.id, stream=True, starting_after=0))
            assert replayed[0].sequence_number == 1 and replayed[-1].type == "response.completed"
            slow = on_a.responses.create(model="fake-model", input="y", background=True)
            _wait_for(on_b, slow.id, {"in_progress"})
            assert on_b.responses.cancel(slow.id).status == "cancelled"
            assert on_a.responses.retrieve(slow.id).status == "cancelled"
    finally:
        for proc in (a, b):
            proc.terminate()
            proc.wait(30)


def test_a_killed_worker_leaves_failed_not_in_progress(
    upstream_server, upstream, tmp_path, database_url
):
    _, up = upstream_server
    env = {
        **os.environ,
        "RESPONSD_UPSTREAM_URL": f"{up.url}/v1",
        "RESPONSD_DATA_DIR": str(tmp_path),
        "RESPONSD_DATABASE_URL": database_url,
        "RESPONSD_WORKER_STALE_AFTER": "3",
    }
    upstream.script(Reply(text="never", stall_after_first=30.0))
    victim, url = _serve(env)
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as c:
        response = c.responses.create(model="fake-model", input="x", background=True)
        _wait_for(c, response.id, {"in_progress"})
    deadline = time.monotonic() + 10
    while not upstream.requests and time.monotonic() < deadline:  # killed mid-answer
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    survivor, url = _serve(env)
    try:
        with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as c:
            failed = _wait_for(c, response.id, {"failed"}, timeout=15)
            assert "worker running this response stopped" in failed.error.message
            # Its stream ends with response.failed, as any failed run's does.
            events = list(c.responses.retrieve(response.id, stream=True))
            assert events[-1].type == "response.failed"
            numbers = [e.sequence_number for e in events]
            assert numbers == sorted(set(numbers))
    finally:
        survivor.terminate()
        survivor.wait(30)


def _created_after(response) -> None:
    while time.time() < response.created_at + 1:  # created_at counts whole seconds
        time.sleep(0.05)


def test_queued_background_work_runs_the_earliest_completion_target_first(
    make_client, upstream, monkeypatch
):
    from responsd.engine import background

    monkeypatch.setattr(background, "MAX_RUNNING", 1)  # one at a time: the rest queue
    c = make_client()
    upstream.script(Reply(text="first", delay=2.5), Reply(text="b"), Reply(text="c"))
    soonest = {"completion_window": "soonest"}
    first = c.responses.create(
        model="fake-model", input="first", background=True, background_options=soonest
    )
    _wait_for(c, first.id, {"in_progress"})
    overnight = c.responses.create(
        model="fake-model",
        input="overnight",
        background=True,
        background_options={"completion_window": "8h"},
    )
    _created_after(overnight)
    waiting = c.responses.create(model="fake-model", input="waiting", background=True)
    for response in (first, overnight, waiting):
        assert _wait_for(c, response.id, {"completed"}).status == "completed"
    asked = [str(body["messages"][-1]["content"]) for body in upstream.requests[-3:]]
    # Queued after the 8h one, the soonest one still runs before it.
    assert ["first" in asked[0], "waiting" in asked[1], "overnight" in asked[2]] == [True] * 3


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"background_options": {"completion_window": "2h"}}, "background_options"),
        (
            {"background": True, "stream": True, "background_options": {"completion_window": "2h"}},
            "background_options.completion_window",
        ),
        (
            {
                "background": True,
                "service_tier": "flex",
                "background_options": {"completion_window": "8h"},
            },
            "background_options.completion_window",
        ),
        (
            {"background": True, "background_options": {"completion_window": "1h"}},
            "background_options.completion_window",
        ),
        (
            {"background": True, "background_options": {"continuation_id": ""}},
            "background_options.continuation_id",
        ),
    ],
)
def test_background_options_that_cannot_be_honoured_are_400s(http, upstream, fields, param):
    reply = http.post("/responses", json={"model": "fake-model", "input": "x", **fields})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param


def test_a_runs_follow_up_goes_ahead_of_newer_work_in_its_window(
    make_client, upstream, monkeypatch
):
    from responsd.engine import background

    monkeypatch.setattr(background, "MAX_RUNNING", 1)
    c = make_client()
    upstream.script(Reply(text="first", delay=4.0), Reply(text="b"), Reply(text="c"))
    run = {"completion_window": "8h", "continuation_id": "report-7"}
    first = c.responses.create(
        model="fake-model", input="start", background=True, background_options=run
    )
    _wait_for(c, first.id, {"in_progress"})
    _created_after(first)
    newer = c.responses.create(
        model="fake-model",
        input="unrelated",
        background=True,
        background_options={"completion_window": "8h"},
    )
    _created_after(newer)
    follow_up = c.responses.create(
        model="fake-model", input="follow-up", background=True, background_options=run
    )
    for response in (first, newer, follow_up):
        assert _wait_for(c, response.id, {"completed"}, timeout=15).status == "completed"
    asked = [str(body["messages"][-1]["content"]) for body in upstream.requests[-3:]]
    assert ["start" in asked[0], "follow-up" in asked[1], "unrelated" in asked[2]] == [True] * 3


async def test_a_follow_up_keeps_its_runs_first_target_or_is_due_at_once(database_url, tmp_path):
    store = await SQLStore.open(database_url, tmp_path)
    queue = store.background

    async def enqueue(rid: str, created: int, run_by: int, key: str | None) -> None:
        await queue.enqueue(rid, created, "{}", "{}", None, None, run_by=run_by, continuation=key)

    try:
        await enqueue("resp_first", 1000, 1000 + 7200, "k")
        await enqueue("resp_other", 1100, 1100 + 7200, None)
        await enqueue("resp_next", 1200, 1200 + 7200, "k")  # keeps 8200: before resp_other
        await enqueue("resp_late", 9000, 9000 + 7200, "k")  # 8200 has passed: due at 9000
        await enqueue("resp_soon", 8999, 8999, None)
        assert await queue.queued(10) == [
            "resp_first",
            "resp_next",
            "resp_other",
            "resp_soon",
            "resp_late",
        ]
    finally:
        await store.close()
