"""Steering over a WebSocket (`response.steer`): user input queued for a running response.

What the hosted API documents, with one boundary for stopping early: a steered response
whose built-in tools (MCP, file search) just ran ends there, `incomplete` with
`incomplete_details.reason: "steered"`, instead of starting another model turn (the hosted
models may also stop mid-output; responsd's never cut a model turn short):

- `{"type": "response.steer", "previous_response_id", "input"}` (those fields only; input a
  string or a non-empty list of user messages) naming the response running on this socket
  is answered `response.steer.accepted` with a `steer_…` id, on the target's lane.
- When that response completes, an automatic successor continues from it with the queued
  input (in the order sent), with the same settings: its `response.created` is the commit
  point. Steers accepted meanwhile target the successor, and so on.
- When the response waits for client-owned results (function or custom tool calls, MCP
  approvals), the steers stay queued: `response.steer.pending` lists `required_input`
  stubs, and the client's next `response.create` continuing that response gets the queued
  input after the results it sends (the hosted API puts it first; a Chat Completions model
  needs each result right after its call).
- Otherwise `response.steer.failed` returns the input with an error code:
  `invalid_input`, `response_not_found` (not a response of this socket),
  `response_already_completed`, `steering_not_supported` (a response bound to a
  conversation or with `context_management`), `too_many_pending_steers`,
  `response_not_active` (it failed or was cancelled), `successor_creation_failed`.

Steering state lives on the socket only, like the hosted API's: nothing is stored until a
successor commits it.
"""

import secrets
from dataclasses import dataclass, field
from typing import Any

from responsd.api.parsing import validate
from responsd.engine.run import ResponseRun
from responsd.errors import ResponsdError
from responsd.types.requests import ResponseCreateRequest

MAX_STEERS = 16
"""Steers one response may hold queued."""
MAX_WAITING = 64
"""Responses per socket whose steers may wait for the client's tool results."""
STEER_FIELDS = {"type", "previous_response_id", "input"}
_ANSWERS = {"function_call_output", "custom_tool_call_output", "mcp_approval_response"}
"""Input items answering what a response left to the client (see `required_input`)."""


class SteerRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Steer:
    previous_response_id: str
    input: Any
    """As the client sent it (returned in a failure)."""
    items: list[dict[str, Any]]
    """As input items of the successor."""
    id: str = field(default_factory=lambda: f"steer_{secrets.token_hex(16)}")


@dataclass(slots=True)
class Running:
    """A lane's response in flight: what a steer needs of it."""

    response_id: str
    body: dict[str, Any]
    """Its create body, which an automatic successor inherits."""
    run: ResponseRun
    steers: list[Steer] = field(default_factory=list)
    sequence: int = -1
    """The sequence number of the last event sent for it."""
    shift: int = 0
    """Steering events sent inside its stream: its own later events are numbered past them."""

    def insert(self) -> int:
        """The sequence number of a steering event sent now, inside this response's stream."""
        self.shift += 1
        self.sequence += 1
        return self.sequence


def parse(data: dict[str, Any]) -> tuple[str | None, Any]:
    """The target id and input of a steer frame, before validation (for a failure event)."""
    target = data.get("previous_response_id")
    return (target if isinstance(target, str) else None), data.get("input")


def check(data: dict[str, Any]) -> Steer:
    """The steer a frame asks for; SteerRejected(`invalid_input`) when it is malformed."""
    extra = sorted(set(data) - STEER_FIELDS)
    if extra:
        raise SteerRejected(
            "invalid_input",
            f"response.steer takes only type, previous_response_id and input; not {extra}.",
        )
    target, given = parse(data)
    if not target:
        raise SteerRejected("invalid_input", "previous_response_id must name a response.")
    if isinstance(given, str) and given:
        items = [_user_message_of(given)]
    elif isinstance(given, list) and given and all(_is_user_message(m) for m in given):
        items = [{"type": "message", **m} for m in given]
    else:
        raise SteerRejected(
            "invalid_input",
            "input must be a non-empty string or a non-empty list of user messages "
            "(type, role 'user', content only).",
        )
    try:
        validate(ResponseCreateRequest, {"model": "steer", "input": items})
    except ResponsdError as exc:
        raise SteerRejected("invalid_input", exc.message) from None
    return Steer(target, given, items)


def _user_message_of(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


def _is_user_message(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and set(item) <= {"type", "role", "content"}
        and item.get("type", "message") == "message"
        and item.get("role") == "user"
        and "content" in item
    )


def steerable(body: dict[str, Any]) -> bool:
    """Whether a response created from `body` may be steered (the hosted API's rule)."""
    return not body.get("conversation") and not body.get("context_management")


def required_input(output: list[Any]) -> list[dict[str, Any]]:
    """Stubs of what the client must send before a response's successor can run."""
    stubs: list[dict[str, Any]] = []
    for item in output:
        match item.type:
            case "function_call":
                stubs.append(
                    {"type": "function_call_output", "call_id": item.call_id, "name": item.name}
                )
            case (
                "custom_tool_call"
                | "apply_patch_call"
                | "shell_call"
                | "local_shell_call"
                | "computer_call"
            ):
                stubs.append({"type": f"{item.type}_output", "call_id": item.call_id})
            case "mcp_approval_request":
                stubs.append({"type": "mcp_approval_response", "approval_request_id": item.id})
    return stubs


def successor_body(parent: Running, steers: list[Steer]) -> dict[str, Any]:
    """The automatic successor's create body: the parent's settings, its queued input."""
    return {
        **parent.body,
        "previous_response_id": parent.response_id,
        "input": [item for steer in steers for item in steer.items],
    }


def with_steers(body: dict[str, Any], steers: list[Steer]) -> dict[str, Any]:
    """A client's continuation with the steers that waited for it: after the results it
    carries (a Chat Completions model needs a call's result right after the call; the hosted
    API puts steers first), before the rest of its input."""
    given = body.get("input") or []
    own = [_user_message_of(given)] if isinstance(given, str) else given
    answers = [i for i in own if isinstance(i, dict) and i.get("type") in _ANSWERS]
    rest = [i for i in own if not (isinstance(i, dict) and i.get("type") in _ANSWERS)]
    return {**body, "input": [*answers, *(i for s in steers for i in s.items), *rest]}


def accepted(steer: Steer, sequence: int) -> dict[str, Any]:
    return {
        "type": "response.steer.accepted",
        "sequence_number": sequence,
        "steer": {"id": steer.id, "previous_response_id": steer.previous_response_id},
    }


def pending(steer: Steer, stubs: list[dict[str, Any]], sequence: int) -> dict[str, Any]:
    return {
        "type": "response.steer.pending",
        "sequence_number": sequence,
        "reason": "waiting_for_required_input",
        "required_input": stubs,
        "steer": {"id": steer.id, "previous_response_id": steer.previous_response_id},
    }


def failed(
    code: str,
    message: str,
    target: str | None,
    given: Any,
    sequence: int,
    steer_id: str | None = None,
) -> dict[str, Any]:
    steer: dict[str, Any] = {"input": given, "previous_response_id": target or ""}
    if steer_id is not None:
        steer["id"] = steer_id
    return {
        "type": "response.steer.failed",
        "sequence_number": sequence,
        "error": {"code": code, "message": message, "type": "invalid_request_error"},
        "steer": steer,
    }
