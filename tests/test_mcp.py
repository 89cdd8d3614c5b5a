"""Remote MCP servers as built-in tools: the agentic loop inside one response.

A real MCP server (the `mcp` SDK's MCPServer, streamable HTTP and SSE) runs on loopback;
the scripted upstream decides which tools the model calls.
"""

import json
import time

import httpx
import openai
import orjson
import pytest

from bench.fake_upstream import Call, Reply
from tests.conftest import MCP_TIMEOUT
from tests.openapi_spec import check_spec
from tests.wire import check_response, stream_events


def calc(url: str, **extra) -> dict:
    return {"type": "mcp", "server_label": "calc", "server_url": url, **extra}


def never(url: str, **extra) -> dict:
    return calc(url, require_approval="never", **extra)


ADD = Call("calc__add", '{"a": 2, "b": 3}')


def _types(response) -> list[str]:
    return [item.type for item in response.output]


def _tool_messages(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


def test_list_call_and_answer_in_one_response(tclient, upstream, mcp, mcp_servers):
    upstream.script(Reply(tool_calls=[ADD]), Reply(text="2 + 3 = 5"))
    response = tclient.responses.create(
        model="fake-model", tools=[never(mcp_servers[1])], input="What is 2 + 3?"
    )
    assert response.status == "completed"
    assert _types(response) == ["mcp_list_tools", "mcp_call", "message"]
    listing, call, _ = response.output
    assert listing.id.startswith("mcpl_") and listing.server_label == "calc"
    assert {t.name for t in listing.tools} == {"add", "echo", "fail", "slow"}
    assert call.id.startswith("mcp_") and (call.name, call.server_label) == ("add", "calc")
    assert (json.loads(call.arguments), call.output, call.error) == ({"a": 2, "b": 3}, "5", None)
    assert response.output_text == "2 + 3 = 5"
    first, second = upstream.requests
    assert "calc__add" in {t["function"]["name"] for t in first["tools"]}
    assert _tool_messages(second) == ["5"]
    # Usage sums both model turns (the fake counts streamed pieces and len(messages) / 4).
    assert response.usage.output_tokens == 2 + 2
    prompts = [len(orjson.dumps(r["messages"])) // 4 for r in upstream.requests]
    assert response.usage.input_tokens == sum(prompts)
    stored = tclient.responses.with_raw_response.retrieve(response.id).http_response.json()
    check_response(stored)
    assert [i["type"] for i in stored["output"]] == ["mcp_list_tools", "mcp_call", "message"]
    assert mcp.counts["call:add"] == 1


def test_streamed_loop_events_validate_and_come_in_order(tool_server, upstream, mcp, mcp_servers):
    upstream.script(Reply(tool_calls=[ADD]), Reply(text="five"))
    with httpx.Client(base_url=f"{tool_server.url}/v1", timeout=10) as http:
        events, _ = stream_events(
            http, model="fake-model", tools=[never(mcp_servers[1])], input="2 + 3?"
        )
    kinds = [e["type"] for e in events]
    assert kinds[:8] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.mcp_call_arguments.delta",
    ]
    assert kinds[8:12] == [
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_item.done",
    ]
    assert kinds[12] == "response.output_item.added" and kinds[-1] == "response.completed"
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.added"] == [
        0,
        1,
        2,
    ]
    final = events[-1]["response"]
    assert final["output"][1]["output"] == "5" and final["output"][2]["type"] == "message"


def test_sdk_stream_helper_and_async_client(tool_server, upstream, mcp, mcp_servers):
    async def run() -> None:
        async with openai.AsyncOpenAI(
            base_url=f"{tool_server.url}/v1", api_key="unused", max_retries=0
        ) as client:
            upstream.script(Reply(tool_calls=[ADD]), Reply(text="five"))
            async with client.responses.stream(
                model="fake-model", tools=[never(mcp_servers[1])], input="2 + 3?"
            ) as stream:
                async for _ in stream:
                    pass
                final = await stream.get_final_response()
            assert _types(final) == ["mcp_list_tools", "mcp_call", "message"]
            assert final.output_text == "five"

    import asyncio

    asyncio.run(run())


def test_background_response_runs_the_loop(tclient, upstream, mcp, mcp_servers):
    upstream.script(Reply(tool_calls=[ADD]), Reply(text="five"))
    created = tclient.responses.create(
        model="fake-model", tools=[never(mcp_servers[1])], input="2 + 3?", background=True
    )
    deadline = time.monotonic() + 10
    while (response := tclient.responses.retrieve(created.id)).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert response.status == "completed"
    assert _types(response) == ["mcp_list_tools", "mcp_call", "message"]


def test_parallel_calls_run_concurrently(tclient, upstream, mcp, mcp_servers):
    slow = [Call("calc__slow", '{"seconds": 0.4}', id=f"c{i}") for i in range(2)]
    upstream.script(Reply(tool_calls=slow), Reply(text="both done"))
    response = tclient.responses.create(
        model="fake-model", tools=[never(mcp_servers[1])], input="wait twice"
    )
    assert _types(response) == ["mcp_list_tools", "mcp_call", "mcp_call", "message"]
    assert [item.output for item in response.output[1:3]] == ["done", "done"]
    assert mcp.max_active == 2
    assert _tool_messages(upstream.requests[1]) == ["done", "done"]


def test_without_parallel_tool_calls_one_call_per_turn(tclient, upstream, mcp, mcp_servers):
    two = [Call("calc__add", '{"a": 1, "b": 1}', id="a"), Call("calc__echo", '{"text": "x"}')]
    upstream.script(Reply(tool_calls=two), Reply(text="ok"))
    response = tclient.responses.create(
        model="fake-model",
        tools=[never(mcp_servers[1])],
        input="x",
        parallel_tool_calls=False,
    )
    assert _types(response) == ["mcp_list_tools", "mcp_call", "message"]
    assert mcp.counts["call:echo"] == 0


def test_listing_is_reused_by_later_turns(tclient, upstream, mcp, mcp_servers):
    tools = [never(mcp_servers[1])]
    upstream.script(Reply(text="ready"), Reply(tool_calls=[ADD]), Reply(text="five"))
    first = tclient.responses.create(model="fake-model", tools=tools, input="hi")
    assert _types(first) == ["mcp_list_tools", "message"] and mcp.counts["list"] == 1
    second = tclient.responses.create(
        model="fake-model", tools=tools, input="2 + 3?", previous_response_id=first.id
    )
    assert _types(second) == ["mcp_call", "message"]
    assert mcp.counts["list"] == 1  # no second listing on the server
    assert "calc__add" in {t["function"]["name"] for t in upstream.requests[1]["tools"]}


def test_listing_is_reused_in_a_conversation(tclient, upstream, mcp, mcp_servers):
    conversation = tclient.conversations.create()
    tools = [never(mcp_servers[1])]
    upstream.script(Reply(tool_calls=[ADD]), Reply(text="five"), Reply(text="again"))
    tclient.responses.create(
        model="fake-model", tools=tools, input="2 + 3?", conversation=conversation.id
    )
    second = tclient.responses.create(
        model="fake-model", tools=tools, input="and?", conversation=conversation.id
    )
    assert _types(second) == ["message"] and mcp.counts["list"] == 1
    page = tclient.conversations.items.with_raw_response.list(conversation.id, order="asc")
    items = page.parse().data
    check_spec("ConversationItemList", page.http_response.json())
    assert [i.type for i in items] == [
        "message",
        "mcp_list_tools",
        "mcp_call",
        "message",
        "message",
        "message",
    ]
    # The model saw the earlier call and its result as a function call in the history.
    assert _tool_messages(upstream.requests[2]) == ["5"]


def test_default_approval_then_approve_runs_the_call(tclient, upstream, mcp, mcp_servers):
    tools = [calc(mcp_servers[1])]  # require_approval defaults to "always"
    upstream.script(Reply(tool_calls=[ADD]), Reply(text="five"))
    first = tclient.responses.create(model="fake-model", tools=tools, input="2 + 3?")
    assert first.status == "completed"
    assert _types(first) == ["mcp_list_tools", "mcp_approval_request"]
    request = first.output[1]
    assert request.id.startswith("mcpr_") and (request.name, request.server_label) == (
        "add",
        "calc",
    )
    assert mcp.counts["call:add"] == 0
    second = tclient.responses.create(
        model="fake-model",
        tools=tools,
        previous_response_id=first.id,
        input=[
            {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}
        ],
    )
    assert _types(second) == ["mcp_call", "message"]
    assert second.output[0].approval_request_id == request.id
    assert second.output[0].output == "5" and mcp.counts["call:add"] == 1
    assert _tool_messages(upstream.requests[1]) == ["5"]


def test_declined_approval_tells_the_model(tclient, upstream, mcp, mcp_servers):
    tools = [calc(mcp_servers[1])]
    upstream.script(Reply(tool_calls=[ADD]), Reply(text="ok, I will not"))
    first = tclient.responses.create(model="fake-model", tools=tools, input="2 + 3?")
    answer = {
        "type": "mcp_approval_response",
        "approval_request_id": first.output[1].id,
        "approve": False,
        "reason": "not now",
    }
    second = tclient.responses.create(
        model="fake-model", tools=tools, previous_response_id=first.id, input=[answer]
    )
    assert _types(second) == ["message"] and mcp.counts["call:add"] == 0
    assert _tool_messages(upstream.requests[1]) == ["The user declined this call. not now"]


def test_approval_with_store_false_and_full_history(tclient, upstream, mcp, mcp_servers):
    tools = [calc(mcp_servers[1])]
    upstream.script(Reply(tool_calls=[ADD]), Reply(text="five"))
    first = tclient.responses.create(model="fake-model", tools=tools, input="2 + 3?", store=False)
    history = [{"role": "user", "content": "2 + 3?"}]
    history += [item.model_dump(exclude_none=True) for item in first.output]
    answer = {
        "type": "mcp_approval_response",
        "approval_request_id": first.output[1].id,
        "approve": True,
    }
    second = tclient.responses.create(
        model="fake-model", tools=tools, store=False, input=[*history, answer]
    )
    assert _types(second) == ["mcp_call", "message"] and mcp.counts["list"] == 1


def test_unknown_approval_request_is_400(tclient, mcp_servers):
    with pytest.raises(openai.BadRequestError) as error:
        tclient.responses.create(
            model="fake-model",
            tools=[calc(mcp_servers[1])],
            input=[
                {"type": "mcp_approval_response", "approval_request_id": "mcpr_x", "approve": True}
            ],
        )
    assert error.value.body["param"] == "input[0].approval_request_id"


@pytest.mark.parametrize(
    ("policy", "needs"),
    [
        ("never", {"add": False, "echo": False}),
        ("always", {"add": True, "echo": True}),
        ({"never": {"tool_names": ["add"]}}, {"add": False, "echo": True}),
        ({"always": {"tool_names": ["echo"]}}, {"add": False, "echo": True}),
        ({"never": {"read_only": True}}, {"add": False, "echo": True}),
    ],
)
def test_require_approval_forms(tclient, upstream, mcp, mcp_servers, policy, needs):
    for tool, approval in needs.items():
        args = '{"a": 1, "b": 2}' if tool == "add" else '{"text": "hi"}'
        upstream.script(Reply(tool_calls=[Call(f"calc__{tool}", args)]))
        if not approval:
            upstream.script(Reply(text="done"))
        response = tclient.responses.create(
            model="fake-model", tools=[calc(mcp_servers[1], require_approval=policy)], input="go"
        )
        expected = "mcp_approval_request" if approval else "mcp_call"
        assert response.output[1].type == expected, (tool, policy)


def test_allowed_tools_limit_what_the_model_sees(tclient, upstream, mcp, mcp_servers):
    upstream.script(Reply(text="a"), Reply(text="b"))
    listed = tclient.responses.create(
        model="fake-model", tools=[never(mcp_servers[1], allowed_tools=["echo"])], input="x"
    )
    tclient.responses.create(
        model="fake-model",
        tools=[never(mcp_servers[1], allowed_tools={"read_only": True})],
        input="x",
    )
    seen = [{t["function"]["name"] for t in r["tools"]} for r in upstream.requests]
    assert seen == [{"calc__echo"}, {"calc__add"}]
    # The listing keeps every tool of the server (so a later turn with other allowed_tools
    # can reuse it); only the allowed ones are shown to the model.
    assert len(listed.output[0].tools) == 4


def test_unreachable_server_is_424(tclient, mcp):
    dead = "http://127.0.0.1:9/mcp"
    with pytest.raises(openai.APIStatusError) as error:
        tclient.responses.create(model="fake-model", tools=[never(dead)], input="x")
    assert error.value.status_code == 424
    assert "Error retrieving tool list from MCP server 'calc'" in error.value.body["message"]


def test_unreachable_server_fails_a_stream(tool_server, upstream, mcp):
    with httpx.Client(base_url=f"{tool_server.url}/v1", timeout=10) as http:
        events, _ = stream_events(
            http, model="fake-model", tools=[never("http://127.0.0.1:9/mcp")], input="x"
        )
    kinds = [e["type"] for e in events]
    assert "response.mcp_list_tools.failed" in kinds
    assert kinds[-2:] == ["error", "response.failed"]
    assert events[-1]["response"]["output"][0]["error"].startswith("Error retrieving")


def test_tool_error_reaches_the_model_and_the_loop_goes_on(tclient, upstream, mcp, mcp_servers):
    upstream.script(Reply(tool_calls=[Call("calc__fail", '{"reason": "no"}')]), Reply(text="sorry"))
    response = tclient.responses.create(
        model="fake-model", tools=[never(mcp_servers[1])], input="x"
    )
    call = response.output[1]
    assert call.status == "failed" and call.output is None
    assert call.error.type == "mcp_tool_execution_error"
    assert "the tool failed: no" in _tool_messages(upstream.requests[1])[0]
    assert response.status == "completed" and response.output_text == "sorry"


def test_hung_tool_times_out_without_hanging_the_response(tclient, upstream, mcp, mcp_servers):
    hang = json.dumps({"seconds": MCP_TIMEOUT + 2})
    upstream.script(Reply(tool_calls=[Call("calc__slow", hang)]), Reply(text="late"))
    started = time.monotonic()
    response = tclient.responses.create(
        model="fake-model", tools=[never(mcp_servers[1])], input="x"
    )
    assert time.monotonic() - started < MCP_TIMEOUT + 3
    call = response.output[1]
    assert call.status == "failed" and "did not answer" in call.error.message
    assert response.output_text == "late"


def test_private_addresses_are_refused_by_default(client, mcp_servers):
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(model="fake-model", tools=[never(mcp_servers[1])], input="x")
    assert error.value.body["param"] == "tools[0].server_url"
    assert "127.0.0.1" in error.value.body["message"]


def test_secrets_reach_the_server_and_are_never_stored(
    tclient, upstream, mcp, mcp_servers, tool_server
):
    tool = never(mcp_servers[1], headers={"X-Api-Key": "hdr-s3cret"}, authorization="tok-s3cret")
    upstream.script(Reply(tool_calls=[ADD]), Reply(text="five"))
    raw = tclient.responses.with_raw_response.create(model="fake-model", tools=[tool], input="x")
    seen = mcp.headers_seen
    assert seen and all(h.get("x-api-key") == "hdr-s3cret" for h in seen)
    assert all(h.get("authorization") == "Bearer tok-s3cret" for h in seen)
    body = raw.http_response.text
    stored = tclient.responses.with_raw_response.retrieve(raw.parse().id).http_response.text
    for text in (body, stored):
        assert "s3cret" not in text
        assert json.loads(text)["tools"][0]["server_label"] == "calc"


def test_max_tool_calls_stops_tools_and_tells_the_model(tclient, upstream, mcp, mcp_servers):
    upstream.script(Reply(tool_calls=[ADD]), Reply(text="that is all"))
    response = tclient.responses.create(
        model="fake-model", tools=[never(mcp_servers[1])], input="x", max_tool_calls=1
    )
    assert _types(response) == ["mcp_list_tools", "mcp_call", "message"]
    last = upstream.requests[1]
    assert last["tool_choice"] == "none"
    assert "max_tool_calls" in last["messages"][-1]["content"]


def test_turn_cap_ends_incomplete(tclient, upstream, mcp, mcp_servers):
    upstream.script(*[Reply(tool_calls=[Call("calc__add", '{"a": 1, "b": 1}')])] * 4)
    response = tclient.responses.create(
        model="fake-model", tools=[never(mcp_servers[1])], input="loop"
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert _types(response).count("mcp_call") == 4


def test_cancel_during_a_tool_call(tclient, upstream, mcp, mcp_servers):
    upstream.script(Reply(tool_calls=[Call("calc__slow", '{"seconds": 1.2}')]))
    created = tclient.responses.create(
        model="fake-model", tools=[never(mcp_servers[1])], input="x", background=True
    )
    deadline = time.monotonic() + 10
    while mcp.counts["call:slow"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    cancelled = tclient.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    stored = tclient.responses.retrieve(created.id)
    assert stored.status == "cancelled" and _types(stored) == ["mcp_list_tools", "mcp_call"]
    assert len(upstream.requests) == 1  # the model never ran again


def test_sse_transport(tclient, upstream, mcp, mcp_servers):
    upstream.script(Reply(tool_calls=[ADD]), Reply(text="five"))
    response = tclient.responses.create(
        model="fake-model", tools=[never(mcp_servers[2])], input="2 + 3?"
    )
    assert response.output[1].output == "5"


def test_forcing_an_mcp_tool_applies_to_the_first_turn(tclient, upstream, mcp, mcp_servers):
    upstream.script(Reply(tool_calls=[ADD]), Reply(text="five"))
    tclient.responses.create(
        model="fake-model",
        tools=[never(mcp_servers[1])],
        tool_choice={"type": "mcp", "server_label": "calc", "name": "add"},
        input="x",
    )
    first, second = upstream.requests
    assert first["tool_choice"] == {"type": "function", "function": {"name": "calc__add"}}
    assert second["tool_choice"] == "auto"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"connector_id": "connector_gmail"}, "tools[0].connector_id"),
        ({"server_url": None}, "tools[0].server_url"),
        ({"defer_loading": True}, "tools[0].defer_loading"),
    ],
)
def test_unsupported_mcp_fields_are_400(tclient, mcp_servers, extra, param):
    with pytest.raises(openai.BadRequestError) as error:
        tclient.responses.create(
            model="fake-model", tools=[never(mcp_servers[1], **extra)], input="x"
        )
    assert error.value.body["param"] == param


def test_max_output_tokens_caps_the_whole_response(tclient, upstream, mcp, mcp_servers):
    # The fake counts one token per streamed piece: the call's 16 characters take 16 of 18.
    upstream.script(Reply(tool_calls=[ADD], chunk_size=1), Reply(text="x"))
    response = tclient.responses.create(
        model="fake-model", tools=[never(mcp_servers[1])], input="x", max_output_tokens=18
    )
    assert upstream.requests[0]["max_tokens"] == 18
    assert upstream.requests[1]["max_tokens"] == 2
    assert response.status == "completed"
