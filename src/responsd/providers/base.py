"""The provider seam: a `ModelRequest` in, a stream of small `ModelDelta`s out.

Providers know nothing of events, ids, HTTP routes or storage; they translate foreign
errors into `responsd.errors.ProviderError` subclasses where they enter.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

from responsd.types.items import Item
from responsd.types.text import TextFormat


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A client tool as the model sees it: a function, or a custom tool taking text.
    `apply_patch`, `shell`, `local_shell` and `computer` are functions whose calls become
    those tools' own items (tools/client_run.py)."""

    name: str
    kind: Literal["function", "custom", "apply_patch", "shell", "local_shell", "computer"]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    namespace: str | None = None
    format: dict[str, Any] | None = None
    """Custom tools: the grammar their input should follow."""
    builtin: bool = False
    """A function of a built-in tool: the server runs its calls, the client never sees them."""


@dataclass(frozen=True, slots=True)
class ForcedTool:
    """`tool_choice` naming one tool that must be called."""

    name: str
    namespace: str | None = None


ToolMode: TypeAlias = Literal["none", "auto", "required"] | ForcedTool
TokenLogprob: TypeAlias = dict[str, Any]
"""One output token's log probability, as an output_text part shows it: `token`, `logprob`,
`bytes` (the token's UTF-8 bytes) and `top_logprobs` (the likeliest alternatives, each with
`token`, `logprob` and `bytes`)."""


class ItemMemo(Protocol):
    """Per-item results a provider may keep between requests (a long history is converted
    once, not on every turn). Items it does not hold recall None and remember nothing."""

    def recall(self, item: Item, key: str) -> Any: ...

    def remember(self, item: Item, key: str, value: Any) -> None: ...

    def forget(self, item: Item, key: str) -> None: ...


@dataclass(slots=True)
class ModelRequest:
    """Everything one model turn needs, already resolved and validated."""

    model: str
    items: list[Item]
    instructions: str | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: ToolMode = "auto"
    parallel_tool_calls: bool = True
    output_format: TextFormat | None = None
    # Sampling settings are None when the client left them to the backend's defaults.
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    max_output_tokens: int | None = None
    reasoning_effort: str | None = None
    reasoning_context: str | None = None
    """"current_turn" or "all_turns": which earlier reasoning the model sees again."""
    verbosity: str | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    service_tier: str | None = None
    stop: list[str] | None = None
    """Sequences that end the text where they first appear (not included); Chat Completions."""
    seed: int | None = None
    """Sampling seed for this request (Chat Completions); None: the backend's own."""
    logprobs: int | None = None
    """Return the log probability of each output text token, with this many of the most
    likely alternatives (0-20) at each position; None: none asked for."""
    memo: ItemMemo | None = None
    """Where conversions of `items` may be kept; the values must be treated as read-only."""
    memo_runs: tuple[list[Item], ...] = ()
    """The history lists `items` begins with, worth remembering conversions for (they come
    back every turn; this turn's input is remembered once it is history too): the whole
    history, then the list it was made from, if known. What was remembered for one of
    these very lists holds without comparing item by item."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    logprobs: tuple[TokenLogprob, ...] = ()
    """The log probabilities of the tokens this text came from, when the request asked for
    them (`ModelRequest.logprobs`): in the output_text part's wire shape."""


@dataclass(frozen=True, slots=True)
class RefusalDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Reasoning text, kept apart from the visible answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """A new tool call; `index` identifies it in the following argument deltas."""

    index: int
    call_id: str
    tool: ToolSpec


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """More arguments (functions: JSON text) or input (custom tools: raw text)."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class UsageDelta:
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Finish:
    reason: Literal["stop", "length", "tool_calls", "content_filter"]


ModelDelta: TypeAlias = (
    TextDelta | RefusalDelta | ReasoningDelta | ToolCallStart | ToolCallDelta | UsageDelta | Finish
)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    created: int = 0
    owned_by: str = "responsd"


class Provider(Protocol):
    honours: frozenset[str]
    """The generation parameters of providers.sampling it applies; `validate` refuses the
    others when set."""

    def validate(self, request: ModelRequest) -> None:
        """Raise a client error now (before any event) if `request` cannot run here."""
        ...

    def admit(self) -> None:
        """Raise ProviderRateLimitError now (before any event) when the backend cannot take
        one more request to generate; token counts and queued background work skip this."""
        ...

    def context_window(self, model: str) -> int | None:
        """Tokens the model can attend to; None when unknown."""
        ...

    def estimate_tokens(self, request: ModelRequest) -> int:
        """Input tokens of `request`: exact where the provider can tokenize, else an estimate."""
        ...

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelDelta]:
        """Run one model turn, yielding deltas as they come (an async generator)."""
        ...

    async def count_input_tokens(self, request: ModelRequest) -> int:
        """Exact number of input tokens the model would see for `request`."""
        ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def close(self) -> None: ...
