"""The computer tool (`computer`, and `computer_use_preview`), run by the client: the model
calls a strict function `computer` with screen actions; the response carries a
`computer_call` item; the client answers with a `computer_call_output` holding a screenshot,
which the model sees as an image after the tool message."""

import base64
import json

import openai
import pytest
from websockets.sync.client import connect

from bench.fake_upstream import Call, Reply
from responsd.providers.chat_messages import TOOL_IMAGES
from responsd.tools.client_run import SCREENSHOT_TEXT
from tests.test_websocket import _send, _ws_url
from tests.test_websocket_steering import _recv, _steer, _until
from tests.wire import check_response, stream_events

PNG = "data:image/png;base64,iVBORw0KGgo="
ACTIONS = [
    {"type": "click", "button": "left", "x": 120, "y": 48},
    {"type": "type", "text": "hello"},
    {"type": "keypress", "keys": ["ENTER"]},
]
PREVIEW = {
    "type": "computer_use_preview",
    "environment": "browser",
    "display_width": 1024,
    "display_height": 768,
}


def _sent_tool(request: dict) -> dict:
    [tool] = [t["function"] for t in request["tools"] if t["function"]["name"] == "computer"]
    return tool


def _screenshot(call_id: str, url: str = PNG) -> dict:
    output = {"type": "computer_screenshot", "image_url": url}
    return {"type": "computer_call_output", "call_id": call_id, "output": output}


def test_a_computer_call_is_its_own_item(http, upstream):
    arguments = json.dumps({"actions": ACTIONS})
    upstream.script(Reply(tool_calls=[Call("computer", arguments, id="call_c")]))
    body = {"model": "fake-model", "input": "log in", "tools": [{"type": "computer"}]}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 200, reply.text
    assert "responsd-skipped-tools" not in reply.headers
    response = check_response(reply.json())
    assert response["tools"] == [{"type": "computer"}]
    [call] = response["output"]
    assert call["type"] == "computer_call" and call["id"].startswith("cu_")
    assert call["call_id"] == "call_c" and call["status"] == "completed"
    assert call["actions"] == ACTIONS and "action" not in call
    assert call["pending_safety_checks"] == []
    # The model was offered a strict function taking a batch of actions.
    sent = _sent_tool(upstream.requests[0])
    assert sent["strict"] is True
    assert sent["parameters"]["required"] == ["actions"]
    kinds = [
        a["properties"]["type"]["enum"][0]
        for a in sent["parameters"]["properties"]["actions"]["items"]["anyOf"]
    ]
    assert sorted(kinds) == sorted(
        [
            "click",
            "double_click",
            "drag",
            "keypress",
            "move",
            "screenshot",
            "scroll",
            "type",
            "wait",
        ]
    )


def test_the_screenshot_reaches_the_model_after_the_tool_message(client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("computer", json.dumps({"actions": ACTIONS}), id="call_c")]),
        Reply(text="Logged in."),
    )
    tools = [{"type": "computer"}]
    first = client.responses.create(model="fake-model", input="log in", tools=tools)
    assert first.output[0].type == "computer_call"
    second = client.responses.create(
        model="fake-model",
        previous_response_id=first.id,
        input=[_screenshot("call_c")],
        tools=tools,
    )
    assert second.output_text == "Logged in."
    *_, assistant, answer, images = upstream.requests[1]["messages"]
    [called] = assistant["tool_calls"]
    assert called["id"] == "call_c" and called["function"]["name"] == "computer"
    assert json.loads(called["function"]["arguments"]) == {"actions": ACTIONS}
    assert answer == {
        "role": "tool",
        "tool_call_id": "call_c",
        "content": f"{SCREENSHOT_TEXT}\n(1 image in the next message.)",
    }
    assert images["role"] == "user"
    assert images["content"][0] == {"type": "text", "text": TOOL_IMAGES}
    assert images["content"][1]["image_url"]["url"] == PNG
    [stored] = client.responses.input_items.list(second.id).data
    assert stored.type == "computer_call_output" and stored.id.startswith("cuo_")
    assert stored.output.image_url == PNG and stored.call_id == "call_c"


def test_the_preview_tool_takes_one_action_on_the_stated_screen(http, upstream):
    action = {"type": "scroll", "x": 500, "y": 400, "scroll_x": 0, "scroll_y": -300}
    upstream.script(Reply(tool_calls=[Call("computer", json.dumps({"action": action}))]))
    body = {"model": "fake-model", "input": "scroll up", "tools": [PREVIEW]}
    response = check_response(http.post("/responses", json=body).json())
    assert response["tools"] == [PREVIEW]
    [call] = response["output"]
    assert call["type"] == "computer_call" and call["action"] == action
    assert "actions" not in call
    sent = _sent_tool(upstream.requests[0])
    assert sent["parameters"]["required"] == ["action"]
    assert "browser, a screen of 1024x768 pixels" in sent["description"]


def test_a_stateless_client_replays_the_call_and_its_screenshot(http, upstream):
    """What the Agents SDK sends without `store`: the whole context, each turn."""
    upstream.script(Reply(text="done"))
    call = {
        "type": "computer_call",
        "id": "cu_1",
        "call_id": "call_1",
        "action": {"type": "screenshot"},
        "pending_safety_checks": [],
        "status": "completed",
    }
    output = {**_screenshot("call_1"), "acknowledged_safety_checks": []}
    body = {
        "model": "fake-model",
        "store": False,
        "tools": [PREVIEW],
        "input": [{"role": "user", "content": "what is on screen?"}, call, output],
    }
    reply = http.post("/responses", json=body)
    assert reply.status_code == 200, reply.text
    _, assistant, answer, images = upstream.requests[0]["messages"]
    arguments = json.loads(assistant["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"action": {"type": "screenshot"}}
    assert answer["content"].startswith(SCREENSHOT_TEXT)
    assert images["content"][1]["image_url"]["url"] == PNG


def test_streamed_the_call_is_added_and_done_at_once(http, upstream):
    upstream.script(
        Reply(tool_calls=[Call("computer", json.dumps({"actions": [{"type": "wait"}]}))])
    )
    events, _ = stream_events(http, model="fake-model", input="wait", tools=[{"type": "computer"}])
    kinds = [e["type"] for e in events]
    added = kinds.index("response.output_item.added")
    assert kinds[added + 1] == "response.output_item.done"
    assert events[added]["item"]["type"] == "computer_call"
    assert events[added]["item"]["actions"] == [{"type": "wait"}]
    assert events[-1]["response"]["output"][0]["actions"] == [{"type": "wait"}]


def test_tool_choice_forces_the_computer(http, upstream):
    upstream.script(Reply(tool_calls=[Call("computer", json.dumps({"action": {"type": "wait"}}))]))
    body = {
        "model": "fake-model",
        "input": "x",
        "tools": [PREVIEW],
        "tool_choice": {"type": "computer_use_preview"},
    }
    reply = http.post("/responses", json=body)
    assert reply.status_code == 200, reply.text
    assert upstream.requests[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "computer"},
    }


def test_arguments_that_make_no_action_fail_the_response(client, upstream):
    upstream.script(Reply(tool_calls=[Call("computer", json.dumps({"actions": [{"x": 1}]}))]))
    with pytest.raises(openai.InternalServerError) as error:
        client.responses.create(model="fake-model", input="x", tools=[{"type": "computer"}])
    assert error.value.body["code"] == "invalid_model_output"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {
                "tools": [{"type": "computer"}],
                "input": [
                    {"type": "computer_call", "call_id": "c", "actions": [{"type": "wait"}]},
                    {
                        "type": "computer_call_output",
                        "call_id": "c",
                        "output": {"type": "computer_screenshot"},
                    },
                ],
            },
            "input[1].output",
        ),
        ({"tools": [{"type": "computer"}], "input": [_screenshot("nope")]}, "input[0].call_id"),
        ({"tools": [{"type": "computer", "display": "4k"}]}, "tools[0].display"),
        ({"tools": [], "tool_choice": {"type": "computer"}}, "tool_choice"),
        (
            {"tools": [{"type": "computer"}, {"type": "function", "name": "computer"}]},
            "tools",
        ),
    ],
    ids=["no-screenshot", "no-call", "unknown-setting", "forced-absent", "name-clash"],
)
def test_what_cannot_be_honoured_is_a_400(http, upstream, body, param):
    reply = http.post("/responses", json={"model": "fake-model", "input": "x", **body})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param
    assert upstream.requests == []


def test_a_call_without_actions_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="fake-model",
            input=[{"type": "computer_call", "call_id": "c", "pending_safety_checks": []}],
        )
    assert "action" in caught.value.message


def test_a_steer_waits_for_the_screenshot(server, upstream):
    """Over a WebSocket, a steer sent while the computer call is pending waits for its
    `computer_call_output` (the stub names it)."""
    arguments = json.dumps({"actions": [{"type": "screenshot"}]})
    upstream.script(Reply(tool_calls=[Call("computer", arguments, id="call_c")], delay=0.4))
    with connect(_ws_url(server.url)) as ws:
        _send(ws, model="fake-model", input="look", tools=[{"type": "computer"}], store=False)
        (created,) = _until(ws, "response.created")
        _steer(ws, created["response"]["id"], "Then open the menu.")
        _until(ws, "response.completed")
        pending = _recv(ws)
    assert pending["type"] == "response.steer.pending"
    assert pending["required_input"] == [{"type": "computer_call_output", "call_id": "call_c"}]


def _screenshot_by_file(client, file_id: str | None = None) -> tuple[dict, dict, str]:
    """A computer call and its output whose screenshot is an uploaded file (or `file_id`)."""
    if file_id is None:
        png = base64.b64decode(PNG[22:])
        file_id = client.files.create(file=("shot.png", png), purpose="user_data").id
    call = {"type": "computer_call", "call_id": "c", "actions": [{"type": "screenshot"}]}
    output = {
        "type": "computer_call_output",
        "call_id": "c",
        "output": {"type": "computer_screenshot", "file_id": file_id},
    }
    return call, output, file_id


def test_a_screenshot_given_by_file_id(client, upstream):
    upstream.script(Reply(text="A login page."))
    call, output, _ = _screenshot_by_file(client)
    tools = [{"type": "computer"}]
    response = client.responses.create(model="fake-model", tools=tools, input=[call, output])
    assert response.output_text == "A login page."
    *_, images = upstream.requests[0]["messages"]
    assert images["content"][1]["image_url"]["url"] == PNG
    _, missing, _ = _screenshot_by_file(client, "file-gone")
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="fake-model", tools=tools, input=[call, missing])
    assert caught.value.body["param"] == "input[1].output.file_id"


def test_a_later_turn_is_told_when_the_screenshot_file_is_gone(client, upstream):
    upstream.script(Reply(text="A login page."), Reply(text="I no longer see it."))
    call, output, file_id = _screenshot_by_file(client)
    tools = [{"type": "computer"}]
    first = client.responses.create(model="fake-model", tools=tools, input=[call, output])
    client.files.delete(file_id)
    client.responses.create(
        model="fake-model", tools=tools, input="and now?", previous_response_id=first.id
    )
    _, answer, *_ = upstream.requests[1]["messages"]
    assert answer == {
        "role": "tool",
        "tool_call_id": "c",
        "content": f"[The screenshot ({file_id}) was deleted.]",
    }
