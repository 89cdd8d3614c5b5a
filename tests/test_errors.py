"""Bad input gets a clear 400 naming the field; a failing upstream gets a stored failed response."""

import time

import httpx
import openai
import pytest

from bench.fake_upstream import Reply
from tests.conftest import UPSTREAM_TIMEOUT
from tests.wire import stream_events


def _error(reply):
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_body_that_is_not_json(http, upstream):
    reply = http.post(
        "/responses", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert "could not parse the JSON body" in _error(reply)["message"]


def test_body_that_is_not_an_object(http, upstream):
    reply = http.post("/responses", json=["model", "input"])
    assert reply.status_code == 400


@pytest.mark.parametrize("missing", ["model", "input"])
def test_missing_required_parameter(http, upstream, missing):
    body = {"model": "fake-model", "input": "x"}
    del body[missing]
    reply = http.post("/responses", json=body)
    assert reply.status_code == 400
    error = _error(reply)
    assert error["param"] == missing and error["type"] == "invalid_request_error"
    assert f"Missing required parameter: '{missing}'" in error["message"]


def test_unknown_parameter_is_named(http, upstream):
    reply = http.post("/responses", json={"model": "fake-model", "input": "x", "temprature": 1})
    error = _error(reply)
    assert reply.status_code == 400
    assert error["param"] == "temprature" and error["code"] == "unknown_parameter"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"temperature": "hot"}, "temperature"),
        ({"input": 42}, "input"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"input": [{"type": "teleport"}]}, "input[0]"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
            "input[0].content[0].text",
        ),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"store": "yes"}, "store"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format"),
    ],
)
def test_wrong_values_are_a_400_naming_the_param(http, upstream, body, param):
    reply = http.post("/responses", json={"model": "fake-model", "input": "x", **body})
    assert reply.status_code == 400, reply.text
    assert _error(reply)["param"] == param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
    ],
)
def test_known_but_unsupported_parameters_are_a_400(http, upstream, body, param):
    reply = http.post("/responses", json={"model": "fake-model", "input": "x", **body})
    assert reply.status_code == 400, reply.text
    error = _error(reply)
    assert error["param"] == param and error["code"] == "unsupported_parameter"
    assert upstream.requests == []


def test_unknown_include_value(http, upstream):
    reply = http.post("/responses", json={"model": "fake-model", "input": "x", "include": ["nope"]})
    assert reply.status_code == 400 and _error(reply)["param"] == "include[0]"


def test_conversation_with_previous_response_id_is_a_400(http, upstream):
    body = {"model": "fake-model", "input": "x", "conversation": "c", "previous_response_id": "r"}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 400


def test_unknown_endpoint_is_a_404_envelope(http, upstream):
    reply = http.get("/nothing-here")
    assert reply.status_code == 404 and _error(reply)["type"] == "invalid_request_error"


def test_upstream_error_status_fails_the_response_and_stores_it(http, client, upstream):
    upstream.script(Reply(status=500, error="model crashed"))
    with pytest.raises(openai.APIStatusError) as info:
        client.responses.create(model="fake-model", input="x")
    assert info.value.status_code == 502
    assert "model crashed" in info.value.message


def test_upstream_rejecting_the_request_is_a_400(client, upstream):
    upstream.script(Reply(status=404, error="The model `nope` does not exist."))
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="nope", input="x")
    assert "does not exist" in info.value.message


def test_upstream_rate_limit_is_a_429_with_retry_after(http, upstream):
    upstream.script(Reply(status=429, error="slow down", headers={"Retry-After": "7"}))
    reply = http.post("/responses", json={"model": "fake-model", "input": "x"})
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "7"


def test_upstream_failure_while_streaming_sends_error_then_failed(http, upstream):
    upstream.script(Reply(status=503, error="overloaded"))
    events, _ = stream_events(http, model="fake-model", input="x")
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "error",
        "response.failed",
    ]
    assert "overloaded" in events[2]["message"]
    failed = events[3]["response"]
    assert failed["error"]["code"] == "server_error"
    assert http.get(f"/responses/{failed['id']}").json()["status"] == "failed"


def test_upstream_garbage_fails_cleanly(http, upstream):
    upstream.script(Reply(raw_lines=["this is not json"]))
    events, _ = stream_events(http, model="fake-model", input="x")
    assert events[-1]["type"] == "response.failed"
    assert "not JSON" in events[-2]["message"]


def test_upstream_closing_early_fails_cleanly(http, upstream):
    chunk = '{"choices": [{"index": 0, "delta": {"content": "half"}, "finish_reason": null}]}'
    upstream.script(Reply(raw_lines=[chunk]))
    events, _ = stream_events(http, model="fake-model", input="x")
    assert events[-1]["type"] == "response.failed"
    assert "before finishing" in events[-2]["message"]
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "half"


def test_a_stream_cut_after_many_deltas_keeps_all_their_text(http, upstream):
    pieces = [f"part {n}, " for n in range(40)]
    chunk = '{"choices": [{"index": 0, "delta": {"content": "%s"}, "finish_reason": null}]}'
    upstream.script(Reply(raw_lines=[chunk % piece for piece in pieces]))
    events, _ = stream_events(http, model="fake-model", input="x")
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "".join(pieces)


def test_upstream_that_never_answers_times_out(make_client, upstream):
    client = make_client(upstream_timeout=UPSTREAM_TIMEOUT)
    upstream.script(Reply(text="late", delay=UPSTREAM_TIMEOUT * 3))
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client.responses.create(model="fake-model", input="x")
    assert info.value.status_code == 504
    assert time.monotonic() - started < UPSTREAM_TIMEOUT * 2.5


def test_upstream_stalling_mid_stream_times_out(make_client, upstream):
    client = make_client(upstream_timeout=UPSTREAM_TIMEOUT)
    upstream.script(Reply(text="abcdefghijklmnop", stall_after_first=UPSTREAM_TIMEOUT * 3))
    with httpx.Client(base_url=str(client.base_url), timeout=10) as http:
        events, _ = stream_events(http, model="fake-model", input="x")
    assert events[-2]["type"] == "error" and events[-2]["code"] == "upstream_timeout"


def test_upstream_down_is_a_502(tmp_path):
    from bench.servers import ServerThread
    from responsd.app import create_app
    from responsd.config import Settings

    settings = Settings(_env_file=None, upstream_url="http://127.0.0.1:9/v1", data_dir=tmp_path)
    server = ServerThread(create_app(settings)).start()
    try:
        with (
            openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0) as c,
            pytest.raises(openai.APIStatusError) as info,
        ):
            c.responses.create(model="m", input="x")
        assert info.value.status_code == 502
        assert info.value.code == "upstream_unavailable"
    finally:
        server.stop()


def test_a_failed_request_leaves_the_chain_intact(client, upstream):
    upstream.script(Reply(text="one"), Reply(status=500), Reply(text="two"))
    first = client.responses.create(model="fake-model", input="a")
    with pytest.raises(openai.APIStatusError):
        client.responses.create(model="fake-model", input="b", previous_response_id=first.id)
    client.responses.create(model="fake-model", input="c", previous_response_id=first.id)
    assert [m["content"] for m in upstream.requests[-1]["messages"]] == ["a", "one", "c"]
