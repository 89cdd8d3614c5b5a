"""POST /v1/chat/completions on the Responses engine, and stored chat completions.

The client is the official SDK's `chat.completions` (create, stream, parse, the stored
completion endpoints); the model is the scripted upstream, so what reaches it is checked too.
"""

import json

import httpx
import openai
import pytest
from pydantic import BaseModel

from bench.fake_upstream import Call, Reply
from bench.servers import ServerThread
from responsd.app import create_app
from responsd.config import Settings

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_a_plain_completion_keeps_messages_in_order(client, upstream):
    upstream.script(Reply(text="Hello, Ada."))
    completion = client.chat.completions.create(
        model="fake-model",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi, I am Ada."},
            {"role": "assistant", "content": "Hello!"},
            {"role": "developer", "content": [{"type": "text", "text": "Use her name."}]},
            {"role": "user", "content": "Greet me again."},
        ],
    )
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello, Ada."
    assert choice.message.tool_calls is None and choice.message.refusal is None
    sent = upstream.requests[0]["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "Be brief."),
        ("user", "Hi, I am Ada."),
        ("assistant", "Hello!"),
        ("system", "Use her name."),  # open servers know no developer role
        ("user", "Greet me again."),
    ]
    usage = completion.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_limits_stop_seed_and_sampling_reach_the_model(client, upstream):
    upstream.script(Reply(text="one two", finish_reason="length"), Reply(text="ok"))
    completion = client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "count"}],
        max_tokens=2,
        stop="three",
        seed=42,
        temperature=0.3,
        top_p=0.9,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        user="u-1",
        reasoning_effort="low",
        verbosity="high",
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "one two"
    sent = upstream.requests[0]
    assert sent["max_tokens"] == 2 and sent["stop"] == ["three"] and sent["seed"] == 42
    assert (sent["temperature"], sent["top_p"]) == (0.3, 0.9)
    assert (sent["presence_penalty"], sent["frequency_penalty"]) == (0.5, -0.5)
    assert (sent["user"], sent["reasoning_effort"], sent["verbosity"]) == ("u-1", "low", "high")
    client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "x"}],
        max_completion_tokens=7,
        max_tokens=99,
        stop=["a", "b"],
    )
    sent = upstream.requests[1]
    assert sent["max_tokens"] == 7 and sent["stop"] == ["a", "b"] and "seed" not in sent


def test_a_tool_loop_round_trips_calls_and_results(client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("get_weather", '{"city": "Paris"}', id="call_1")]),
        Reply(text="It is sunny in Paris."),
    )
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="fake-model", messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert (call.id, call.type, call.function.name) == ("call_1", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    tools_sent = upstream.requests[0]["tools"]
    assert tools_sent[0]["function"]["name"] == "get_weather"
    # Chat Completions functions are not strict unless asked, and keep their schema as given.
    assert tools_sent[0]["function"].get("strict") in (None, False)
    assert tools_sent[0]["function"]["parameters"] == WEATHER["function"]["parameters"]

    messages.append(choice.message)  # the SDK object itself, as most programs send it back
    messages.append({"role": "tool", "tool_call_id": "call_1", "content": "sunny, 24 C"})
    second = client.chat.completions.create(
        model="fake-model", messages=messages, tools=[WEATHER], tool_choice="auto"
    )
    assert second.choices[0].message.content == "It is sunny in Paris."
    sent = upstream.requests[1]["messages"]
    assert sent[1]["role"] == "assistant"
    assert sent[1]["tool_calls"][0]["id"] == "call_1"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 24 C"}


def test_tool_choice_forms_map_to_the_model(client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("get_weather", '{"city": "Oslo"}')]),
        Reply(text="none"),
        Reply(tool_calls=[Call("get_weather", '{"city": "Rome"}')]),
    )
    user = [{"role": "user", "content": "x"}]
    named = {"type": "function", "function": {"name": "get_weather"}}
    client.chat.completions.create(
        model="fake-model", messages=user, tools=[WEATHER], tool_choice=named
    )
    client.chat.completions.create(
        model="fake-model", messages=user, tools=[WEATHER], tool_choice="none"
    )
    allowed = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [named]},
    }
    client.chat.completions.create(
        model="fake-model",
        messages=user,
        tools=[WEATHER],
        tool_choice=allowed,
        parallel_tool_calls=False,
    )
    first, second, third = upstream.requests
    assert first["tool_choice"] == named
    assert second["tool_choice"] == "none"
    assert third["tool_choice"] == "required" and third["parallel_tool_calls"] is False
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="fake-model",
            messages=user,
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert info.value.body["param"] == "tool_choice"


def test_streamed_chunks_add_up_to_the_answer_and_end_with_usage(client, upstream):
    upstream.script(Reply(text="A fairly long streamed answer.", chunk_size=4))
    stream = client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    ids = {chunk.id for chunk in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "A fairly long streamed answer."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens > 0
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_a_stream_without_usage_has_no_usage_chunk(http, upstream):
    upstream.script(Reply(text="hi"))
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with http.stream("POST", "/chat/completions", json=body) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in reply.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_the_sdk_stream_helper_assembles_tool_calls(client, upstream):
    arguments = '{"city": "Lisbon"}'
    upstream.script(Reply(tool_calls=[Call("get_weather", arguments, id="call_9")], chunk_size=3))
    with client.chat.completions.stream(
        model="fake-model", messages=[{"role": "user", "content": "x"}], tools=[WEATHER]
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "tool_calls.function.arguments.done" in events
    call = final.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_9",
        "get_weather",
        arguments,
    )
    assert final.choices[0].finish_reason == "tool_calls"


class Person(BaseModel):
    name: str
    age: int


def test_parse_sends_a_strict_schema_and_returns_the_object(client, upstream):
    upstream.script(Reply(text='{"name": "Ada", "age": 36}'))
    completion = client.chat.completions.parse(
        model="fake-model",
        messages=[{"role": "user", "content": "Who?"}],
        response_format=Person,
    )
    assert completion.choices[0].message.parsed == Person(name="Ada", age=36)
    sent = upstream.requests[0]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Person" and sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"]["required"] == ["name", "age"]


def test_a_strict_schema_the_model_breaks_is_an_error(client, upstream):
    upstream.script(Reply(text='{"name": "Ada"}'))
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.parse(
            model="fake-model",
            messages=[{"role": "user", "content": "Who?"}],
            response_format=Person,
        )


def test_the_stream_helper_parses_structured_output(client, upstream):
    upstream.script(Reply(text='{"name": "Bo", "age": 7}', chunk_size=5))
    with client.chat.completions.stream(
        model="fake-model", messages=[{"role": "user", "content": "x"}], response_format=Person
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == Person(name="Bo", age=7)


def test_json_object_mode_is_sent_upstream(client, upstream):
    upstream.script(Reply(text='{"ok": true}'))
    completion = client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "JSON please"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(completion.choices[0].message.content) == {"ok": True}
    assert upstream.requests[0]["response_format"] == {"type": "json_object"}


def test_reasoning_shows_as_reasoning_content(client, upstream):
    upstream.script(Reply(reasoning="Think first.", text="Done."))
    completion = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "x"}]
    )
    message = completion.choices[0].message
    assert message.content == "Done."
    assert message.model_extra["reasoning_content"] == "Think first."
    upstream.script(Reply(reasoning="Hmm.", text="Yes."))
    chunks = list(
        client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join((d.model_extra or {}).get("reasoning_content", "") for d in deltas) == "Hmm."
    assert "".join(d.content or "" for d in deltas) == "Yes."


def test_images_and_refusals_in_messages_reach_the_model(client, upstream):
    upstream.script(Reply(text="A red square."))
    image = "data:image/png;base64,iVBORw0KGgo="
    client.chat.completions.create(
        model="fake-model",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
                ],
            },
            {"role": "assistant", "content": None, "refusal": "I cannot say."},
            {"role": "user", "content": "Try again."},
        ],
    )
    sent = upstream.requests[0]["messages"]
    parts = sent[0]["content"]
    assert parts[0] == {"type": "text", "text": "What is this?"}
    assert parts[1]["image_url"]["url"] == image and parts[1]["image_url"]["detail"] == "low"
    assert sent[1]["role"] == "assistant"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"frobnicate": 1}, "frobnicate"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "x", "name": "ada"}]}, "messages[0].name"),
        ({"messages": [{"role": "function", "name": "f", "content": "1"}]}, "messages[0].role"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 3}, "temperature"),
    ],
)
def test_what_cannot_be_honoured_is_a_400_naming_it(http, extra, param):
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "x"}], **extra}
    reply = http.post("/chat/completions", json=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    assert error["message"]


def test_a_tool_result_without_its_call_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="fake-model",
            messages=[
                {"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "call_missing", "content": "1"},
            ],
        )
    assert "call_missing" in info.value.message


def test_upstream_errors_keep_their_status(client, upstream):
    upstream.script(Reply(status=429, error="slow down", headers={"Retry-After": "3"}))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "x"}]
        )


def test_a_failure_mid_stream_reaches_the_sdk_as_an_error(client, upstream):
    upstream.script(Reply(raw_lines=['{"choices": [{"delta": {"content": "par"}}]}', "garbage"]))
    stream = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError) as info:
        list(stream)
    assert "not JSON" in str(info.value)


def test_stored_completions_can_be_read_listed_updated_and_deleted(client, upstream):
    upstream.script(Reply(text="first"), Reply(text="second"), Reply(text="not kept"))
    user = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "part one"}]},
    ]
    a = client.chat.completions.create(
        model="fake-model", messages=user, store=True, metadata={"team": "a"}, seed=5
    )
    b = client.chat.completions.create(
        model="other-model",
        messages=[{"role": "user", "content": "q"}],
        store=True,
        metadata={"team": "b"},
    )
    unkept = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "q"}]
    )

    got = client.chat.completions.retrieve(a.id)
    assert got.choices[0].message.content == "first"
    assert got.metadata == {"team": "a"} and got.model_extra["seed"] == 5
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.retrieve(unkept.id)

    listed = [c.id for c in client.chat.completions.list(limit=100)]
    assert listed.index(a.id) < listed.index(b.id) and unkept.id not in listed
    assert [c.id for c in client.chat.completions.list(model="other-model", limit=100)] == [b.id]
    assert [c.id for c in client.chat.completions.list(metadata={"team": "a"})] == [a.id]
    newest_first = client.chat.completions.list(order="desc", limit=1)
    assert newest_first.data[0].id == b.id and newest_first.has_more
    after = client.chat.completions.list(order="desc", limit=1, after=b.id)
    assert after.data[0].id == a.id

    messages = client.chat.completions.messages.list(a.id)
    assert [m.id for m in messages.data] == [f"{a.id}-0", f"{a.id}-1"]
    assert messages.data[0].content == "sys" and messages.data[0].content_parts is None
    assert messages.data[1].content == "part one"
    assert messages.data[1].content_parts[0].text == "part one"
    page = client.chat.completions.messages.list(a.id, limit=1, order="desc")
    assert [m.id for m in page.data] == [f"{a.id}-1"] and page.has_more

    updated = client.chat.completions.update(a.id, metadata={"team": "c"})
    assert updated.metadata == {"team": "c"}
    assert [c.id for c in client.chat.completions.list(metadata={"team": "c"})] == [a.id]
    assert client.chat.completions.list(metadata={"team": "a"}).data == []

    deleted = client.chat.completions.delete(a.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (a.id, True, "chat.completion.deleted")
    for call in (
        lambda: client.chat.completions.retrieve(a.id),
        lambda: client.chat.completions.delete(a.id),
        lambda: client.chat.completions.update(a.id, metadata={}),
        lambda: client.chat.completions.messages.list(a.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()


def test_a_streamed_stored_completion_is_kept_whole(client, upstream):
    upstream.script(Reply(text="streamed and kept", chunk_size=3))
    chunks = list(
        client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "x"}], stream=True, store=True
        )
    )
    got = client.chat.completions.retrieve(chunks[0].id)
    assert got.choices[0].message.content == "streamed and kept"
    assert got.choices[0].finish_reason == "stop"


def test_the_responses_side_is_untouched(client, upstream):
    upstream.script(Reply(text="chat"), Reply(text="responses"))
    client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "x"}], store=True
    )
    response = client.responses.create(model="fake-model", input="y")
    assert response.output_text == "responses"
    assert client.responses.retrieve(response.id).output_text == "responses"


def test_responsd_serves_another_responsd_as_its_upstream(server, upstream, tmp_path):
    """responsd B's provider is responsd A's /v1/chat/completions (A's model is the fake)."""
    upstream.script(Reply(text="through two servers"), Reply(text="and streamed", chunk_size=2))
    settings = Settings(_env_file=None, upstream_url=f"{server.url}/v1", data_dir=tmp_path)
    outer = ServerThread(create_app(settings)).start()
    try:
        with openai.OpenAI(base_url=f"{outer.url}/v1", api_key="x", max_retries=0) as c:
            response = c.responses.create(model="fake-model", input="hello")
            assert response.output_text == "through two servers"
            chunks = c.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": "x"}], stream=True
            )
            text = "".join(
                chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices
            )
            assert text == "and streamed"
        assert httpx.get(f"{outer.url}/healthz").status_code == 200
    finally:
        outer.stop()


def test_zero_data_retention_keeps_no_completion(make_client, upstream):
    client = make_client(zero_data_retention=True)
    upstream.script(Reply(text="kept nowhere"))
    completion = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "x"}], store=True
    )
    assert completion.choices[0].message.content == "kept nowhere"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.retrieve(completion.id)
    assert client.chat.completions.list().data == []


def test_errors_name_the_chat_parameter(client):
    bad_schema = {"type": "object", "properties": {"a": {"type": "string"}}}  # not strict-ready
    tool = {"type": "function", "function": {"name": "f", "parameters": bad_schema, "strict": True}}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "x"}], tools=[tool]
        )
    assert info.value.body["param"] == "tools[0].function.parameters"
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "thinking", "reasoning_content": "r"},
        {"role": "tool", "tool_call_id": "call_nowhere", "content": "1"},
    ]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="fake-model", messages=messages)
    # The assistant message became two items (reasoning, message): the tool one is still 2.
    assert info.value.body["param"] == "messages[2].tool_call_id"
