"""text.format: json_schema (strict) and json_object, and the SDK's responses.parse()."""

import json

import openai
import pytest
from pydantic import BaseModel

from bench.fake_upstream import Reply
from tests.wire import stream_events


class City(BaseModel):
    name: str
    population: int
    tags: list[str]


def test_parse_returns_the_parsed_pydantic_object(client, upstream):
    upstream.script(Reply(text='{"name": "Oslo", "population": 709000, "tags": ["fjord"]}'))
    response = client.responses.parse(model="fake-model", input="A city?", text_format=City)
    assert response.output_parsed == City(name="Oslo", population=709000, tags=["fjord"])
    sent = upstream.requests[0]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "City" and sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"]["required"] == ["name", "population", "tags"]
    assert response.text.format.type == "json_schema"


def test_strict_schema_violation_fails_the_response(client, upstream):
    upstream.script(Reply(text='{"name": "Oslo", "population": "many", "tags": []}'))
    with pytest.raises(openai.APIStatusError) as info:
        client.responses.parse(model="fake-model", input="A city?", text_format=City)
    assert info.value.status_code == 502
    assert info.value.code == "invalid_model_output"
    assert "population" in info.value.message


def test_prose_around_json_fails_a_strict_stream(http, upstream):
    upstream.script(Reply(text='Sure! {"name": "Oslo"}'))
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    events, _ = stream_events(
        http,
        model="fake-model",
        input="x",
        text={"format": {"type": "json_schema", "name": "n", "schema": schema, "strict": True}},
    )
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2]["code"] == "invalid_model_output"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert "not valid JSON" in failed["error"]["message"]
    stored = http.get(f"/responses/{failed['id']}").json()
    assert stored["status"] == "failed"


def test_non_strict_schema_is_returned_as_written(client, upstream):
    upstream.script(Reply(text='{"name": 1}'))
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    response = client.responses.create(
        model="fake-model",
        input="x",
        text={"format": {"type": "json_schema", "name": "n", "schema": schema, "strict": False}},
    )
    assert response.status == "completed" and json.loads(response.output_text) == {"name": 1}


def test_json_object_mode(client, upstream):
    upstream.script(Reply(text='{"ok": true}'), Reply(text="[1, 2]"))
    response = client.responses.create(
        model="fake-model", input="x", text={"format": {"type": "json_object"}}
    )
    assert json.loads(response.output_text) == {"ok": True}
    assert upstream.requests[0]["response_format"] == {"type": "json_object"}
    with pytest.raises(openai.APIStatusError) as info:
        client.responses.create(
            model="fake-model", input="x", text={"format": {"type": "json_object"}}
        )
    assert info.value.code == "invalid_model_output"


def test_invalid_json_schema_is_a_400(client, upstream):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(
            model="fake-model",
            input="x",
            text={"format": {"type": "json_schema", "name": "n", "schema": {"type": "nope"}}},
        )
    assert info.value.param == "text.format.schema"


def test_truncated_json_is_incomplete_not_failed(client, upstream):
    upstream.script(Reply(text='{"name": "Os', finish_reason="length"))
    response = client.responses.create(
        model="fake-model",
        input="x",
        max_output_tokens=16,
        text={"format": {"type": "json_object"}},
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"


def test_refusal_is_a_refusal_part(client, upstream):
    upstream.script(Reply(refusal="I can't help with that."))
    response = client.responses.parse(model="fake-model", input="x", text_format=City)
    part = response.output[0].content[0]
    assert part.type == "refusal" and part.refusal == "I can't help with that."
