"""The `tool_search` tool: deferred tools (`defer_loading`) wait until the model loads them,
by a search this server runs or one the client runs."""

import pytest

from bench.fake_upstream import Call, Reply
from tests.wire import check_response, stream_events

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "defer_loading": True,
}
CRM = {
    "type": "namespace",
    "name": "crm",
    "description": "Customer records.",
    "tools": [
        {
            "type": "function",
            "name": "find_customer",
            "description": "Find a customer by email.",
            "parameters": {"type": "object", "properties": {"email": {"type": "string"}}},
            "defer_loading": True,
        },
        {
            "type": "function",
            "name": "list_orders",
            "description": "A customer's orders.",
            "parameters": {"type": "object", "properties": {"customer": {"type": "string"}}},
            "defer_loading": True,
        },
    ],
}
ECHO = {"type": "function", "name": "echo", "parameters": {"type": "object", "properties": {}}}
TOOLS = [{"type": "tool_search"}, ECHO, WEATHER, CRM]


def _functions(request: dict) -> list[str]:
    return [tool["function"]["name"] for tool in request.get("tools", [])]


def test_deferred_tools_wait_for_a_search_the_server_runs(http, upstream):
    upstream.script(
        Reply(tool_calls=[Call("tool_search", '{"query": "weather in a city"}')]),
        Reply(tool_calls=[Call("get_weather", '{"city": "Oslo"}', id="call_w")]),
    )
    reply = http.post("/responses", json={"model": "fake-model", "input": "x", "tools": TOOLS})
    assert reply.status_code == 200, reply.text
    body = check_response(reply.json())
    first, second = upstream.requests
    # Before the search: the search and the tools that are not deferred, nothing else.
    assert _functions(first) == ["echo", "tool_search"]
    search = next(t for t in first["tools"] if t["function"]["name"] == "tool_search")
    listing = search["function"]["description"]
    assert "get_weather: Current weather for a city." in listing
    assert "crm: Customer records. (2 tools)" in listing and "find_customer" not in listing
    # After it: what it found, callable.
    assert _functions(second) == ["echo", "tool_search", "get_weather"]
    call, output, weather = body["output"]
    assert call["type"] == "tool_search_call" and call["execution"] == "server"
    assert call["arguments"] == {"query": "weather in a city"} and call["status"] == "completed"
    assert call["id"].startswith("tsc_")
    assert output["type"] == "tool_search_output" and output["call_id"] == call["call_id"]
    assert [tool["name"] for tool in output["tools"]] == ["get_weather"]
    assert output["tools"][0]["parameters"] == WEATHER["parameters"]
    assert (weather["type"], weather["name"], weather["call_id"]) == (
        "function_call",
        "get_weather",
        "call_w",
    )
    # The model saw its search and what it loaded, as a call and its result.
    assistant, result = second["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == "tool_search"
    assert result["role"] == "tool" and "get_weather" in result["content"]


def test_paths_load_a_namespace_and_loaded_tools_stay_for_later_turns(client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("tool_search", '{"paths": ["crm"]}')]),
        Reply(text="Loaded."),
        Reply(text="Still here."),
    )
    first = client.responses.create(model="fake-model", input="x", tools=TOOLS)
    output = first.output[1]
    assert output.type == "tool_search_output"
    [namespace] = output.tools
    assert namespace.type == "namespace" and namespace.name == "crm"
    assert [tool.name for tool in namespace.tools] == ["find_customer", "list_orders"]
    loaded = ["echo", "tool_search", "crm__find_customer", "crm__list_orders"]
    assert _functions(upstream.requests[1]) == loaded
    client.responses.create(
        model="fake-model", input="and now?", tools=TOOLS, previous_response_id=first.id
    )
    # get_weather is still not loaded
    assert sorted(_functions(upstream.requests[2])) == sorted(loaded)


def test_a_search_finds_by_description_and_parameters(client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("tool_search", '{"query": "orders of a customer"}')]),
        Reply(text="ok"),
    )
    response = client.responses.create(model="fake-model", input="x", tools=TOOLS)
    [namespace] = response.output[1].tools
    assert [tool.name for tool in namespace.tools] == ["list_orders", "find_customer"]
    upstream.script(Reply(tool_calls=[Call("tool_search", '{"query": "zebra"}')]), Reply(text="-"))
    response = client.responses.create(model="fake-model", input="x", tools=TOOLS)
    assert response.output[1].tools == []
    assert upstream.requests[-1]["messages"][-1]["content"].startswith("No tools found.")


def test_a_search_the_client_runs_ends_the_response_and_its_answer_loads(client, upstream):
    search = {
        "type": "tool_search",
        "execution": "client",
        "description": "Find tools in our registry.",
        "parameters": {"type": "object", "properties": {"goal": {"type": "string"}}},
    }
    upstream.script(Reply(tool_calls=[Call("tool_search", '{"goal": "weather"}')]))
    first = client.responses.create(model="fake-model", input="x", tools=[search, WEATHER])
    sent = upstream.requests[0]["tools"]
    assert [t["function"]["name"] for t in sent] == ["tool_search"]
    assert sent[0]["function"]["description"] == "Find tools in our registry."
    assert sent[0]["function"]["parameters"] == search["parameters"]
    [call] = first.output
    assert (call.type, call.execution, call.arguments) == (
        "tool_search_call",
        "client",
        {"goal": "weather"},
    )
    assert first.status == "completed"
    loaded = {key: value for key, value in WEATHER.items() if key != "defer_loading"}
    upstream.script(Reply(text="Loaded it."))
    client.responses.create(
        model="fake-model",
        previous_response_id=first.id,
        tools=[search, WEATHER],
        input=[
            {
                "type": "tool_search_output",
                "call_id": call.call_id,
                "execution": "client",
                "tools": [loaded],
            }
        ],
    )
    assert sorted(_functions(upstream.requests[1])) == ["get_weather", "tool_search"]
    assert "get_weather" in upstream.requests[1]["messages"][-1]["content"]


def test_the_search_streams_its_items(http, upstream):
    upstream.script(
        Reply(tool_calls=[Call("tool_search", '{"paths": ["get_weather"]}')]), Reply(text="ok")
    )
    events, _ = stream_events(http, model="fake-model", input="x", tools=TOOLS)
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [item["type"] for item in done] == ["tool_search_call", "tool_search_output", "message"]
    assert events[-1]["response"]["output"][:2] == done[:2]


def test_with_nothing_deferred_the_search_is_not_offered(client, upstream):
    upstream.script(Reply(text="ok"))
    client.responses.create(model="fake-model", input="x", tools=[{"type": "tool_search"}, ECHO])
    assert _functions(upstream.requests[0]) == ["echo"]


def test_without_a_search_deferred_tools_are_shown(client, upstream):
    upstream.script(Reply(text="ok"))
    client.responses.create(model="fake-model", input="x", tools=[ECHO, WEATHER])
    assert _functions(upstream.requests[0]) == ["echo", "get_weather"]


def test_tool_choice_can_force_the_search(client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("tool_search", '{"query": "weather"}')]), Reply(text="ok")
    )
    client.responses.create(
        model="fake-model", input="x", tools=TOOLS, tool_choice={"type": "tool_search"}
    )
    assert upstream.requests[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "tool_search"},
    }
    assert upstream.requests[1]["tool_choice"] == "auto"


@pytest.mark.parametrize(
    ("tools", "choice", "param"),
    [
        ([{"type": "tool_search", "description": "x"}, WEATHER], None, "tools[0].description"),
        ([{"type": "tool_search", "parameters": {}}, WEATHER], None, "tools[0].parameters"),
        (
            [{"type": "tool_search", "execution": "client", "parameters": {"type": "string"}}],
            None,
            "tools[0].parameters",
        ),
        ([ECHO], {"type": "tool_search"}, "tool_choice"),
        (  # a deferred tool is checked when the request arrives, not when it is loaded
            [{"type": "tool_search"}, {**WEATHER, "strict": True}],
            None,
            "tools[1].parameters",
        ),
    ],
)
def test_bad_searches_are_a_400_naming_the_field(http, upstream, tools, choice, param):
    body = {"model": "fake-model", "input": "x", "tools": tools}
    if choice is not None:
        body["tool_choice"] = choice
    reply = http.post("/responses", json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param


def test_a_search_output_must_answer_a_search_call(http, upstream):
    item = {"type": "tool_search_output", "call_id": "nope", "execution": "client", "tools": []}
    body = {"model": "fake-model", "input": [item], "tools": TOOLS}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "input[0].call_id"


def test_hosted_tools_cannot_be_loaded(client, http, upstream):
    upstream.script(Reply(tool_calls=[Call("tool_search", "{}")]))
    first = client.responses.create(
        model="fake-model", input="x", tools=[{"type": "tool_search", "execution": "client"}]
    )
    answer = {
        "type": "tool_search_output",
        "call_id": first.output[0].call_id,
        "execution": "client",
        "tools": [{"type": "web_search"}],
    }
    reply = http.post(
        "/responses",
        json={
            "model": "fake-model",
            "previous_response_id": first.id,
            "input": [answer],
            "tools": [{"type": "tool_search", "execution": "client"}],
        },
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "input[0].tools[0]"


def test_a_compacted_window_keeps_what_searches_loaded(client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("tool_search", '{"paths": ["get_weather"]}')]),
        Reply(text="Loaded."),
        Reply(text="The user wants the weather."),  # the summary
        Reply(text="ok"),
    )
    first = client.responses.create(model="fake-model", input="weather?", tools=TOOLS)
    reply = client.responses.with_raw_response.compact(
        model="fake-model", previous_response_id=first.id
    )
    window = reply.http_response.json()["output"]
    assert [item["type"] for item in window] == ["message", "additional_tools", "compaction"]
    assert [tool["name"] for tool in window[1]["tools"]] == ["get_weather"]
    client.responses.create(
        model="fake-model", input=[*window, {"role": "user", "content": "Go"}], tools=TOOLS
    )
    assert sorted(_functions(upstream.requests[-1])) == ["echo", "get_weather", "tool_search"]
