"""Typed tools the client runs: `apply_patch`, `shell` (local environment), `local_shell`,
`computer` (and `computer_use_preview`).

Unlike a function, their calls have items of their own (`apply_patch_call` with an
operation, `shell_call` with commands, `local_shell_call` with one command, `computer_call`
with screen actions), and their results too (`apply_patch_call_output`,
`shell_call_output`, `local_shell_call_output`, `computer_call_output`: a screenshot).
Here: the function each is to the model (a strict JSON schema), the call item made from the
arguments the model wrote, and how these items look to the model again in a later turn
(the function call and result they were).
"""

from typing import Any

import orjson
from pydantic import ValidationError

from responsd.errors import UnsupportedParameterError
from responsd.providers.base import ToolSpec
from responsd.tools.base import refuse_unknown, strict_object, unknown_settings
from responsd.types.client_run_items import (
    ApplyPatchCall,
    ApplyPatchCallOutput,
    ComputerCall,
    ComputerCallOutput,
    LocalShellAction,
    LocalShellCall,
    LocalShellCallOutput,
    ShellAction,
    ShellCall,
    ShellCallOutput,
)
from responsd.types.content import InputImage, InputText
from responsd.types.items import FunctionCall, FunctionCallOutput, Item
from responsd.types.tools import (
    ApplyPatchTool,
    ComputerTool,
    ComputerUsePreviewTool,
    LocalShellTool,
    ShellTool,
)

ClientRunTool = ApplyPatchTool | ShellTool | LocalShellTool | ComputerTool | ComputerUsePreviewTool

FUNCTIONS = {
    "apply_patch": "apply_patch",
    "shell": "shell",
    "local_shell": "local_shell",
    "computer": "computer",
    "computer_use_preview": "computer",
}
"""Each tool type's function for the model (also its ToolSpec kind)."""
CALL_ITEMS = {
    "apply_patch": "apply_patch_call",
    "shell": "shell_call",
    "local_shell": "local_shell_call",
    "computer": "computer_call",
}
"""The item type a call of each function becomes."""

APPLY_PATCH_DESCRIPTION = (
    "Create, change or delete one file. `type`: create_file, update_file or delete_file; "
    "`path`: the file's path. `diff` (empty for delete_file): for create_file, every line "
    "of the new file prefixed with '+'; for update_file, a V4A diff: one or more hunks, "
    "each starting with a line '@@' or '@@ <a line of the file to find first>', then the "
    "lines around the change prefixed with ' ' (unchanged), '-' (removed) or '+' (added), "
    "about three unchanged lines before and after each change."
)
APPLY_PATCH_PARAMETERS = strict_object(
    type={"type": "string", "enum": ["create_file", "update_file", "delete_file"]},
    path={"type": "string"},
    diff={"type": "string"},
)
SHELL_DESCRIPTION = (
    "Run shell commands, one after the other, and see what each printed and its exit code. "
    "`timeout_ms` and `max_output_length` (characters of output kept per command) may be "
    "null for the defaults."
)
SHELL_PARAMETERS = strict_object(
    commands={"type": "array", "items": {"type": "string"}},
    timeout_ms={"type": ["integer", "null"]},
    max_output_length={"type": ["integer", "null"]},
)

LOCAL_SHELL_DESCRIPTION = (
    "Run one command on the user's machine and see its output. `command`: the program and "
    'its arguments, e.g. ["ls", "-la"]; `timeout_ms` and `working_directory` may be null.'
)
LOCAL_SHELL_PARAMETERS = strict_object(
    command={"type": "array", "items": {"type": "string"}},
    timeout_ms={"type": ["integer", "null"]},
    working_directory={"type": ["string", "null"]},
)


def _action(kind: str, **fields: Any) -> dict[str, Any]:
    return strict_object(type={"type": "string", "enum": [kind]}, **fields)


_PIXEL = {"type": "integer"}
COMPUTER_ACTION: dict[str, Any] = {
    "anyOf": [
        _action(
            "click",
            button={"type": "string", "enum": ["left", "right", "wheel", "back", "forward"]},
            x=_PIXEL,
            y=_PIXEL,
        ),
        _action("double_click", x=_PIXEL, y=_PIXEL),
        _action(
            "drag",
            path={"type": "array", "items": strict_object(x=_PIXEL, y=_PIXEL)},
        ),
        _action("keypress", keys={"type": "array", "items": {"type": "string"}}),
        _action("move", x=_PIXEL, y=_PIXEL),
        _action("screenshot"),
        _action("scroll", x=_PIXEL, y=_PIXEL, scroll_x=_PIXEL, scroll_y=_PIXEL),
        _action("type", text={"type": "string"}),
        _action("wait"),
    ]
}
COMPUTER_PARAMETERS = strict_object(actions={"type": "array", "items": COMPUTER_ACTION})
COMPUTER_PREVIEW_PARAMETERS = strict_object(action=COMPUTER_ACTION)
_COMPUTER_HOW = (
    "x and y are pixels of the latest screenshot (0, 0 is its top left corner); a drag's "
    "`path` goes from its first point to its last; keypress `keys` are pressed together, by "
    'name ("ENTER", "CTRL", "A"); scroll_x and scroll_y are the pixels to scroll (negative: '
    "left or up); `type` types text; `wait` waits a moment. Take a screenshot first to see "
    "the screen."
)
COMPUTER_DESCRIPTION = (
    "Use the user's computer: the `actions` run one after the other, then you are shown a "
    "screenshot of the screen. " + _COMPUTER_HOW
)
SCREENSHOT_TEXT = "The screen after the actions:"
"""What the model reads with a computer call's screenshot."""

ITEMS = (
    ApplyPatchCall,
    ApplyPatchCallOutput,
    ShellCall,
    ShellCallOutput,
    LocalShellCall,
    LocalShellCallOutput,
    ComputerCall,
    ComputerCallOutput,
)
"""Items of these tools (the model sees them as function calls and results)."""


def check(tool: ClientRunTool, param: str) -> None:
    """400 naming the first setting of `tool` this server would not honour."""
    callers = getattr(tool, "allowed_callers", None)
    if callers is not None and "direct" not in callers:
        raise UnsupportedParameterError(
            f"This server runs no programs for the model, so a {tool.type} tool must allow "
            "'direct' callers.",
            param=f"{param}.allowed_callers",
        )
    unknown = unknown_settings(tool, param)
    if isinstance(tool, ShellTool) and tool.environment:
        unknown += [
            f"{param}.environment.{key}"
            for key in tool.environment
            if key not in ("type", "skills")
        ]
    refuse_unknown(unknown, f"a {tool.type} tool here")


def spec(tool: ClientRunTool) -> ToolSpec:
    """The function the model calls for `tool` (named as in FUNCTIONS)."""
    if isinstance(tool, ComputerTool):
        return ToolSpec("computer", "computer", COMPUTER_DESCRIPTION, COMPUTER_PARAMETERS, True)
    if isinstance(tool, ComputerUsePreviewTool):
        description = (
            f"Use the user's computer ({tool.environment}, a screen of {tool.display_width}x"
            f"{tool.display_height} pixels): the `action` runs, then you are shown a screenshot "
            "of the screen. " + _COMPUTER_HOW
        )
        return ToolSpec("computer", "computer", description, COMPUTER_PREVIEW_PARAMETERS, True)
    if isinstance(tool, ApplyPatchTool):
        return ToolSpec(
            "apply_patch", "apply_patch", APPLY_PATCH_DESCRIPTION, APPLY_PATCH_PARAMETERS, True
        )
    if isinstance(tool, LocalShellTool):
        return ToolSpec(
            "local_shell", "local_shell", LOCAL_SHELL_DESCRIPTION, LOCAL_SHELL_PARAMETERS, True
        )
    return ToolSpec("shell", "shell", _with_skills(tool), SHELL_PARAMETERS, True)


def _with_skills(tool: ShellTool) -> str:
    """The shell's description, with the skills of its local environment: each a folder on
    the user's machine whose SKILL.md says how to use it."""
    skills = (tool.environment or {}).get("skills") or []
    lines = [
        f"- {s.get('name')}: {s.get('description')} ({s.get('path')})"
        for s in skills
        if isinstance(s, dict)
    ]
    if not lines:
        return SHELL_DESCRIPTION
    return (
        SHELL_DESCRIPTION
        + " Skills on this machine (before using one, read the SKILL.md in its folder):\n"
        + "\n".join(lines)
    )


def call_item(
    spec: ToolSpec, call_id: str, arguments: str, item_id: str
) -> ApplyPatchCall | ShellCall | LocalShellCall | ComputerCall | None:
    """The call item of `spec`'s tool for the arguments the model wrote; None when they do
    not make one (not JSON, or not the tool's schema: the strict check says why)."""
    try:
        value = orjson.loads(arguments or "{}")
        if spec.kind == "apply_patch":
            if value.get("type") == "delete_file":
                value = {"type": "delete_file", "path": value.get("path")}
            return ApplyPatchCall(id=item_id, call_id=call_id, operation=value)
        if spec.kind == "computer":
            return ComputerCall.model_validate({**value, "id": item_id, "call_id": call_id})
        if spec.kind == "local_shell":
            return LocalShellCall(
                id=item_id,
                call_id=call_id,
                action=LocalShellAction.model_validate(value),
            )
        return ShellCall(
            id=item_id,
            call_id=call_id,
            action=ShellAction.model_validate(value),
            environment={"type": "local"},
        )
    except (orjson.JSONDecodeError, ValidationError, AttributeError):
        return None


def model_items(items: list[Item]) -> list[Item]:
    """These tools' items as the function calls and results they are to the model."""
    return [_as_function(item) if isinstance(item, ITEMS) else item for item in items]


def _as_function(item: Item) -> Item:
    if isinstance(item, ComputerCall):
        acts = {"action": item.action} if item.actions is None else {"actions": item.actions}
        arguments = orjson.dumps(acts).decode()
        return FunctionCall(call_id=item.call_id, name="computer", arguments=arguments)
    if isinstance(item, ComputerCallOutput):
        # A screenshot by file_id is a data URL by now (engine/input_files.py), unless its
        # file was deleted since.
        if item.output.image_url is None:
            gone = f"[The screenshot ({item.output.file_id}) was deleted.]"
            return FunctionCallOutput(call_id=item.call_id, output=gone)
        screenshot = InputImage(image_url=item.output.image_url)
        return FunctionCallOutput(
            call_id=item.call_id, output=[InputText(text=SCREENSHOT_TEXT), screenshot]
        )
    if isinstance(item, ApplyPatchCall):
        operation = item.operation.model_dump(mode="json")
        operation.setdefault("diff", "")
        arguments = orjson.dumps(operation).decode()
        return FunctionCall(call_id=item.call_id, name="apply_patch", arguments=arguments)
    if isinstance(item, ShellCall):
        arguments = item.action.model_dump_json()
        return FunctionCall(call_id=item.call_id, name="shell", arguments=arguments)
    if isinstance(item, LocalShellCall):
        action = item.action.model_dump(include={"command", "timeout_ms", "working_directory"})
        arguments = orjson.dumps(action).decode()
        return FunctionCall(call_id=item.call_id, name="local_shell", arguments=arguments)
    if isinstance(item, LocalShellCallOutput):
        return FunctionCallOutput(call_id=item.call_id or "", output=item.output)
    if isinstance(item, ApplyPatchCallOutput):
        text = item.status if item.output is None else f"{item.status}: {item.output}"
        return FunctionCallOutput(call_id=item.call_id, output=text)
    assert isinstance(item, ShellCallOutput)
    results = [entry.model_dump(mode="json") for entry in item.output]
    return FunctionCallOutput(call_id=item.call_id, output=orjson.dumps(results).decode())
