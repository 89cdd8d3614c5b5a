"""Images in tool outputs (`function_call_output.output` with `input_image` parts): chat
tool messages carry text only, so the images follow the tool messages of their turn in one
user message."""

import base64

import openai
import pytest

from bench.fake_upstream import Call, Reply
from responsd.providers.chat_messages import TOOL_IMAGES

PNG = "data:image/png;base64,iVBORw0KGgo="
JPG = "https://example.com/shot.jpg"
SHOT = {
    "type": "function",
    "name": "screenshot",
    "parameters": {"type": "object", "properties": {}},
}


def _output(call_id: str, *parts: dict) -> dict:
    return {"type": "function_call_output", "call_id": call_id, "output": list(parts)}


def _image(url: str) -> dict:
    return {"type": "input_image", "image_url": url, "detail": "high"}


def _call(call_id: str) -> dict:
    return {"type": "function_call", "call_id": call_id, "name": "screenshot", "arguments": "{}"}


def test_the_images_follow_the_tool_messages_of_their_turn(http, upstream):
    upstream.script(Reply(text="I see two screens."))
    text = {"type": "input_text", "text": "Screen 1"}
    body = {
        "model": "fake-model",
        "tools": [SHOT],
        "input": [
            {"role": "user", "content": "look"},
            _call("c1"),
            _call("c2"),
            _output("c1", text, _image(PNG)),
            _output("c2", _image(JPG)),
            {"role": "user", "content": "what now?"},
        ],
    }
    reply = http.post("/responses", json=body)
    assert reply.status_code == 200, reply.text
    _, calls, first, second, images, question = upstream.requests[0]["messages"]
    assert [c["id"] for c in calls["tool_calls"]] == ["c1", "c2"]
    assert first == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "Screen 1\n(1 image in the next message.)",
    }
    assert second["content"] == "(1 image in the next message.)"
    assert images == {
        "role": "user",
        "content": [
            {"type": "text", "text": TOOL_IMAGES},
            {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}},
            {"type": "image_url", "image_url": {"url": JPG, "detail": "high"}},
        ],
    }
    assert question == {"role": "user", "content": "what now?"}
    # Stored as sent.
    stored = http.get(f"/responses/{reply.json()['id']}/input_items?order=asc").json()["data"]
    assert stored[3]["output"][1]["image_url"] == PNG


def test_a_chain_keeps_them_in_place_on_later_turns(client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("screenshot", "{}", id="c1")]),
        Reply(text="A login page."),
        Reply(text="Type your password."),
    )
    first = client.responses.create(model="fake-model", input="look", tools=[SHOT])
    second = client.responses.create(
        model="fake-model",
        previous_response_id=first.id,
        input=[_output("c1", _image(PNG))],
        tools=[SHOT],
    )
    third = client.responses.create(
        model="fake-model", previous_response_id=second.id, input="and now?", tools=[SHOT]
    )
    assert third.output_text == "Type your password."
    messages = upstream.requests[2]["messages"]
    roles = [m["role"] for m in messages]
    assert roles == ["user", "assistant", "tool", "user", "assistant", "user"]
    assert messages[2]["content"] == "(1 image in the next message.)"
    assert messages[3]["content"][0]["text"] == TOOL_IMAGES
    assert (messages[4]["content"], messages[5]["content"]) == ("A login page.", "and now?")
    assert messages[3]["content"][1]["image_url"]["url"] == PNG


def test_files_and_images_by_file_id_reach_the_model(client, upstream):
    """A tool output's files are read for the model (their text joins the tool message); an
    image given by file_id rides as a data URL, as one given by image_url does."""
    upstream.script(Reply(text="ok"))
    image = client.files.create(file=("shot.png", base64.b64decode(PNG[22:])), purpose="user_data")
    notes = client.files.create(file=("notes.md", b"The door code is 4711."), purpose="user_data")
    inline = base64.b64encode(b"Plain words.").decode()
    parts = [
        {"type": "input_image", "file_id": image.id},
        {"type": "input_file", "file_id": notes.id},
        {
            "type": "input_file",
            "file_data": f"data:text/plain;base64,{inline}",
            "filename": "a.txt",
        },
    ]
    response = client.responses.create(
        model="fake-model", tools=[SHOT], input=[_call("c1"), _output("c1", *parts)]
    )
    _, answer, images = upstream.requests[0]["messages"]
    assert "[File: notes.md]\nThe door code is 4711." in answer["content"]
    assert "[File: a.txt]\nPlain words." in answer["content"]
    assert answer["content"].endswith("(1 image in the next message.)")
    assert images["content"][1]["image_url"]["url"] == PNG
    # Stored as sent.
    stored = client.responses.input_items.list(response.id, order="asc").data[1]
    assert stored.output[0].file_id == image.id


def test_a_missing_file_is_a_404_naming_it(http, upstream):
    part = {"type": "input_image", "file_id": "file-abc"}
    body = {"model": "fake-model", "tools": [SHOT], "input": [_call("c1"), _output("c1", part)]}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 404, reply.text
    assert reply.json()["error"]["param"] == "input[1].output[0].file_id"
    assert upstream.requests == []


def test_the_embedded_model_refuses_them(local):
    with pytest.raises(openai.BadRequestError) as error:
        local.responses.create(
            model=local.models.list().data[0].id,
            tools=[SHOT],
            input=[_call("c1"), _output("c1", _image(PNG))],
        )
    assert "reads text only" in error.value.message
