"""The OpenAI Agents SDK itself, run against responsd: its hosted-typed tools that the
client runs (`ApplyPatchTool` with an editor, `ShellTool` and `LocalShellTool` with local
executors, `ComputerTool` with a computer) go through whole agent runs, chained (stored,
each turn continuing the last by `previous_response_id`) and stateless (`store=False`, the
whole context sent each turn)."""

import json

import httpx
import openai
import pytest
from agents import (
    Agent,
    ApplyPatchTool,
    AsyncComputer,
    ComputerTool,
    LocalShellCommandRequest,
    LocalShellTool,
    ModelSettings,
    OpenAIResponsesModel,
    Runner,
    ShellTool,
    set_tracing_disabled,
)
from agents.editor import ApplyPatchOperation, ApplyPatchResult
from agents.tool import ShellCallOutcome, ShellCommandOutput, ShellCommandRequest, ShellResult

from bench.fake_upstream import Call, Reply

set_tracing_disabled(True)  # the SDK would otherwise post traces to the hosted API

PATCH = {"type": "update_file", "path": "notes.txt", "diff": "@@\n one\n-two\n+three\n"}
SHELL = {"commands": ["ls", "wc -l notes.txt"], "timeout_ms": None, "max_output_length": None}


class Editor:
    """Records what the SDK asks its editor to do."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, str | None]] = []

    def create_file(self, operation: ApplyPatchOperation) -> ApplyPatchResult:
        return self._record(operation)

    def update_file(self, operation: ApplyPatchOperation) -> ApplyPatchResult:
        return self._record(operation)

    def delete_file(self, operation: ApplyPatchOperation) -> ApplyPatchResult:
        return self._record(operation)

    def _record(self, operation: ApplyPatchOperation) -> ApplyPatchResult:
        self.done.append((operation.type, operation.path, operation.diff))
        return ApplyPatchResult(output=f"{operation.type} {operation.path}: ok")


@pytest.mark.parametrize("chained", [True, False], ids=["chained", "stateless"])
async def test_an_agent_edits_and_runs_commands(server, upstream, chained):
    upstream.script(
        Reply(tool_calls=[Call("apply_patch", json.dumps(PATCH), id="call_p")]),
        Reply(tool_calls=[Call("shell", json.dumps(SHELL), id="call_s")]),
        Reply(text="notes.txt now ends with three."),
    )
    editor, commands = Editor(), []

    def shell(request: ShellCommandRequest) -> ShellResult:
        commands.append(request.data.action.commands)
        exited = ShellCallOutcome(type="exit", exit_code=0)
        return ShellResult(output=[ShellCommandOutput(stdout="notes.txt\n", outcome=exited)])

    sent: list[dict] = []

    async def record(request: httpx.Request) -> None:
        sent.append(json.loads(request.content))

    hooks = {"request": [record]}
    http = httpx.AsyncClient(event_hooks=hooks)
    client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="unused", http_client=http)
    agent = Agent(
        name="dev",
        instructions="Edit files.",
        model=OpenAIResponsesModel("fake-model", client),
        tools=[ApplyPatchTool(editor=editor), ShellTool(executor=shell)],
        model_settings=ModelSettings(store=chained),
    )
    async with http:
        result = await Runner.run(agent, "Fix notes.txt", auto_previous_response_id=chained)
    # Chained, the later turns send only the new items (the results of the calls).
    continued = ["previous_response_id" in body for body in sent]
    assert continued == [False, chained, chained]
    if chained:
        assert [item["type"] for item in sent[1]["input"]] == ["apply_patch_call_output"]
        assert [item["type"] for item in sent[2]["input"]] == ["shell_call_output"]
    assert result.final_output == "notes.txt now ends with three."
    assert editor.done == [("update_file", "notes.txt", PATCH["diff"])]
    assert commands == [SHELL["commands"]]
    # What the model saw on its last turn: both calls, each followed by its result.
    *_, patched, patch_result, ran, ran_result = upstream.requests[2]["messages"]
    assert patched["tool_calls"][0]["function"]["name"] == "apply_patch"
    assert patch_result["content"] == "completed: update_file notes.txt: ok"
    assert ran["tool_calls"][0]["function"]["name"] == "shell"
    assert json.loads(ran_result["content"])[0]["stdout"] == "notes.txt\n"


async def test_an_agent_runs_a_local_shell_command(aclient, upstream):
    command = {"command": ["git", "status"], "timeout_ms": 1000, "working_directory": None}
    upstream.script(
        Reply(tool_calls=[Call("local_shell", json.dumps(command), id="call_l")]),
        Reply(text="Clean."),
    )
    ran = []

    def run(request: LocalShellCommandRequest) -> str:
        ran.append(request.data.action.command)
        return "nothing to commit"

    agent = Agent(
        name="dev",
        model=OpenAIResponsesModel("fake-model", aclient),
        tools=[LocalShellTool(executor=run)],
    )
    result = await Runner.run(agent, "status?")
    assert result.final_output == "Clean." and ran == [["git", "status"]]
    *_, called, answer = upstream.requests[1]["messages"]
    assert called["tool_calls"][0]["function"]["name"] == "local_shell"
    assert answer == {"role": "tool", "tool_call_id": "call_l", "content": "nothing to commit"}


class Screen(AsyncComputer):
    """Records what the SDK asks its computer to do; every screenshot is the same PNG."""

    def __init__(self) -> None:
        self.done: list[tuple] = []

    @property
    def dimensions(self) -> tuple[int, int]:
        return (1024, 768)

    async def screenshot(self) -> str:
        return "iVBORw0KGgo="

    async def click(self, x: int, y: int, button: str) -> None:
        self.done.append(("click", x, y, button))

    async def double_click(self, x: int, y: int) -> None:
        self.done.append(("double_click", x, y))

    async def scroll(self, x: int, y: int, scroll_x: int, scroll_y: int) -> None:
        self.done.append(("scroll", x, y, scroll_x, scroll_y))

    async def type(self, text: str) -> None:
        self.done.append(("type", text))

    async def wait(self) -> None:
        self.done.append(("wait",))

    async def move(self, x: int, y: int) -> None:
        self.done.append(("move", x, y))

    async def keypress(self, keys: list[str]) -> None:
        self.done.append(("keypress", keys))

    async def drag(self, path: list[tuple[int, int]]) -> None:
        self.done.append(("drag", path))


@pytest.mark.parametrize("chained", [True, False], ids=["chained", "stateless"])
async def test_an_agent_uses_the_computer(server, upstream, chained):
    actions = [
        {"type": "click", "button": "left", "x": 10, "y": 20},
        {"type": "type", "text": "responsd"},
        {"type": "keypress", "keys": ["ENTER"]},
    ]
    upstream.script(
        Reply(tool_calls=[Call("computer", json.dumps({"actions": actions}), id="call_c")]),
        Reply(text="Searched."),
    )
    sent: list[dict] = []

    async def record(request: httpx.Request) -> None:
        sent.append(json.loads(request.content))

    http = httpx.AsyncClient(event_hooks={"request": [record]})
    client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="unused", http_client=http)
    screen = Screen()
    agent = Agent(
        name="browser",
        model=OpenAIResponsesModel("fake-model", client),
        tools=[ComputerTool(computer=screen)],
        model_settings=ModelSettings(store=chained),
    )
    async with http:
        result = await Runner.run(agent, "Search for responsd", auto_previous_response_id=chained)
    assert sent[0]["tools"] == [{"type": "computer"}]
    if chained:
        assert [item["type"] for item in sent[1]["input"]] == ["computer_call_output"]
    assert result.final_output == "Searched."
    assert screen.done == [("click", 10, 20, "left"), ("type", "responsd"), ("keypress", ["ENTER"])]
    # The model's last turn: its call, the tool message, then the screenshot as an image.
    *_, called, answer, images = upstream.requests[1]["messages"]
    assert called["tool_calls"][0]["function"]["name"] == "computer"
    assert answer["tool_call_id"] == "call_c"
    assert images["content"][1]["image_url"]["url"] == "data:image/png;base64,iVBORw0KGgo="
