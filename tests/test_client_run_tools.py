"""Typed tools the client runs: `apply_patch` and `shell` (local). The model calls them as
functions; the response carries their own items (`apply_patch_call`, `shell_call`), and
their results come back as `apply_patch_call_output` / `shell_call_output`."""

import json

import openai
import pytest

from bench.fake_upstream import Call, Reply
from tests.openapi_spec import check_spec
from tests.wire import check_response, stream_events

PATCH = {
    "type": "update_file",
    "path": "src/app.py",
    "diff": "@@ def main():\n-    x = 1\n+    x = 2\n",
}
SHELL = {"commands": ["ls -la", "git status"], "timeout_ms": 5000, "max_output_length": None}
LOCAL_SHELL = {"type": "shell", "environment": {"type": "local"}}


def _sent_tools(request: dict) -> dict[str, dict]:
    return {tool["function"]["name"]: tool["function"] for tool in request.get("tools", [])}


def test_an_apply_patch_call_is_its_own_item(http, upstream):
    upstream.script(Reply(tool_calls=[Call("apply_patch", json.dumps(PATCH), id="call_p")]))
    body = {"model": "fake-model", "input": "fix it", "tools": [{"type": "apply_patch"}]}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 200, reply.text
    assert "responsd-skipped-tools" not in reply.headers
    response = check_response(reply.json())
    assert response["tools"] == [{"type": "apply_patch"}]
    [call] = response["output"]
    assert call["type"] == "apply_patch_call" and call["id"].startswith("apc_")
    assert call["call_id"] == "call_p" and call["status"] == "completed"
    assert call["operation"] == PATCH
    # The model was offered a strict function that takes one operation.
    sent = _sent_tools(upstream.requests[0])["apply_patch"]
    assert sent["strict"] is True
    assert sent["parameters"]["required"] == ["type", "path", "diff"]
    assert "V4A" in sent["description"]


def test_its_result_reaches_the_model_as_the_call_and_its_output(client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("apply_patch", json.dumps(PATCH), id="call_p")]),
        Reply(text="Patched."),
    )
    tools = [{"type": "apply_patch"}]
    first = client.responses.create(model="fake-model", input="fix it", tools=tools)
    assert first.output[0].type == "apply_patch_call"
    result = {
        "type": "apply_patch_call_output",
        "call_id": "call_p",
        "status": "completed",
        "output": "Updated src/app.py",
    }
    second = client.responses.create(
        model="fake-model", previous_response_id=first.id, input=[result], tools=tools
    )
    assert second.output_text == "Patched."
    *_, assistant, answer = upstream.requests[1]["messages"]
    [called] = assistant["tool_calls"]
    assert called["id"] == "call_p" and called["function"]["name"] == "apply_patch"
    assert json.loads(called["function"]["arguments"]) == PATCH
    assert answer == {
        "role": "tool",
        "tool_call_id": "call_p",
        "content": "completed: Updated src/app.py",
    }
    stored = client.responses.input_items.list(second.id).data
    assert stored[0].type == "apply_patch_call_output" and stored[0].id.startswith("apco_")


def test_a_stateless_client_replays_the_call_and_its_result(http, upstream):
    """The Agents SDK without `store`: the whole context comes back as input, each turn."""
    upstream.script(Reply(text="ok"))
    call = {
        "type": "apply_patch_call",
        "call_id": "call_d",
        "status": "completed",
        "operation": {"type": "delete_file", "path": "old.txt"},
    }
    failed = {
        "type": "apply_patch_call_output",
        "call_id": "call_d",
        "status": "failed",
        "output": "old.txt: no such file",
    }
    body = {
        "model": "fake-model",
        "store": False,
        "tools": [{"type": "apply_patch"}],
        "input": [{"role": "user", "content": "clean up"}, call, failed],
    }
    reply = http.post("/responses", json=body)
    assert reply.status_code == 200, reply.text
    _, assistant, answer = upstream.requests[0]["messages"]
    arguments = json.loads(assistant["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"type": "delete_file", "path": "old.txt", "diff": ""}
    assert answer["content"] == "failed: old.txt: no such file"


def test_a_delete_has_no_diff(http, upstream):
    arguments = json.dumps({"type": "delete_file", "path": "old.txt", "diff": ""})
    upstream.script(Reply(tool_calls=[Call("apply_patch", arguments)]))
    body = {"model": "fake-model", "input": "x", "tools": [{"type": "apply_patch"}]}
    response = check_response(http.post("/responses", json=body).json())
    assert response["output"][0]["operation"] == {"type": "delete_file", "path": "old.txt"}


def test_a_local_shell_call_and_its_output(client, upstream):
    upstream.script(
        Reply(tool_calls=[Call("shell", json.dumps(SHELL), id="call_s")]),
        Reply(text="Two files."),
    )
    first = client.responses.create(model="fake-model", input="look", tools=[LOCAL_SHELL])
    check_response(first.to_dict())
    [call] = first.output
    assert call.type == "shell_call" and call.id.startswith("sh_") and call.call_id == "call_s"
    assert call.action.commands == ["ls -la", "git status"] and call.action.timeout_ms == 5000
    assert _sent_tools(upstream.requests[0])["shell"]["strict"] is True
    output = {
        "type": "shell_call_output",
        "call_id": "call_s",
        "output": [
            {"stdout": "a.py\nb.py\n", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}},
            {"stdout": "", "stderr": "slow", "outcome": {"type": "timeout"}},
        ],
    }
    second = client.responses.create(
        model="fake-model", previous_response_id=first.id, input=[output], tools=[LOCAL_SHELL]
    )
    assert second.output_text == "Two files."
    *_, assistant, answer = upstream.requests[1]["messages"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"])["commands"] == [
        "ls -la",
        "git status",
    ]
    results = json.loads(answer["content"])
    assert results[0]["stdout"] == "a.py\nb.py\n" and results[0]["outcome"]["exit_code"] == 0
    assert results[1]["outcome"] == {"type": "timeout"}
    # Stored as sent, in the listed shape (status and max_output_length filled in).
    page = client.responses.input_items.list(second.id)
    [stored] = check_spec("ResponseItemList", page.to_dict())["data"]
    assert stored["output"] == output["output"] and stored["status"] == "completed"
    assert stored["id"].startswith("sho_") and stored["max_output_length"] is None


def test_a_shell_in_a_hosted_container_is_withheld(http, upstream):
    upstream.script(Reply(text="no shell"))
    hosted = {"type": "shell", "environment": {"type": "container_auto"}}
    reply = http.post("/responses", json={"model": "fake-model", "input": "x", "tools": [hosted]})
    assert reply.status_code == 200, reply.text
    assert reply.headers["responsd-skipped-tools"] == "shell"
    assert "tools" not in upstream.requests[0]
    assert reply.json()["tools"] == [hosted]


def test_streamed_calls_arrive_whole_after_the_functions_of_their_turn(http, upstream):
    upstream.script(
        Reply(
            text="Editing.",
            tool_calls=[
                Call("apply_patch", json.dumps(PATCH), id="call_p"),
                Call("echo", "{}", id="call_e"),
                Call("shell", json.dumps(SHELL), id="call_s"),
            ],
        )
    )
    echo = {"type": "function", "name": "echo", "parameters": {"type": "object", "properties": {}}}
    tools = [{"type": "apply_patch"}, LOCAL_SHELL, echo]
    events, _ = stream_events(http, model="fake-model", input="x", tools=tools)
    added = [e for e in events if e["type"] == "response.output_item.added"]
    done = {e["output_index"]: e for e in events if e["type"] == "response.output_item.done"}
    # A function shows as its arguments stream; a typed call once they make its item.
    kinds = ["message", "function_call", "apply_patch_call", "shell_call"]
    assert [e["item"]["type"] for e in added] == kinds
    assert [e["output_index"] for e in added] == [0, 1, 2, 3]
    assert added[2]["item"]["operation"] == PATCH == done[2]["item"]["operation"]
    assert added[3]["item"]["action"]["commands"] == SHELL["commands"]
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == kinds


def test_arguments_that_make_no_operation_fail_the_response(client, upstream):
    bad = json.dumps({"type": "rename_file", "path": "a", "diff": ""})
    upstream.script(Reply(tool_calls=[Call("apply_patch", bad)]))
    with pytest.raises(openai.InternalServerError) as error:
        client.responses.create(model="fake-model", input="x", tools=[{"type": "apply_patch"}])
    assert error.value.body["code"] == "invalid_model_output"
    assert "apply_patch" in error.value.message and "strict schema" in error.value.message


def test_tool_choice_forces_it(http, upstream):
    upstream.script(Reply(tool_calls=[Call("apply_patch", json.dumps(PATCH))]))
    body = {
        "model": "fake-model",
        "input": "x",
        "tools": [{"type": "apply_patch"}],
        "tool_choice": {"type": "apply_patch"},
    }
    assert http.post("/responses", json=body).status_code == 200
    assert upstream.requests[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "apply_patch"},
    }


@pytest.mark.parametrize(
    ("tools", "extra", "param"),
    [
        ([], {"tool_choice": {"type": "apply_patch"}}, "tool_choice"),
        ([{"type": "function", "name": "shell"}, LOCAL_SHELL], {}, "tools"),
        (
            [{"type": "apply_patch", "allowed_callers": ["programmatic"]}],
            {},
            "tools[0].allowed_callers",
        ),
        (
            [{"type": "apply_patch"}],
            {
                "input": [
                    {"type": "apply_patch_call_output", "call_id": "nope", "status": "completed"}
                ]
            },
            "input[0].call_id",
        ),
        (
            [LOCAL_SHELL],
            {"input": [{"type": "shell_call_output", "call_id": "c", "output": [{"stdout": ""}]}]},
            "input",
        ),
        # Settings it would not honour are refused, not ignored.
        ([{"type": "apply_patch", "sandbox": "strict"}], {}, "tools[0].sandbox"),
        (
            [{"type": "shell", "environment": {"type": "local", "cwd": "/tmp"}}],
            {},
            "tools[0].environment.cwd",
        ),
        ([{"type": "local_shell", "env": {"A": "1"}}], {}, "tools[0].env"),
    ],
)
def test_requests_that_cannot_work_are_400s(http, upstream, tools, extra, param):
    body = {"model": "fake-model", "input": "x", "tools": tools, **extra}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"].startswith(param)
    assert upstream.requests == []


@pytest.mark.parametrize("link", ["call_id", "id"])
def test_a_local_shell_call_and_its_output_linked_either_way(client, upstream, link):
    """The spec links a local_shell_call_output by `id`; the Agents SDK sends `call_id`."""
    arguments = {"command": ["ls", "-la"], "timeout_ms": None, "working_directory": "/srv"}
    upstream.script(
        Reply(tool_calls=[Call("local_shell", json.dumps(arguments), id="call_l")]),
        Reply(text="Listed."),
    )
    tools = [{"type": "local_shell"}]
    first = client.responses.create(model="fake-model", input="look", tools=tools)
    check_response(first.to_dict())
    [call] = first.output
    assert call.type == "local_shell_call" and call.id.startswith("lsh_")
    assert call.call_id == "call_l" and call.action.command == ["ls", "-la"]
    assert call.action.working_directory == "/srv" and call.action.env == {}
    output = {"type": "local_shell_call_output", link: "call_l", "output": "a.py\n"}
    second = client.responses.create(
        model="fake-model", previous_response_id=first.id, input=[output], tools=tools
    )
    assert second.output_text == "Listed."
    *_, assistant, answer = upstream.requests[1]["messages"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == arguments
    assert answer == {"role": "tool", "tool_call_id": "call_l", "content": "a.py\n"}


def test_a_local_shell_output_needs_a_link(http, upstream):
    body = {
        "model": "fake-model",
        "tools": [{"type": "local_shell"}],
        "input": [{"type": "local_shell_call_output", "output": "x"}],
    }
    reply = http.post("/responses", json=body)
    assert reply.status_code == 400, reply.text
    assert "call_id" in reply.json()["error"]["message"]
    assert upstream.requests == []


def test_a_local_shells_skills_are_told_to_the_model(http, upstream):
    upstream.script(Reply(text="ok"))
    skill = {"name": "pdf", "description": "Read and fill PDF forms.", "path": "/skills/pdf"}
    shell = {"type": "shell", "environment": {"type": "local", "skills": [skill]}}
    body = {"model": "fake-model", "input": "x", "tools": [shell]}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 200, reply.text
    description = _sent_tools(upstream.requests[0])["shell"]["description"]
    assert "- pdf: Read and fill PDF forms. (/skills/pdf)" in description
    assert "SKILL.md" in description
    assert reply.json()["tools"] == [shell]
