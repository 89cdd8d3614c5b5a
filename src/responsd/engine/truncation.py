"""`truncation`: make the context fit the model's window, or say that it does not.

"auto" drops the oldest items until the input (plus `max_output_tokens`, when set) fits.
System and developer messages are never dropped, and a call is never separated from its
output: items are dropped in groups that close every call they open. "disabled" answers
400 `context_length_exceeded` instead. The window and the count come from the provider:
exact for the embedded model, `RESPONSD_UPSTREAM_CONTEXT_WINDOW` and an estimate for upstreams.
"""

from dataclasses import replace

from responsd.errors import InvalidRequestError
from responsd.providers.base import ModelRequest, Provider
from responsd.types.items import (
    CustomToolCall,
    CustomToolCallOutput,
    FunctionCall,
    FunctionCallOutput,
    Item,
    Message,
)

PINNED = -1


def drop_groups(items: list[Item]) -> list[int]:
    """Group number of each item (PINNED for system/developer messages), oldest first."""
    groups: list[int] = []
    group, open_calls = -1, set[str]()
    for item in items:
        if isinstance(item, Message) and item.role in ("system", "developer"):
            groups.append(PINNED)
            continue
        if not open_calls:
            group += 1
        groups.append(group)
        if isinstance(item, FunctionCall | CustomToolCall):
            open_calls.add(item.call_id)
        elif isinstance(item, FunctionCallOutput | CustomToolCallOutput):
            open_calls.discard(item.call_id)
    return groups


def fit_context(provider: Provider, request: ModelRequest, truncation: str | None) -> ModelRequest:
    window = provider.context_window(request.model)
    if window is None:
        if truncation == "auto":
            raise InvalidRequestError(
                "truncation 'auto' needs the model's context window; set "
                "RESPONSD_UPSTREAM_CONTEXT_WINDOW.",
                param="truncation",
            )
        return request  # the upstream enforces its own window
    budget = window - (request.max_output_tokens or 0)
    size = provider.estimate_tokens(request)
    if size <= budget:
        return request
    if truncation != "auto":
        raise _too_long(size, window, request)
    groups = drop_groups(request.items)
    last = max(groups, default=PINNED)

    def keeping(first: int) -> ModelRequest:
        items = [i for i, g in zip(request.items, groups, strict=True) if g == PINNED or g >= first]
        # The items no longer begin with the history: nothing is remembered for it from them.
        return replace(request, items=items, memo_runs=())

    # Dropping more never adds tokens, so the fewest groups to drop is a binary search.
    low, high = 1, last
    if high < low or provider.estimate_tokens(keeping(high)) > budget:
        raise _too_long(size, window, request)
    while low < high:
        middle = (low + high) // 2
        if provider.estimate_tokens(keeping(middle)) <= budget:
            high = middle
        else:
            low = middle + 1
    return keeping(low)


def _too_long(size: int, window: int, request: ModelRequest) -> InvalidRequestError:
    reserved = (
        f" minus max_output_tokens {request.max_output_tokens}" if request.max_output_tokens else ""
    )
    return InvalidRequestError(
        f"The input is {size} tokens, more than the model's context window of {window}"
        f"{reserved}. Shorten the input, or set truncation to 'auto' to drop the oldest items.",
        param="input",
        code="context_length_exceeded",
    )
