"""`chunking_strategy`: how a file's text is cut into the pieces that are indexed and found.

Tokens are counted as words and punctuation marks (`\\w+` or one other non-space
character), which tracks BPE token counts closely enough for sizing chunks and needs no
tokenizer download. Chunks are windows of `max_chunk_size_tokens` that overlap by
`chunk_overlap_tokens`, cut from the original text (whitespace and layout kept).
"""

import re
from typing import Any

from responsd.errors import InvalidRequestError

DEFAULT_MAX_TOKENS = 800
DEFAULT_OVERLAP = 400
"""The hosted API's `auto` strategy."""
MIN_TOKENS, MAX_TOKENS = 100, 4096

_TOKEN = re.compile(r"\w+|[^\w\s]")


def static_strategy(max_tokens: int, overlap: int) -> dict[str, Any]:
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": max_tokens, "chunk_overlap_tokens": overlap},
    }


def resolve_strategy(value: Any, param: str) -> dict[str, Any]:
    """The stored (static) strategy for a request's `chunking_strategy`; 400 when invalid."""
    if value is None or value == {"type": "auto"}:
        return static_strategy(DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP)
    if not isinstance(value, dict) or value.get("type") not in ("auto", "static"):
        raise InvalidRequestError(
            'chunking_strategy must be {"type": "auto"} or {"type": "static", "static": {...}}.',
            param=param,
        )
    static = value.get("static")
    if value["type"] == "auto" or not isinstance(static, dict) or set(value) != {"type", "static"}:
        raise InvalidRequestError(
            "A static chunking_strategy needs only `static` with max_chunk_size_tokens and "
            "chunk_overlap_tokens.",
            param=param,
        )
    size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
    if (
        set(static) != {"max_chunk_size_tokens", "chunk_overlap_tokens"}
        or not isinstance(size, int)
        or not isinstance(overlap, int)
        or isinstance(size, bool)
        or isinstance(overlap, bool)
    ):
        raise InvalidRequestError(
            "static needs the integers max_chunk_size_tokens and chunk_overlap_tokens.",
            param=f"{param}.static",
        )
    if not MIN_TOKENS <= size <= MAX_TOKENS:
        raise InvalidRequestError(
            f"max_chunk_size_tokens must be from {MIN_TOKENS} to {MAX_TOKENS}.",
            param=f"{param}.static.max_chunk_size_tokens",
        )
    if not 0 <= overlap <= size // 2:
        raise InvalidRequestError(
            "chunk_overlap_tokens must be from 0 to half of max_chunk_size_tokens.",
            param=f"{param}.static.chunk_overlap_tokens",
        )
    return static_strategy(size, overlap)


def chunk_text(text: str, strategy: dict[str, Any]) -> list[str]:
    """The chunks of `text` under a stored (static) strategy."""
    size = strategy["static"]["max_chunk_size_tokens"]
    overlap = strategy["static"]["chunk_overlap_tokens"]
    spans = [m.span() for m in _TOKEN.finditer(text)]
    chunks: list[str] = []
    step = size - overlap
    for start in range(0, len(spans), step):
        window = spans[start : start + size]
        chunks.append(text[window[0][0] : window[-1][1]])
        if start + size >= len(spans):
            break
    return chunks


def count_tokens(text: str) -> int:
    return sum(1 for _ in _TOKEN.finditer(text))
