"""What Codex CLI and the Agents SDK really send (see CONTRACT.md) is accepted as is."""

import orjson
import pytest

from bench.fake_upstream import Call, Reply
from tests.wire import check_response, stream_events

CODEX_TOOLS = [
    {
        "type": "function",
        "name": "shell",
        "description": "Run a command.",
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "array", "items": {"type": "string"}}},
            "required": ["command"],
        },
    },
    {
        "type": "namespace",
        "name": "mcp__docs",
        "description": "Docs server",
        "tools": [
            {
                "type": "function",
                "name": "lookup",
                "parameters": {"type": "object", "properties": {}},
            }
        ],
    },
    {
        "type": "custom",
        "name": "apply_patch",
        "description": "Edit files.",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"},
    },
    {"type": "web_search", "external_web_access": False},
    {"type": "tool_search"},
]


def _codex_request(history):
    return {
        "model": "fake-model",
        "instructions": None,
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "You are Codex. " * 200}],
            },
            *history,
        ],
        "tools": CODEX_TOOLS,
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199-session",
        "text": {"verbosity": "medium"},
        "client_metadata": {"originator": "codex_cli_rs"},
    }


def test_a_codex_turn_sequence_with_resent_history(http, upstream):
    upstream.script(
        Reply(
            reasoning="The user wants files listed.",
            text="Running ls.",
            tool_calls=[Call("shell", '{"command":["ls"]}', id="call_a")],
        ),
        Reply(text="Done."),
    )
    user = {
        "type": "message",
        "id": "msg_0199a",
        "role": "user",
        "content": [{"type": "input_text", "text": "list files"}],
    }
    events, _ = stream_events(http, **_codex_request([user]))
    items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [i["type"] for i in items] == ["reasoning", "message", "function_call"]
    assert items[0]["encrypted_content"].startswith("rsd1.")
    # Codex sends our own items back unchanged (reasoning without its readable content),
    # plus the call's output.
    reasoning = {**items[0], "content": None}
    assistant = {**items[1], "phase": "commentary"}
    history = [
        user,
        reasoning,
        assistant,
        items[2],
        {"type": "function_call_output", "id": "fco_1", "call_id": "call_a", "output": "a.txt"},
    ]
    events, _ = stream_events(http, **_codex_request(history))
    assert events[-1]["type"] == "response.completed"
    sent = upstream.requests[-1]
    assert sent["messages"][0]["role"] == "system"
    assert [m["role"] for m in sent["messages"][1:]] == ["user", "assistant", "tool"]
    assert (
        sent["messages"][2]["content"] == "Running ls."
        and sent["messages"][2]["tool_calls"][0]["id"] == "call_a"
    )
    names = [t["function"]["name"] for t in sent["tools"]]
    assert names == ["shell", "mcp__docs__lookup", "apply_patch"]
    assert sent["prompt_cache_key"] == "0199-session"


@pytest.mark.parametrize("store", [True, False])
def test_the_same_client_ids_can_be_sent_on_every_turn(http, upstream, store):
    upstream.script(Reply(text="1"), Reply(text="2"))
    user = {"type": "message", "id": "msg_fixed", "role": "user", "content": "hi"}
    call = {
        "type": "function_call",
        "id": "fc_fixed",
        "call_id": "c",
        "name": "shell",
        "arguments": "{}",
        "status": "completed",
    }
    out = {"type": "function_call_output", "id": "fco_fixed", "call_id": "c", "output": "ok"}
    for _ in range(2):
        body = {
            "model": "fake-model",
            "input": [user, call, out],
            "store": store,
            "tools": CODEX_TOOLS[:1],
        }
        reply = http.post("/responses", json=body)
        assert reply.status_code == 200, reply.text
        if store:
            items = http.get(
                f"/responses/{reply.json()['id']}/input_items", params={"order": "asc"}
            ).json()
            assert [i["id"] for i in items["data"]] == ["msg_fixed", "fc_fixed", "fco_fixed"]


def test_developer_messages_after_user_messages(client, upstream):
    upstream.script(Reply(text="ok"))
    client.responses.create(
        model="fake-model",
        input=[
            {"role": "user", "content": "hi"},
            {"role": "developer", "content": "Answer in French."},
        ],
    )
    assert [m["role"] for m in upstream.requests[0]["messages"]] == ["user", "system"]


def test_agents_sdk_style_request(http, upstream):
    upstream.script(Reply(text='{"answer": "4"}'))
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    body = {
        "model": "fake-model",
        "input": [{"role": "user", "content": "2+2?"}],
        "instructions": "You are a calculator.",
        "include": [],
        "tools": [],
        "text": {
            "format": {
                "type": "json_schema",
                "name": "final_output",
                "schema": schema,
                "strict": True,
            }
        },
        "stream": False,
        "top_p": None,
        "temperature": None,
        "truncation": None,
        "max_output_tokens": None,
        "store": None,
        "parallel_tool_calls": None,
        "tool_choice": None,
        "metadata": None,
        "reasoning": None,
    }
    reply = http.post("/responses", json=body)
    assert reply.status_code == 200, reply.text
    response = check_response(reply.json())
    assert orjson.loads(response["output"][0]["content"][0]["text"]) == {"answer": "4"}
    assert response["store"] is True and response["tool_choice"] == "auto"


def test_assistant_message_with_output_text_parts_as_input(client, upstream):
    upstream.script(Reply(text="ok"))
    client.responses.create(
        model="fake-model",
        input=[
            {"role": "user", "content": "hi"},
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_x",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": "hello", "annotations": [], "logprobs": []}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "see"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,AAAA",
                        "detail": "low",
                    },
                ],
            },
        ],
    )
    messages = upstream.requests[0]["messages"]
    assert messages[1] == {"role": "assistant", "content": "hello"}
    assert messages[2]["content"] == [
        {"type": "text", "text": "see"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
    ]
