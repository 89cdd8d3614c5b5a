"""POST /v1/responses: plain text, streaming, the SDK's stream helper, sync and async."""

import json

import openai
import pytest

from bench.fake_upstream import Call, Reply
from tests.wire import check_response, stream_events


def test_create_returns_the_upstreams_answer(client, upstream):
    upstream.script(Reply(text="Paris is the capital of France."))
    response = client.responses.create(model="fake-model", input="Capital of France?")
    assert response.status == "completed"
    assert response.output_text == "Paris is the capital of France."
    assert response.id.startswith("resp_")
    assert response.output[0].id.startswith("msg_")
    assert upstream.requests[0]["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert upstream.requests[0]["stream"] is True


def test_response_json_has_every_field_and_validates(http, upstream):
    upstream.script(Reply(text="hi"))
    body = http.post("/responses", json={"model": "fake-model", "input": "hi"}).json()
    check_response(body)
    assert body["object"] == "response"
    assert body["text"] == {"format": {"type": "text"}, "verbosity": "medium"}
    assert body["metadata"] == {} and body["tools"] == [] and body["tool_choice"] == "auto"
    assert body["temperature"] == 1.0 and body["top_p"] == 1.0 and body["top_logprobs"] == 0
    assert body["service_tier"] == "default" and body["truncation"] == "disabled"
    assert isinstance(body["created_at"], int) and isinstance(body["completed_at"], int)
    part = body["output"][0]["content"][0]
    assert part == {"type": "output_text", "text": "hi", "annotations": [], "logprobs": []}


def test_usage_comes_from_the_upstream(client, upstream):
    upstream.script(Reply(text="abcdefgh" * 2, chunk_size=8, prompt_tokens=42, cached_tokens=30))
    usage = client.responses.create(model="fake-model", input="x").usage
    assert usage.input_tokens == 42
    assert usage.input_tokens_details.cached_tokens == 30
    assert usage.output_tokens == 2
    assert usage.total_tokens == 44


def test_stream_event_order_for_a_text_reply(http, upstream):
    upstream.script(Reply(text="Hello world", chunk_size=6))
    events, _ = stream_events(http, model="fake-model", input="hi")
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["delta"] for e in events if e["type"].endswith(".delta")] == ["Hello ", "world"]
    assert events[2]["item"]["status"] == "in_progress" and events[2]["item"]["content"] == []
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Hello world"


def test_streamed_snapshot_equals_the_stored_response(http, upstream):
    upstream.script(Reply(text="stored the same"))
    events, _ = stream_events(http, model="fake-model", input="hi", metadata={"k": "v"})
    final = check_response(events[-1]["response"])
    stored = http.get(f"/responses/{final['id']}").json()
    assert stored == final
    assert events[0]["response"]["id"] == final["id"]


def _chunk(delta: dict, finish: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [choice]})


def _arguments(index: int, text: str, name: str | None = None) -> dict:
    call: dict = {"index": index, "function": {"arguments": text}}
    if name:
        call.update(id=f"call_{index}", type="function", function={"name": name, "arguments": ""})
    return {"tool_calls": [call]}


_PIECES = Reply(
    text="An answer that arrives in many small pieces.",
    reasoning="Some thinking, also in pieces.",
    tool_calls=[Call("lookup", '{"q": "first call"}'), Call("fetch", '{"url": "x"}')],
    chunk_size=3,
)
# Two calls whose argument fragments interleave, as an upstream may stream parallel calls.
_INTERLEAVED = Reply(
    raw_lines=[
        _chunk({"role": "assistant", "content": "Calling both."}),
        _chunk(_arguments(0, "", "lookup")),
        _chunk(_arguments(1, "", "fetch")),
        _chunk(_arguments(0, '{"q": ')),
        _chunk(_arguments(1, '{"url": ')),
        _chunk(_arguments(0, '"a"}')),
        _chunk(_arguments(1, '"b"}')),
        _chunk({}, "tool_calls"),
        "[DONE]",
    ]
)


@pytest.mark.parametrize("reply", [_PIECES, _INTERLEAVED], ids=["pieces", "interleaved"])
def test_a_non_streaming_response_is_what_the_same_answer_streamed_ends_with(http, upstream, reply):
    """Without a stream, a turn's deltas are joined before they become output (one event per
    run of text, not per token): the output must come out the same, field for field."""
    tools = [
        {"type": "function", "name": name, "parameters": {"type": "object"}, "strict": False}
        for name in ("lookup", "fetch")
    ]
    upstream.script(reply, reply)
    body = {"model": "fake-model", "input": "hi", "tools": tools}
    events, _ = stream_events(http, **body)
    streamed = events[-1]["response"]
    whole = check_response(http.post("/responses", json=body).json())

    def shape(response: dict) -> list[dict]:
        return [{k: v for k, v in item.items() if k != "id"} for item in response["output"]]

    assert shape(whole) == shape(streamed)
    assert whole["usage"] == streamed["usage"]
    calls = [item for item in whole["output"] if item["type"] == "function_call"]
    if reply is _INTERLEAVED:
        assert [c["arguments"] for c in calls] == ['{"q": "a"}', '{"url": "b"}']
    else:
        assert sum(e["type"] == "response.output_text.delta" for e in events) == 15
        assert [c["arguments"] for c in calls] == ['{"q": "first call"}', '{"url": "x"}']
        assert whole["output"][0]["type"] == "reasoning"


def test_sse_frames_are_lf_only_compact_json(http, upstream):
    upstream.script(Reply(text="x"))
    _, raw = stream_events(http, model="fake-model", input="hi")
    assert b"\r" not in raw
    for frame in raw.split(b"\n\n")[:-2]:
        assert len(frame.split(b"\n")) == 2  # one event line, one single-line data line


def test_sdk_stream_helper_returns_the_final_response(client, upstream):
    upstream.script(Reply(text="streamed via helper"))
    with client.responses.stream(model="fake-model", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "streamed via helper"
    assert final.output_text == "streamed via helper"
    assert client.responses.retrieve(final.id).output_text == "streamed via helper"


def test_sdk_create_with_stream_true(client, upstream):
    upstream.script(Reply(text="abc"))
    events = list(client.responses.create(model="fake-model", input="hi", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "abc"


async def test_async_client_create_and_stream(aclient, upstream):
    upstream.script(Reply(text="async one"), Reply(text="async two"))
    first = await aclient.responses.create(model="fake-model", input="hi")
    assert first.output_text == "async one"
    async with aclient.responses.stream(model="fake-model", input="hi") as stream:
        final = await stream.get_final_response()
    assert final.output_text == "async two"


def test_instructions_become_the_system_message(client, upstream):
    upstream.script(Reply(text="ok"))
    response = client.responses.create(model="fake-model", instructions="Be terse.", input="hi")
    assert response.instructions == "Be terse."
    assert upstream.requests[0]["messages"][0] == {"role": "system", "content": "Be terse."}


def test_store_false_is_not_retrievable_nor_continuable(client, upstream):
    upstream.script(Reply(text="ephemeral"))
    response = client.responses.create(model="fake-model", input="hi", store=False)
    assert response.output_text == "ephemeral" and response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input="more", previous_response_id=response.id)
    assert info.value.code == "previous_response_not_found"


def test_retrieve_and_delete(client, upstream):
    upstream.script(Reply(text="to delete"))
    response = client.responses.create(model="fake-model", input="hi")
    assert client.responses.retrieve(response.id).output_text == "to delete"
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.retrieve(response.id)
    assert f"Response with id '{response.id}' not found." in str(info.value)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(response.id)


def test_delete_answers_the_deleted_object(http, upstream):
    upstream.script(Reply(text="x"))
    response_id = http.post("/responses", json={"model": "fake-model", "input": "hi"}).json()["id"]
    reply = http.delete(f"/responses/{response_id}")
    assert reply.json() == {"id": response_id, "object": "response", "deleted": True}


def test_cancel_of_a_foreground_response_is_a_400(client, upstream):
    upstream.script(Reply(text="x"))
    response = client.responses.create(model="fake-model", input="hi")
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.cancel(response.id)
    assert "background" in str(info.value)
