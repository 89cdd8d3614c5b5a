"""Items of the typed tools the client runs (tools/client_run.py): each call an item of its
own (`apply_patch_call`, `shell_call`, `local_shell_call`, `computer_call`), each result
too (`…_output`)."""

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Field, model_validator

from responsd.types._base import ItemStatus, WireModel, omitted_when_none


class CreateFile(WireModel):
    type: Literal["create_file"] = "create_file"
    path: str
    diff: str
    """The new file's lines, each prefixed with `+` (a V4A diff from nothing)."""


class UpdateFile(WireModel):
    type: Literal["update_file"] = "update_file"
    path: str
    diff: str
    """A V4A diff of the file: `@@` hunks of context (` `), removed (`-`) and added (`+`) lines."""


class DeleteFile(WireModel):
    type: Literal["delete_file"] = "delete_file"
    path: str


PatchOperation: TypeAlias = Annotated[
    CreateFile | UpdateFile | DeleteFile, Field(discriminator="type")
]


class ApplyPatchCall(WireModel):
    """The model asking the client (its `apply_patch` tool) to create, change or delete a
    file."""

    type: Literal["apply_patch_call"] = "apply_patch_call"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    operation: PatchOperation
    status: Literal["in_progress", "completed"] = "completed"


class ApplyPatchCallOutput(WireModel):
    """The client's result for an `apply_patch_call`, linked by `call_id`."""

    type: Literal["apply_patch_call_output"] = "apply_patch_call_output"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    status: Literal["completed", "failed"]
    output: str | None = omitted_when_none()


class ShellAction(WireModel):
    commands: list[str]
    timeout_ms: int | None = None
    max_output_length: int | None = None


class ShellCall(WireModel):
    """The model asking the client (its `shell` tool, local environment) to run commands."""

    type: Literal["shell_call"] = "shell_call"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    action: ShellAction
    status: ItemStatus = "completed"
    environment: dict[str, Any] | None = None
    """Where the commands run: `{"type": "local"}` (the client's machine) for this server's
    calls."""


class ShellExit(WireModel):
    type: Literal["exit"] = "exit"
    exit_code: int


class ShellTimeout(WireModel):
    type: Literal["timeout"] = "timeout"


class ShellOutput(WireModel):
    stdout: str
    stderr: str
    outcome: Annotated[ShellExit | ShellTimeout, Field(discriminator="type")]


class ShellCallOutput(WireModel):
    """The client's result for a `shell_call`: each command's output, linked by `call_id`."""

    type: Literal["shell_call_output"] = "shell_call_output"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    output: list[ShellOutput]
    max_output_length: int | None = None
    status: ItemStatus | None = omitted_when_none()


class LocalShellAction(WireModel):
    type: Literal["exec"] = "exec"
    command: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    timeout_ms: int | None = None
    user: str | None = None
    working_directory: str | None = None


class LocalShellCall(WireModel):
    """The model asking the client (its `local_shell` tool) to run one command."""

    type: Literal["local_shell_call"] = "local_shell_call"
    id: str | None = None
    call_id: str = Field(min_length=1)
    action: LocalShellAction
    status: ItemStatus = "completed"


class LocalShellCallOutput(WireModel):
    """The client's result for a `local_shell_call`. The spec links it by `id` (the call's
    id); clients (the Agents SDK) send `call_id`: either is taken as the link."""

    type: Literal["local_shell_call_output"] = "local_shell_call_output"
    id: str | None = None
    call_id: str | None = None
    output: str
    status: ItemStatus | None = omitted_when_none()

    @model_validator(mode="after")
    def _linked(self) -> "LocalShellCallOutput":
        if self.call_id is None:
            if self.id is None:
                raise ValueError("a local_shell_call_output needs `call_id` (or `id`)")
            self.call_id = self.id
        return self


class ComputerCall(WireModel):
    """The model asking the client (its `computer` tool) to act on a screen: `actions` in
    order for the `computer` tool, one `action` for `computer_use_preview`. Each action is
    an object with its `type` (click, double_click, drag, keypress, move, screenshot,
    scroll, type, wait) and that type's fields, kept as sent."""

    type: Literal["computer_call"] = "computer_call"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    action: dict[str, Any] | None = omitted_when_none()
    actions: list[dict[str, Any]] | None = omitted_when_none()
    pending_safety_checks: list[dict[str, Any]] = Field(default_factory=list)
    """Never any here: this server runs no safety classifier over screenshots."""
    status: ItemStatus = "completed"

    @model_validator(mode="after")
    def _acts(self) -> "ComputerCall":
        for action in self.actions if self.actions is not None else [self.action]:
            if not isinstance(action, dict) or not isinstance(action.get("type"), str):
                raise ValueError("a computer_call needs `action` or `actions`, each with a `type`")
        return self


class ComputerScreenshot(WireModel):
    type: Literal["computer_screenshot"] = "computer_screenshot"
    image_url: str | None = omitted_when_none()
    file_id: str | None = omitted_when_none()


class ComputerCallOutput(WireModel):
    """The client's result for a `computer_call`: a screenshot after its actions."""

    type: Literal["computer_call_output"] = "computer_call_output"
    id: str | None = None
    call_id: str = Field(min_length=1, max_length=64)
    output: ComputerScreenshot
    acknowledged_safety_checks: list[dict[str, Any]] | None = omitted_when_none()
    status: Literal["in_progress", "completed", "incomplete", "failed"] | None = omitted_when_none()
