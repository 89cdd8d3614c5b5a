"""What a response does after each step: the loop matches on one of these values."""

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from responsd.tools.base import ToolJob


@dataclass(frozen=True, slots=True)
class NextStepRunAgain:
    """Another model turn, with what the last one produced (and tool results) in context."""


@dataclass(frozen=True, slots=True)
class NextStepRunTools:
    """Run built-in tool jobs, then decide again."""

    jobs: list[ToolJob] = field(default_factory=list)
    then_stop: bool = False
    """The turn also made client-side calls: the client answers next, the response ends."""


@dataclass(frozen=True, slots=True)
class NextStepFinish:
    """The response ends: completed, or incomplete for `reason`."""

    status: Literal["completed", "incomplete"] = "completed"
    reason: Literal["max_output_tokens", "content_filter", "steered"] | None = None


NextStep: TypeAlias = NextStepRunAgain | NextStepRunTools | NextStepFinish
