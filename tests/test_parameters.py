"""Sampling, limits, metadata and identity parameters: honoured (sent upstream) and echoed."""

import openai
import pytest

from bench.fake_upstream import Call, Reply
from tests.wire import stream_events


def test_max_output_tokens_reached_is_incomplete(client, upstream):
    upstream.script(Reply(text="cut sh", finish_reason="length"))
    response = client.responses.create(model="fake-model", input="x", max_output_tokens=20)
    assert upstream.requests[0]["max_tokens"] == 20
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].status == "incomplete"
    assert response.output_text == "cut sh"
    assert response.completed_at is None


def test_incomplete_stream_ends_with_response_incomplete(http, upstream):
    upstream.script(Reply(text="cut", finish_reason="length"))
    events, _ = stream_events(http, model="fake-model", input="x", max_output_tokens=16)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-2]["item"]["status"] == "incomplete"


def test_no_max_output_tokens_leaves_the_cap_to_the_model(client, upstream):
    upstream.script(Reply(text="ok"))
    response = client.responses.create(model="fake-model", input="x")
    assert (
        "max_tokens" not in upstream.requests[0]
        and "max_completion_tokens" not in upstream.requests[0]
    )
    assert response.max_output_tokens is None


def test_sampling_and_identity_are_sent_and_echoed(client, upstream):
    upstream.script(Reply(text="ok"))
    response = client.responses.create(
        model="fake-model",
        input="x",
        temperature=0.2,
        top_p=0.5,
        user="user-1",
        safety_identifier="hash-1",
        prompt_cache_key="cache-1",
        metadata={"team": "core"},
    )
    sent = upstream.requests[0]
    assert (sent["temperature"], sent["top_p"]) == (0.2, 0.5)
    assert (sent["user"], sent["safety_identifier"], sent["prompt_cache_key"]) == (
        "user-1",
        "hash-1",
        "cache-1",
    )
    assert (response.temperature, response.top_p) == (0.2, 0.5)
    assert (response.user, response.safety_identifier, response.prompt_cache_key) == (
        "user-1",
        "hash-1",
        "cache-1",
    )
    assert response.metadata == {"team": "core"}
    assert "metadata" not in sent


def test_unset_sampling_is_left_to_the_upstream(client, upstream):
    upstream.script(Reply(text="ok"))
    client.responses.create(model="fake-model", input="x")
    assert not {"temperature", "top_p", "user"} & set(upstream.requests[0])


def test_reasoning_and_verbosity_are_passed_on_and_echoed(client, upstream):
    upstream.script(Reply(text="ok"))
    response = client.responses.create(
        model="fake-model",
        input="x",
        reasoning={"effort": "low", "summary": "auto"},
        text={"verbosity": "low"},
    )
    assert upstream.requests[0]["reasoning_effort"] == "low"
    assert upstream.requests[0]["verbosity"] == "low"
    assert (response.reasoning.effort, response.reasoning.summary) == ("low", "auto")
    assert response.text.verbosity == "low"


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({f"k{i}": "v" for i in range(17)}, "16 keys"),
        ({"k" * 65: "v"}, "64 characters"),
        ({"k": "v" * 513}, "512 characters"),
    ],
)
def test_metadata_limits(client, upstream, metadata, problem):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input="x", metadata=metadata)
    assert info.value.param == "metadata"
    assert problem in info.value.message


def test_metadata_at_the_limits_is_accepted(client, upstream):
    upstream.script(Reply(text="ok"))
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    assert (
        client.responses.create(model="fake-model", input="x", metadata=metadata).metadata
        == metadata
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", 2.5), ("top_p", -0.1), ("max_output_tokens", 5), ("max_tool_calls", 0)],
)
def test_out_of_range_values_are_a_400_naming_the_field(client, upstream, field, value):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input="x", **{field: value})
    assert info.value.param == field


def test_input_tokens_count_is_the_upstreams_prompt_size(client, upstream):
    upstream.script(Reply(text="x", prompt_tokens=123))
    count = client.responses.input_tokens.count(model="fake-model", input="How many tokens?")
    assert count.input_tokens == 123
    assert count.object == "response.input_tokens"
    assert upstream.requests[0]["max_tokens"] == 1
    assert upstream.requests[0]["messages"] == [{"role": "user", "content": "How many tokens?"}]


def test_input_tokens_count_includes_the_previous_chain_and_tools(client, upstream):
    upstream.script(Reply(text="earlier"), Reply(text="x", prompt_tokens=7))
    first = client.responses.create(model="fake-model", input="a")
    client.responses.input_tokens.count(
        model="fake-model",
        input="b",
        previous_response_id=first.id,
        tools=[
            {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}
        ],
    )
    sent = upstream.requests[-1]
    assert [m["content"] for m in sent["messages"]] == ["a", "earlier", "b"]
    assert sent["tools"][0]["function"]["name"] == "f"


def test_models_list_has_data_and_models(http, client, upstream):
    assert [m.id for m in client.models.list()] == ["fake-model", "other-model"]
    body = http.get("/models").json()
    assert body["object"] == "list" and body["models"] == body["data"]
    assert client.models.retrieve("other-model").id == "other-model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("missing-model")


def test_tool_calls_with_usage_in_stream(http, upstream):
    upstream.script(Reply(tool_calls=[Call("f")], prompt_tokens=10))
    events, _ = stream_events(
        http, model="fake-model", input="x", tools=[{"type": "function", "name": "f"}]
    )
    assert events[-1]["response"]["usage"]["input_tokens"] == 10


def test_service_tier_and_cache_retention_reach_the_upstream(client, upstream):
    upstream.script(Reply(text="ok"), Reply(text="ok"))
    response = client.responses.create(
        model="fake-model", input="x", service_tier="flex", prompt_cache_retention="24h"
    )
    assert upstream.requests[0]["service_tier"] == "flex"
    assert upstream.requests[0]["prompt_cache_retention"] == "24h"
    assert response.service_tier == "flex" and response.prompt_cache_retention == "24h"
    plain = client.responses.create(model="fake-model", input="x")
    assert plain.service_tier == "default"
    assert "service_tier" not in upstream.requests[1]


def test_one_table_maps_sampling_for_echo_upstream_and_refusal():
    from responsd.errors import UnsupportedParameterError
    from responsd.providers import sampling
    from responsd.providers.base import ModelRequest

    request = ModelRequest(model="m", items=[], temperature=0.5, stop=["x"], user="u")
    assert sampling.wire(request) == {"temperature": 0.5, "stop": ["x"], "user": "u"}
    echoed = sampling.echoed(request, frozenset({"temperature", "top_p", "user"}))
    assert echoed == {"temperature": 0.5, "top_p": 1.0, "user": "u"}
    sampling.check(request, frozenset({"temperature", "stop"}), "A backend")  # user: identity
    with pytest.raises(UnsupportedParameterError) as refused:
        sampling.check(request, frozenset({"temperature"}), "A backend")
    assert refused.value.param == "stop"
