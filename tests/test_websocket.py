"""WebSocket mode of /v1/responses, with the SDK's `responses.connect()` and a plain
`websockets` client: turns, connection-local state, error frames, limits, auth."""

import contextlib
import json

import httpx
import openai
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from bench.fake_upstream import Call, Reply
from responsd.engine.context import COMPACTION_PREFIX
from tests.wire import stream_events

TERMINAL = ("response.completed", "response.incomplete", "response.failed", "error")


def _ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/v1/responses"


def _send(ws, **body) -> None:
    ws.send(json.dumps({"type": "response.create", **body}))


def _turn(ws) -> list[dict]:
    """Frames up to and including the turn's last one."""
    frames = []
    while True:
        frame = json.loads(ws.recv(timeout=10))
        frames.append(frame)
        if frame["type"] in TERMINAL:
            return frames


@pytest.fixture
def ws(server, upstream):
    with connect(_ws_url(server.url)) as socket:
        yield socket


def test_the_sdk_runs_turns_over_one_socket(server, upstream):
    upstream.script(Reply(text="first answer"), Reply(text="second answer"))
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    with client.responses.connect() as connection:
        connection.response.create(model="fake-model", input="one")
        texts, first = [], None
        for event in connection:
            if event.type == "response.output_text.delta":
                texts.append(event.delta)
            if event.type == "response.completed":
                first = event.response
                break
        assert "".join(texts) == "first answer" == first.output_text
        connection.response.create(model="fake-model", input="two", previous_response_id=first.id)
        for event in connection:
            if event.type == "response.completed":
                assert event.response.output_text == "second answer"
                assert event.response.previous_response_id == first.id
                break
    sent = upstream.requests[1]["messages"]
    assert [m["content"] for m in sent] == ["one", "first answer", "two"]
    assert client.responses.retrieve(first.id).output_text == "first answer"  # stored


def test_frames_are_the_sse_events_in_the_same_order(ws, http, upstream):
    upstream.script(
        Reply(text="same events", chunk_size=3), Reply(text="same events", chunk_size=3)
    )
    _send(ws, model="fake-model", input="x")
    frames = _turn(ws)
    events, _ = stream_events(http, model="fake-model", input="x")
    assert [f["type"] for f in frames] == [e["type"] for e in events]
    assert [f["sequence_number"] for f in frames] == list(range(len(frames)))
    assert frames[-1]["response"]["output"][0]["content"][0]["text"] == "same events"


def test_store_false_continues_from_the_socket_alone(ws, client, upstream):
    upstream.script(Reply(text="remembered"), Reply(text="continued"))
    _send(ws, model="fake-model", input="remember me", store=False)
    first = _turn(ws)[-1]["response"]
    _send(ws, model="fake-model", input="go on", store=False, previous_response_id=first["id"])
    second = _turn(ws)[-1]
    assert second["type"] == "response.completed"
    assert [m["content"] for m in upstream.requests[1]["messages"]] == [
        "remember me",
        "remembered",
        "go on",
    ]
    for response_id in (first["id"], second["response"]["id"]):
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(response_id)  # nothing was written


def test_a_compacted_window_starts_a_socket_chain(ws, client, upstream):
    # After /responses/compact the client starts a new chain with the compacted window as
    # input; over a socket with store=false, its next turn continues from the socket's
    # memory, the sealed summary opened again, the long history it replaced not sent.
    upstream.script(Reply(text="Ada likes K5."), Reply(text="K5"), Reply(text="Yes"))
    history = [
        {"role": "user", "content": "I am Ada; my favourite graph is K5."},
        {"role": "assistant", "content": "Nice to meet you, Ada. " * 40},
    ]
    compacted = client.responses.with_raw_response.compact(model="fake-model", input=history)
    window = compacted.http_response.json()["output"]
    question = {"role": "user", "content": "Which graph?"}
    _send(ws, model="fake-model", input=[*window, question], store=False)
    first = _turn(ws)[-1]
    assert first["type"] == "response.completed"
    again = {"model": "fake-model", "input": "Sure?", "store": False}
    _send(ws, **again, previous_response_id=first["response"]["id"])
    assert _turn(ws)[-1]["type"] == "response.completed"
    summary = {"role": "system", "content": COMPACTION_PREFIX + "Ada likes K5."}
    for sent in upstream.requests[1:]:
        assert summary in sent["messages"]
        assert all("Nice to meet you" not in str(m["content"]) for m in sent["messages"])
    last = [m["content"] for m in upstream.requests[2]["messages"] if m["role"] != "system"]
    assert last[-3:] == ["Which graph?", "K5", "Sure?"]


def test_each_turn_of_a_socket_session_sends_exactly_its_own_history(ws, upstream):
    """A socket's turns continue from its memory with what earlier turns converted (only new
    items are converted); a call the client sends still joins the assistant message that
    ends the history, and nothing of a later turn leaks into what an earlier one sent."""
    upstream.script(
        Reply(text="t1", tool_calls=[Call("lookup", id="c1")]),
        Reply(text="t2"),
        Reply(text="t3"),
        Reply(text="t4"),
    )
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    joined = {"type": "function_call", "call_id": "c9", "name": "lookup", "arguments": "{}"}
    inputs = [
        "q1",
        [{"type": "function_call_output", "call_id": "c1", "output": "r1"}],
        [joined, {"type": "function_call_output", "call_id": "c9", "output": "r9"}],
        "q4",
    ]
    previous = None
    for turn_input in inputs:
        body = {"model": "fake-model", "input": turn_input, "tools": tools, "store": False}
        _send(ws, **body, **({"previous_response_id": previous} if previous else {}))
        last = _turn(ws)[-1]
        assert last["type"] == "response.completed"
        previous = last["response"]["id"]
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    first = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "t1", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "r1"},
    ]
    third = [
        *first,
        {"role": "assistant", "content": "t2", "tool_calls": [{**call, "id": "c9"}]},
        {"role": "tool", "tool_call_id": "c9", "content": "r9"},
    ]
    sent = [r["messages"] for r in upstream.requests]
    assert sent == [
        first[:1],
        first,
        third,
        [*third, {"role": "assistant", "content": "t3"}, {"role": "user", "content": "q4"}],
    ]


def test_an_unknown_store_false_id_is_previous_response_not_found(server, upstream):
    upstream.script(Reply(text="elsewhere"))
    with connect(_ws_url(server.url)) as one:
        _send(one, model="fake-model", input="x", store=False)
        elsewhere = _turn(one)[-1]["response"]["id"]
    with connect(_ws_url(server.url)) as other:
        _send(other, model="fake-model", input="y", previous_response_id=elsewhere)
        (frame,) = _turn(other)
        assert frame["type"] == "error" and frame["status"] == 400
        assert frame["error"]["code"] == "previous_response_not_found"
        assert frame["error"]["param"] == "previous_response_id"


def test_a_failed_continuation_forgets_the_socket_state(ws, upstream):
    upstream.script(Reply(text="kept for now"))
    _send(ws, model="fake-model", input="x", store=False)
    first = _turn(ws)[-1]["response"]["id"]
    _send(ws, model="fake-model", input="y", previous_response_id=first, temperature=9)
    (bad,) = _turn(ws)
    assert bad["type"] == "error" and bad["error"]["param"] == "temperature"
    _send(ws, model="fake-model", input="y", previous_response_id=first)
    (gone,) = _turn(ws)
    assert gone["error"]["code"] == "previous_response_not_found"


def test_stored_responses_continue_across_sockets(server, upstream):
    upstream.script(Reply(text="stored"), Reply(text="picked up"))
    with connect(_ws_url(server.url)) as one:
        _send(one, model="fake-model", input="a")
        first = _turn(one)[-1]["response"]["id"]
    with connect(_ws_url(server.url)) as two:
        _send(two, model="fake-model", input="b", previous_response_id=first)
        assert _turn(two)[-1]["response"]["output"][0]["content"][0]["text"] == "picked up"
    assert [m["content"] for m in upstream.requests[1]["messages"]] == ["a", "stored", "b"]


@pytest.mark.parametrize(
    ("frame", "param", "code"),
    [
        ({"stream": True}, "stream", None),
        ({"stream_options": {}}, "stream_options", None),
        ({"background": True}, "background", None),
        ({"generate": "no"}, "generate", None),
        ({"stream_id": "no spaces"}, "stream_id", "invalid_stream_id"),
        ({"stream_id": 7}, "stream_id", "invalid_stream_id"),
        ({"frobnicate": 1}, "frobnicate", None),
        ({"type": "response.cancel"}, "type", "unknown_event_type"),
    ],
)
def test_bad_frames_get_error_frames_and_the_socket_stays_usable(ws, upstream, frame, param, code):
    upstream.script(Reply(text="still here"))
    ws.send(json.dumps({"type": "response.create", "model": "fake-model", "input": "x", **frame}))
    (error,) = _turn(ws)
    assert error["type"] == "error" and error["status"] == 400
    assert error["error"]["param"] == param and error["error"]["type"] == "invalid_request_error"
    if code:
        assert error["error"]["code"] == code
    _send(ws, model="fake-model", input="x")
    assert _turn(ws)[-1]["type"] == "response.completed"


@pytest.mark.parametrize("store", [True, False])
def test_a_warm_up_turn_runs_no_model_and_the_next_turn_continues_from_it(
    server, ws, upstream, store
):
    upstream.script(Reply(text="answered"))
    _send(
        ws,
        model="fake-model",
        instructions="Be brief.",
        input=[{"role": "developer", "content": "Prefer French."}],
        generate=False,
        store=store,
    )
    events = _turn(ws)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.completed",
    ]
    warm = events[-1]["response"]
    assert warm["status"] == "completed" and warm["output"] == []
    assert upstream.requests == []
    _send(ws, model="fake-model", input="hello", previous_response_id=warm["id"], store=store)
    assert _turn(ws)[-1]["response"]["output"][0]["content"][0]["text"] == "answered"
    sent = [(m["role"], m["content"]) for m in upstream.requests[0]["messages"]]
    assert sent == [("system", "Prefer French."), ("user", "hello")]
    if store:
        with openai.OpenAI(base_url=server.url + "/v1", api_key="k") as client:
            assert client.responses.retrieve(warm["id"]).output == []


def test_malformed_json_is_an_error_frame(ws, upstream):
    upstream.script(Reply(text="fine"))
    for raw in ("{not json", "[1, 2]"):
        ws.send(raw)
        (error,) = _turn(ws)
        assert error["error"]["code"] == "invalid_json" and error["status"] == 400
    _send(ws, model="fake-model", input="x")
    assert _turn(ws)[-1]["type"] == "response.completed"


def test_frames_sent_together_run_in_order(ws, upstream):
    upstream.script(Reply(text="one", chunk_size=1), Reply(text="two", chunk_size=1))
    _send(ws, model="fake-model", input="first", store=False)
    _send(ws, model="fake-model", input="second", store=False)
    first, second = _turn(ws), _turn(ws)
    assert first[-1]["response"]["output"][0]["content"][0]["text"] == "one"
    assert second[-1]["response"]["output"][0]["content"][0]["text"] == "two"
    assert [r["messages"][-1]["content"] for r in upstream.requests] == ["first", "second"]


def test_a_failure_mid_stream_is_an_error_frame_then_response_failed(ws, upstream):
    upstream.script(Reply(raw_lines=["garbage"]), Reply(text="recovered"))
    _send(ws, model="fake-model", input="x")
    frames = [json.loads(ws.recv(timeout=10)) for _ in range(4)]
    assert [f["type"] for f in frames] == [
        "response.created",
        "response.in_progress",
        "error",
        "response.failed",
    ]
    error = frames[2]
    assert error["status"] == 502 and "not JSON" in error["error"]["message"]
    assert error["sequence_number"] == 2
    _send(ws, model="fake-model", input="x")
    assert _turn(ws)[-1]["type"] == "response.completed"


def test_the_connection_limit_closes_the_socket(make_client, upstream):
    client = make_client(websocket_max_seconds=0.5)
    with connect(_ws_url(str(client.base_url).removesuffix("/v1/"))) as ws:
        frame = json.loads(ws.recv(timeout=5))
        assert frame["type"] == "error"
        assert frame["error"]["code"] == "websocket_connection_limit_reached"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)


def test_the_upgrade_needs_a_key_when_keys_are_set(make_client, upstream):
    client = make_client(api_keys="key-1")
    url = _ws_url(str(client.base_url).removesuffix("/v1/"))
    with pytest.raises(InvalidStatus) as refused:
        connect(url)
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["type"] == "invalid_request_error"
    upstream.script(Reply(text="let in"))
    with connect(url, additional_headers={"Authorization": "Bearer key-1"}) as ws:
        _send(ws, model="fake-model", input="x")
        assert _turn(ws)[-1]["type"] == "response.completed"


def test_a_plain_get_is_still_a_405_envelope(server):
    reply = httpx.get(f"{server.url}/v1/responses")
    assert reply.status_code == 405
    assert reply.json()["error"]["type"] == "invalid_request_error"


# -- lanes (`stream_id`) ---------------------------------------------------------------

SLOW_SECONDS = 0.8
"""Under the test server's upstream timeout (1 s)."""


def _by_content(body: dict) -> Reply:
    """Answers after SLOW_SECONDS when the last message says "slow", at once otherwise."""
    last = body["messages"][-1]["content"]
    return Reply(text=f"answer to {last}", delay=SLOW_SECONDS if "slow" in last else 0.0)


@contextlib.contextmanager
def sdk_session(server):
    """The SDK's ResponsesWebSocketSession (lanes) on a `responses.connect()` socket."""
    from openai.lib.responses_websocket import ResponsesWebSocketLimits, ResponsesWebSocketSession

    limits = ResponsesWebSocketLimits(
        max_lanes=4, max_events_per_lane=256, max_events=1024, max_bytes_per_lane=2**22,
        max_bytes=2**23,
    )  # fmt: skip
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    with (
        client.responses.connect() as connection,
        ResponsesWebSocketSession(connection, limits=limits) as session,
    ):
        yield session


def test_the_sdk_runs_lanes_side_by_side(server, upstream, monkeypatch):
    monkeypatch.setattr(upstream, "responder", _by_content)
    with sdk_session(server) as session:
        slow, fast = session.lane("slow-lane"), session.lane("fast.lane_2")
        slow.send({"type": "response.create", "model": "fake-model", "input": "slow one"})
        fast.send({"type": "response.create", "model": "fake-model", "input": "fast one"})
        # Had the lanes run one after the other, this would wait out the slow reply first.
        assert fast.get_final_response(timeout=SLOW_SECONDS * 0.75).output_text == (
            "answer to fast one"
        )
        first = slow.get_final_response(timeout=10)
        assert first.output_text == "answer to slow one"
        slow.send(
            {
                "type": "response.create",
                "model": "fake-model",
                "input": "and then?",
                "previous_response_id": first.id,
            }
        )
        assert slow.get_final_response(timeout=10).output_text == "answer to and then?"
    assert [m["content"] for m in upstream.requests[-1]["messages"]] == [
        "slow one",
        "answer to slow one",
        "and then?",
    ]


def test_every_frame_of_a_named_lane_carries_its_stream_id(ws, upstream):
    upstream.script(Reply(text="named", chunk_size=2), Reply(text="default"))
    _send(ws, model="fake-model", input="x", stream_id="a")
    named = _turn(ws)
    assert named[-1]["type"] == "response.completed"
    assert {f.get("stream_id") for f in named} == {"a"}
    _send(ws, model="fake-model", input="x")
    assert all("stream_id" not in f for f in _turn(ws))
    _send(ws, model="fake-model", input="x", stream_id="a", temperature=9)
    (error,) = _turn(ws)
    assert error["stream_id"] == "a" and error["error"]["param"] == "temperature"


def test_a_lane_forks_another_lanes_store_false_response(ws, upstream):
    upstream.script(Reply(text="root"), Reply(text="fork"), Reply(text="main line"))
    _send(ws, model="fake-model", input="start", store=False, stream_id="main")
    root = _turn(ws)[-1]["response"]["id"]
    # A fork that fails leaves the other lane's state as it was.
    _send(ws, model="fake-model", input="x", previous_response_id=root, stream_id="side", top_p=7)
    assert _turn(ws)[0]["error"]["param"] == "top_p"
    _send(ws, model="fake-model", input="branch", previous_response_id=root, stream_id="side")
    assert _turn(ws)[-1]["response"]["output"][0]["content"][0]["text"] == "fork"
    _send(ws, model="fake-model", input="on", previous_response_id=root, stream_id="main")
    assert _turn(ws)[-1]["response"]["output"][0]["content"][0]["text"] == "main line"
    sent = [[m["content"] for m in r["messages"]] for r in upstream.requests]
    assert sent == [["start"], ["start", "root", "branch"], ["start", "root", "on"]]


def test_a_socket_has_at_most_32_named_lanes(ws, upstream):
    upstream.script(*(Reply(text="ok") for _ in range(33)))
    for n in range(32):
        _send(ws, model="fake-model", input="x", stream_id=f"lane{n}")
        assert _turn(ws)[-1]["type"] == "response.completed"
    _send(ws, model="fake-model", input="x", stream_id="one-more")
    (error,) = _turn(ws)
    assert error["error"]["code"] == "websocket_stream_limit_reached"
    assert error["stream_id"] == "one-more"
    _send(ws, model="fake-model", input="x", stream_id="lane7")  # a known lane still runs
    assert _turn(ws)[-1]["type"] == "response.completed"


def test_at_the_limit_turns_in_flight_finish_and_waiting_frames_do_not_run(make_client, upstream):
    upstream.script(Reply(text="finished in time", delay=0.6))
    client = make_client(websocket_max_seconds=0.3)
    with connect(_ws_url(str(client.base_url).removesuffix("/v1/"))) as ws:
        _send(ws, model="fake-model", input="slow", stream_id="a")
        _send(ws, model="fake-model", input="queued behind it", stream_id="a")
        frames = _turn(ws)
        assert frames[-1]["type"] == "response.completed"
        assert frames[-1]["stream_id"] == "a"
        limit = json.loads(ws.recv(timeout=5))
        assert limit["error"]["code"] == "websocket_connection_limit_reached"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert len(upstream.requests) == 1
