"""Steering over the WebSocket (`response.steer`): accepted while a response runs, committed
by an automatic successor, held for the client's tool results, or failed with its input."""

import json

from openai.types.responses import ResponsesServerEvent
from pydantic import TypeAdapter
from websockets.sync.client import connect

from bench.fake_upstream import Call, Reply
from responsd.api import websocket
from tests.test_websocket import TERMINAL, _send, _ws_url, sdk_session

_SDK_EVENT = TypeAdapter(ResponsesServerEvent)
_WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _recv(ws) -> dict:
    frame = json.loads(ws.recv(timeout=10))
    if frame.get("error", {}).get("code") != "invalid_input":  # it echoes input that is not
        _SDK_EVENT.validate_python(frame)  # each frame is the SDK's server event, strictly
    return frame


def _until(ws, kind: str) -> list[dict]:
    frames = [_recv(ws)]
    while frames[-1]["type"] != kind:
        frames.append(_recv(ws))
    return frames


def _steer(ws, target: str | None, given, **extra) -> None:
    ws.send(
        json.dumps(
            {"type": "response.steer", "previous_response_id": target, "input": given, **extra}
        )
    )


def _texts(request: dict) -> list:
    return [(m["role"], m.get("content")) for m in request["messages"]]


def test_a_steer_is_committed_by_the_automatic_successor(server, upstream):
    upstream.script(Reply(text="first answer", delay=0.4), Reply(text="steered answer"))
    with connect(_ws_url(server.url)) as ws:
        _send(ws, model="fake-model", input="plan a trip", instructions="Be brief.", stream_id="a")
        (created,) = _until(ws, "response.created")
        first = created["response"]["id"]
        _steer(ws, first, "Only by train.")
        frames = _until(ws, "response.completed")
        accepted = [f for f in frames if f["type"] == "response.steer.accepted"]
        assert len(accepted) == 1 and accepted[0]["stream_id"] == "a"
        steer = accepted[0]["steer"]
        assert steer["previous_response_id"] == first and steer["id"].startswith("steer_")
        stream = [created, *frames]
        # One stream, numbered without gaps or repeats, the acceptance included.
        assert [f["sequence_number"] for f in stream] == list(range(len(stream)))
        assert frames[-1]["response"]["output"][0]["content"][0]["text"] == "first answer"

        successor = _until(ws, "response.completed")
        assert successor[0]["type"] == "response.created"
        assert successor[0]["response"]["previous_response_id"] == first
        assert successor[-1]["response"]["output"][0]["content"][0]["text"] == "steered answer"
        assert successor[-1]["response"]["instructions"] == "Be brief."  # settings inherited
        assert {f["stream_id"] for f in successor} == {"a"}

        # The first response is done now; ids this socket never ran are not found; bad input
        # is refused with the input returned.
        _steer(ws, first, "too late")
        late = _recv(ws)
        assert late["type"] == "response.steer.failed"
        assert late["error"]["code"] == "response_already_completed"
        assert late["steer"] == {"input": "too late", "previous_response_id": first}
        _steer(ws, "resp_elsewhere", "hello")
        assert _recv(ws)["error"]["code"] == "response_not_found"
        for given, extra in [
            ([{"role": "assistant", "content": "x"}], {}),
            ([], {}),
            ("ok", {"stream_id": "a"}),
            ([{"role": "user", "content": [{"type": "input_text"}]}], {}),
        ]:
            _steer(ws, first, given, **extra)
            bad = _recv(ws)
            assert bad["error"]["code"] == "invalid_input", bad
            assert bad["steer"]["input"] == given and "id" not in bad["steer"]
    assert _texts(upstream.requests[1]) == [
        ("system", "Be brief."),
        ("user", "plan a trip"),
        ("assistant", "first answer"),
        ("user", "Only by train."),
    ]


def test_steers_wait_for_tool_results_then_join_the_continuation(server, upstream):
    upstream.script(
        Reply(tool_calls=[Call("get_weather", '{"city": "Oslo"}', id="call_1")], delay=0.4),
        Reply(text="Oslo: 4 C"),
    )
    with connect(_ws_url(server.url)) as ws:
        _send(ws, model="fake-model", input="weather?", tools=[_WEATHER], store=False)
        (created,) = _until(ws, "response.created")
        first = created["response"]["id"]
        _steer(ws, first, [{"role": "user", "content": "In Celsius."}])
        _steer(ws, first, "And be short.")
        frames = _until(ws, "response.completed")
        assert [f["type"] for f in frames].count("response.steer.accepted") == 2
        ids = [f["steer"]["id"] for f in frames if f["type"] == "response.steer.accepted"]
        waiting = [_recv(ws), _recv(ws)]
        assert [w["type"] for w in waiting] == ["response.steer.pending"] * 2
        assert [w["steer"]["id"] for w in waiting] == ids
        assert waiting[0]["reason"] == "waiting_for_required_input"
        assert waiting[0]["required_input"] == [
            {"type": "function_call_output", "call_id": "call_1", "name": "get_weather"}
        ]
        numbers = [f["sequence_number"] for f in [created, *frames, *waiting]]
        assert numbers == list(range(len(numbers)))

        output = {"type": "function_call_output", "call_id": "call_1", "output": "4 C"}
        _send(ws, model="fake-model", previous_response_id=first, input=[output], tools=[_WEATHER])
        done = _until(ws, "response.completed")[-1]
        assert done["response"]["output"][0]["content"][0]["text"] == "Oslo: 4 C"
    sent = _texts(upstream.requests[1])
    assert sent[0] == ("user", "weather?")
    assert sent[1][0] == "assistant" and upstream.requests[1]["messages"][1]["tool_calls"]
    # The results answer their calls at once; the steers follow them, in the order sent.
    assert sent[2:] == [("tool", "4 C"), ("user", "In Celsius."), ("user", "And be short.")]


def test_a_failed_response_fails_its_steers_and_conversations_cannot_be_steered(
    server, upstream, client
):
    upstream.script(Reply(status=500, delay=0.4))
    conversation = client.conversations.create().id
    with connect(_ws_url(server.url)) as ws:
        _send(ws, model="fake-model", input="x")
        first = _until(ws, "response.created")[0]["response"]["id"]
        _steer(ws, first, "never applied")
        frames = [_recv(ws)]
        while frames[-1]["type"] not in TERMINAL or frames[-1]["type"] == "error":
            frames.append(_recv(ws))
        assert frames[-1]["type"] == "response.failed"
        failed = _recv(ws)
        assert failed["type"] == "response.steer.failed"
        assert failed["error"]["code"] == "response_not_active"
        assert failed["steer"]["input"] == "never applied" and failed["steer"]["id"]

        upstream.script(Reply(text="in a conversation", delay=0.4))
        _send(ws, model="fake-model", input="y", conversation=conversation)
        bound = _until(ws, "response.created")[0]["response"]["id"]
        _steer(ws, bound, "steer me")
        frames = _until(ws, "response.completed")
        refused = [f for f in frames if f["type"] == "response.steer.failed"]
        assert refused[0]["error"]["code"] == "steering_not_supported"
    assert len(upstream.requests) == 2  # no successor ran


def test_the_sdk_steers_a_lane(server, upstream):
    upstream.script(Reply(text="heading north", delay=0.4), Reply(text="heading west"))
    with sdk_session(server) as session:
        lane = session.lane("driver")
        lane.send({"type": "response.create", "model": "fake-model", "input": "drive"})
        created = lane.recv(timeout=10)
        assert created.type == "response.created"
        first = created.response.id
        lane.send({"type": "response.steer", "previous_response_id": first, "input": "Go west."})
        seen = []
        while not (
            seen and seen[-1].type == "response.completed" and seen[-1].response.id != first
        ):
            seen.append(lane.recv(timeout=10))
        kinds = [e.type for e in seen]
        assert kinds.index("response.steer.accepted") < kinds.index("response.completed")
        assert kinds.count("response.created") == 1  # the successor's: the commit point
        assert seen[-1].response.previous_response_id == first
        assert seen[-1].response.output_text == "heading west"


def test_a_steer_ends_a_tool_loop_before_its_next_model_turn(
    tool_server, upstream, mcp, mcp_servers
):
    calc = {
        "type": "mcp",
        "server_label": "calc",
        "server_url": mcp_servers[1],
        "require_approval": "never",
    }
    upstream.script(
        Reply(tool_calls=[Call("calc__slow", '{"seconds": 0.5}')]), Reply(text="summary")
    )
    with connect(_ws_url(tool_server.url)) as ws:
        _send(ws, model="fake-model", input="work on it", tools=[calc])
        first = _until(ws, "response.created")[0]["response"]["id"]
        _steer(ws, first, "Stop and summarize.")
        end = _until(ws, "response.incomplete")[-1]["response"]
        # The tool's call finished; no second model turn ran inside the steered response.
        assert end["incomplete_details"] == {"reason": "steered"}
        assert [i["type"] for i in end["output"]] == ["mcp_list_tools", "mcp_call"]
        assert end["output"][1]["output"] == "done"
        successor = _until(ws, "response.completed")[-1]["response"]
        assert successor["previous_response_id"] == first
        assert successor["output"][-1]["content"][0]["text"] == "summary"
    assert len(upstream.requests) == 2
    last = upstream.requests[1]["messages"]
    assert [(m["role"], m.get("content")) for m in last[-2:]] == [
        ("tool", "done"),
        ("user", "Stop and summarize."),
    ]


def test_steers_waiting_on_too_many_responses_are_given_back_oldest_first(
    server, upstream, monkeypatch
):
    from responsd.api import steering

    monkeypatch.setattr(steering, "MAX_WAITING", 1)
    call = Reply(tool_calls=[Call("get_weather", '{"city": "Oslo"}', id="call_w")], delay=0.3)
    upstream.script(call, call)
    with connect(_ws_url(server.url)) as ws:
        waiting = []
        for lane in ("a", "b"):
            _send(ws, model="fake-model", input="weather?", tools=[_WEATHER], stream_id=lane)
            first = _until(ws, "response.created")[0]["response"]["id"]
            _steer(ws, first, f"steer {lane}")
            _until(ws, "response.completed")
            waiting.append(_recv(ws))
        assert [w["type"] for w in waiting] == ["response.steer.pending"] * 2
        given_back = _recv(ws)  # the second wait gives the first lane's steer back
        assert given_back["type"] == "response.steer.failed"
        assert given_back["error"]["code"] == "too_many_pending_steers"
        assert given_back["stream_id"] == "a" and given_back["steer"]["input"] == "steer a"
        assert given_back["steer"]["id"] == waiting[0]["steer"]["id"]


def test_a_turn_that_fails_inside_the_server_gives_its_steers_back(server, upstream, monkeypatch):
    # A fault of the server's own (injected: sending the terminal event raises) ends the turn
    # with an internal error; the steer it had accepted is returned, not silently dropped.
    sent = websocket._on_lane

    def faulty(event_json: str, stream_id):
        if '"type":"response.completed"' in event_json:
            raise RuntimeError("injected fault")
        return sent(event_json, stream_id)

    monkeypatch.setattr(websocket, "_on_lane", faulty)
    upstream.script(Reply(text="first answer", delay=0.4))
    with connect(_ws_url(server.url)) as ws:
        _send(ws, model="fake-model", input="plan a trip")
        first = _until(ws, "response.created")[0]["response"]["id"]
        _steer(ws, first, "Only by train.")
        frames = _until(ws, "response.steer.failed")
        assert frames[-1]["error"]["code"] == "response_not_active"
        assert frames[-1]["steer"]["input"] == "Only by train."
        error = _recv(ws)
        assert error["type"] == "error" and error["error"]["message"] == (
            "The server had an internal error."
        )
    assert len(upstream.requests) == 1  # no successor ran
