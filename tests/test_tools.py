"""Function, custom and namespace tools; tool_choice; parallel and max tool calls; hosted tools."""

import json

import openai
import pytest

from bench.fake_upstream import Call, Reply
from tests.wire import check_response, stream_events

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}}


def test_function_call_item_and_output_round_trip(client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("get_weather", '{"city": "Paris"}', id="call_1")]),
        Reply(text="It is sunny in Paris."),
    )
    first = client.responses.create(model="fake-model", input="Weather?", tools=[WEATHER])
    call = first.output[0]
    assert (call.type, call.name, call.call_id, call.status) == (
        "function_call",
        "get_weather",
        "call_1",
        "completed",
    )
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.id.startswith("fc_")
    second = client.responses.create(
        model="fake-model",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
        tools=[WEATHER],
    )
    assert second.output_text == "It is sunny in Paris."
    assert upstream.requests[-1]["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]


CALL = {"type": "function_call", "call_id": "call_in", "name": "get_time", "arguments": "{}"}


def _output(call_id: str) -> dict:
    return {"type": "function_call_output", "call_id": call_id, "output": "x"}


@pytest.mark.parametrize(
    ("input_items", "param", "message"),
    [
        (
            [_output("call_nope")],
            "input[0].call_id",
            "No tool call found for function call output with call_id call_nope",
        ),
        # A call made later in the input answers nothing before it.
        ([_output("call_in"), CALL], "input[0].call_id", "call_id call_in"),
        ([_output("call_old"), _output("call_nope")], "input[1].call_id", "call_id call_nope"),
        (
            [{"type": "mcp_approval_response", "approval_request_id": "mcpr_x", "approve": True}],
            "input[0].approval_request_id",
            "No MCP approval request found with id 'mcpr_x'",
        ),
    ],
)
def test_tool_outputs_must_answer_calls_made_before_them(
    client, upstream, input_items, param, message
):
    """In the history (here three turns back), or earlier in the same input."""
    upstream.script(Reply(tool_calls=[Call("get_time", id="call_old")]))
    head = client.responses.create(model="fake-model", input="x", tools=[TIME]).id
    for _ in range(2):
        head = client.responses.create(model="fake-model", previous_response_id=head, input="y").id
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(model="fake-model", previous_response_id=head, input=input_items)
    assert error.value.body["param"] == param
    assert message in error.value.body["message"]
    answered = client.responses.create(
        model="fake-model",
        previous_response_id=head,
        input=[_output("call_old"), CALL, _output("call_in")],
    )
    assert answered.status == "completed"
    messages = upstream.requests[-1]["messages"]
    assert [m["tool_call_id"] for m in messages if m["role"] == "tool"] == ["call_old", "call_in"]


def test_stateless_history_with_calls_and_outputs(client, upstream):
    upstream.script(Reply(text="done"))
    client.responses.create(
        model="fake-model",
        store=False,
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Weather?"},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "rain"},
        ],
    )
    messages = upstream.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["id"] == "c1"


def test_function_tools_reach_the_upstream_nested_and_are_echoed_flat(http, upstream):
    upstream.script(Reply(text="ok"))
    body = http.post(
        "/responses", json={"model": "fake-model", "input": "x", "tools": [WEATHER]}
    ).json()
    check_response(body)
    # Functions are strict by default in the Responses API: the schema is made strict.
    assert body["tools"] == [{**WEATHER, "strict": True}]
    strict_parameters = {
        **WEATHER["parameters"],
        "additionalProperties": False,
        "required": ["city"],
    }
    assert upstream.requests[0]["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city.",
                "parameters": strict_parameters,
                "strict": True,
            },
        }
    ]
    assert upstream.requests[0]["tool_choice"] == "auto"


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("none", "none"),
        ("required", "required"),
        (
            {"type": "function", "name": "get_time"},
            {"type": "function", "function": {"name": "get_time"}},
        ),
    ],
)
def test_tool_choice_reaches_the_upstream(client, upstream, choice, sent):
    upstream.script(Reply(text="ok"))
    response = client.responses.create(
        model="fake-model", input="x", tools=[WEATHER, TIME], tool_choice=choice
    )
    assert upstream.requests[0]["tool_choice"] == sent
    assert response.tool_choice == choice or response.tool_choice.name == "get_time"


def test_allowed_tools_restricts_what_the_model_sees(client, upstream):
    upstream.script(Reply(text="ok"))
    client.responses.create(
        model="fake-model",
        input="x",
        tools=[WEATHER, TIME],
        tool_choice={
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "get_time"}],
        },
    )
    sent = upstream.requests[0]
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_time"]
    assert sent["tool_choice"] == "required"


@pytest.mark.parametrize(
    ("tools", "choice"),
    [
        ([WEATHER], {"type": "function", "name": "missing"}),
        ([], "required"),
        ([WEATHER], {"type": "web_search_preview"}),
    ],
)
def test_impossible_tool_choice_is_a_400(client, upstream, tools, choice):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input="x", tools=tools, tool_choice=choice)
    assert info.value.param == "tool_choice"


def test_parallel_tool_calls_false_keeps_one_call(client, upstream):
    upstream.script(Reply(tool_calls=[Call("get_time"), Call("get_weather", '{"city":"Oslo"}')]))
    response = client.responses.create(
        model="fake-model", input="x", tools=[WEATHER, TIME], parallel_tool_calls=False
    )
    assert upstream.requests[0]["parallel_tool_calls"] is False
    assert [item.name for item in response.output] == ["get_time"]


def test_parallel_calls_are_all_returned_by_default(client, upstream):
    upstream.script(Reply(tool_calls=[Call("get_time"), Call("get_weather", '{"city":"Oslo"}')]))
    response = client.responses.create(model="fake-model", input="x", tools=[WEATHER, TIME])
    assert [item.name for item in response.output] == ["get_time", "get_weather"]
    assert len({item.call_id for item in response.output}) == 2


def test_max_tool_calls_caps_the_calls_returned(client, upstream):
    calls = [Call("get_time", id=f"c{i}") for i in range(3)]
    upstream.script(Reply(tool_calls=calls))
    response = client.responses.create(
        model="fake-model", input="x", tools=[TIME], max_tool_calls=2
    )
    assert [item.call_id for item in response.output] == ["c0", "c1"]
    assert response.max_tool_calls == 2


def test_streamed_function_call_events(http, upstream):
    upstream.script(
        Reply(
            text="Let me check.", tool_calls=[Call("get_weather", '{"city":"Rome"}')], chunk_size=5
        )
    )
    events, _ = stream_events(http, model="fake-model", input="x", tools=[WEATHER])
    types = [e["type"] for e in events]
    call_added = types.index("response.output_item.added", types.index("response.output_item.done"))
    assert events[call_added]["item"]["type"] == "function_call"
    assert events[call_added]["item"]["arguments"] == ""
    assert events[call_added]["output_index"] == 1
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert "".join(deltas) == '{"city":"Rome"}'
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert done["arguments"] == '{"city":"Rome"}' and done["name"] == "get_weather"
    assert types[-2:] == ["response.output_item.done", "response.completed"]
    assert "output_text.delta" not in "".join(types[call_added:])


CUSTOM = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Apply a patch.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch"'},
}


def test_custom_tool_call_returns_free_form_input(client, upstream):
    patch = "*** Begin Patch\n*** End Patch"
    upstream.script(Reply(tool_calls=[Call("apply_patch", json.dumps({"input": patch}), id="cp")]))
    response = client.responses.create(model="fake-model", input="patch it", tools=[CUSTOM])
    item = response.output[0]
    assert (item.type, item.name, item.input, item.call_id) == (
        "custom_tool_call",
        "apply_patch",
        patch,
        "cp",
    )
    shown = upstream.requests[0]["tools"][0]["function"]
    assert shown["parameters"]["required"] == ["input"]
    assert 'start: "*** Begin Patch"' in shown["description"]


def test_custom_tool_call_streams_input_events_and_output_goes_back(http, client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("apply_patch", '{"input": "P"}', id="cp")]), Reply(text="ok")
    )
    events, _ = stream_events(http, model="fake-model", input="x", tools=[CUSTOM])
    done = next(e for e in events if e["type"] == "response.custom_tool_call_input.done")
    assert done["input"] == "P"
    client.responses.create(
        model="fake-model",
        previous_response_id=events[-1]["response"]["id"],
        input=[{"type": "custom_tool_call_output", "call_id": "cp", "output": "applied"}],
        tools=[CUSTOM],
    )
    history = upstream.requests[-1]["messages"]
    assert history[-2]["tool_calls"][0]["function"] == {
        "name": "apply_patch",
        "arguments": '{"input":"P"}',
    }
    assert history[-1] == {"role": "tool", "tool_call_id": "cp", "content": "applied"}


NAMESPACE = {
    "type": "namespace",
    "name": "github",
    "description": "GitHub tools",
    "tools": [
        {"type": "function", "name": "search", "parameters": {"type": "object", "properties": {}}}
    ],
}


def test_namespace_calls_keep_namespace_and_name_apart(client, upstream):
    upstream.script(Reply(tool_calls=[Call("github__search", "{}")]), Reply(text="ok"))
    response = client.responses.create(model="fake-model", input="x", tools=[NAMESPACE])
    assert upstream.requests[0]["tools"][0]["function"]["name"] == "github__search"
    call = response.output[0]
    assert (call.namespace, call.name) == ("github", "search")
    client.responses.create(
        model="fake-model",
        previous_response_id=response.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "[]"}],
        tools=[NAMESPACE],
    )
    assert (
        upstream.requests[-1]["messages"][-2]["tool_calls"][0]["function"]["name"]
        == "github__search"
    )


def test_hosted_tools_are_withheld_and_named_in_a_header(http, upstream):
    upstream.script(Reply(text="ok"))
    tools = [WEATHER, {"type": "web_search"}, {"type": "code_interpreter", "container": "c"}]
    reply = http.post("/responses", json={"model": "fake-model", "input": "x", "tools": tools})
    assert reply.status_code == 200
    assert reply.headers["responsd-skipped-tools"] == "web_search, code_interpreter"
    assert [t["function"]["name"] for t in upstream.requests[0]["tools"]] == ["get_weather"]
    assert reply.json()["tools"][1:] == tools[1:]


def test_only_hosted_tools_means_no_tools_reach_the_upstream(http, upstream):
    upstream.script(Reply(text="ok"))
    reply = http.post(
        "/responses", json={"model": "fake-model", "input": "x", "tools": [{"type": "web_search"}]}
    )
    assert reply.headers["responsd-skipped-tools"] == "web_search"
    assert "tools" not in upstream.requests[0] and "tool_choice" not in upstream.requests[0]


def test_strict_true_needs_a_strict_schema(http, upstream):
    body = {"model": "fake-model", "input": "x", "tools": [{**WEATHER, "strict": True}]}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == "tools[0].parameters" and "additionalProperties" in error["message"]


def test_strict_false_keeps_the_schema_as_sent(http, upstream):
    upstream.script(Reply(tool_calls=[Call("get_weather", '{"town": 1}')]))
    body = {"model": "fake-model", "input": "x", "tools": [{**WEATHER, "strict": False}]}
    reply = http.post("/responses", json=body).json()
    assert reply["status"] == "completed" and reply["tools"][0]["strict"] is False
    sent = upstream.requests[0]["tools"][0]["function"]
    assert sent["parameters"] == WEATHER["parameters"] and sent["strict"] is False


def test_arguments_that_break_a_strict_schema_fail_the_response(client, upstream):
    upstream.script(Reply(tool_calls=[Call("get_weather", '{"city": 5}')]))
    with pytest.raises(openai.InternalServerError) as error:
        client.responses.create(model="fake-model", input="x", tools=[WEATHER])
    assert "break its strict schema at city" in error.value.message
    assert error.value.body["code"] == "invalid_model_output"


def _added(*tools: dict) -> dict:
    return {"type": "additional_tools", "role": "developer", "tools": list(tools)}


def _sent_tools(body: dict) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools") or []]


def test_tools_added_in_the_input_reach_the_model_and_stay_for_later_turns(client, upstream):
    # As a client that sends its tools as an input item, not in `tools` (Codex's lite mode).
    upstream.script(
        Reply(tool_calls=[Call("github__search", "{}", id="call_9")]),
        Reply(text="found it"),
        Reply(text="again"),
    )
    first = client.responses.create(
        model="fake-model",
        input=[_added(NAMESPACE, WEATHER), {"role": "user", "content": "Search."}],
        tool_choice={"type": "function", "name": "search", "namespace": "github"},
    )
    assert _sent_tools(upstream.requests[-1]) == ["github__search", "get_weather"]
    assert upstream.requests[-1]["tool_choice"]["function"]["name"] == "github__search"
    assert first.tools == []  # `tools` echoes the request's own list
    call = first.output[0]
    assert (call.type, call.namespace, call.name) == ("function_call", "github", "search")
    # The next turns add nothing: the history's additional_tools item still holds them.
    second = client.responses.create(
        model="fake-model",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": "call_9", "output": "[]"}],
    )
    assert second.output_text == "found it"
    assert _sent_tools(upstream.requests[-1]) == ["github__search", "get_weather"]
    items = client.responses.input_items.list(first.id).data
    assert [item.type for item in reversed(items)] == ["additional_tools", "message"]
    client.responses.create(model="fake-model", previous_response_id=second.id, input="More?")
    assert _sent_tools(upstream.requests[-1]) == ["github__search", "get_weather"]
    # Its messages never show the item itself.
    assert all(
        m["role"] in ("user", "assistant", "tool") for m in upstream.requests[-1]["messages"]
    )


def test_a_tool_added_again_replaces_the_one_of_its_name(client, upstream):
    upstream.script(Reply(text="ok"))
    newer = {**WEATHER, "description": "Weather, in Celsius."}
    client.responses.create(
        model="fake-model",
        tools=[WEATHER, TIME],
        input=[{"role": "user", "content": "Hot?"}, _added(newer)],
    )
    sent = upstream.requests[-1]["tools"]
    assert [tool["function"]["name"] for tool in sent] == ["get_time", "get_weather"]
    assert sent[1]["function"]["description"] == "Weather, in Celsius."


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"type": "web_search"}, "input[0].tools[0]"),
        (
            {
                **WEATHER,
                "strict": True,
                "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
            },
            None,
        ),
        (
            {
                **WEATHER,
                "strict": True,
                "parameters": {"type": "object", "properties": {"a": {"type": "string"}}},
            },
            "input[0].tools[0].parameters",
        ),
    ],
)
def test_added_tools_are_checked_like_tools(client, upstream, tool, param):
    body = {"model": "fake-model", "input": [_added(tool), {"role": "user", "content": "x"}]}
    if param is None:  # a valid strict schema: accepted
        upstream.script(Reply(text="ok"))
        client.responses.create(**body)
        return
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(**body)
    assert info.value.param == param
