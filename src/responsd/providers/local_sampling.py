"""How the embedded model samples when the client does not say, and when it must stop.

Pure sampling (temperature 1, no top-k/min-p, no repetition control) makes a small model
wander into mixed-script garbage and loop on one phrase until its context is full. So a
setting the client leaves unset takes, in order: the GGUF's own recommendation
(`general.sampling.*`, written by the model's publisher), this module's table for models
known to publish theirs elsewhere (a model card), then llama.cpp's defaults. What the
client sets always wins. The Response still echoes the API defaults for unset fields
(temperature 1, top_p 1), as the hosted API does; the values used are logged at start.
"""

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Sampling:
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    """Applied over the last `repeat_last_n` tokens; 1.0 turns it off."""
    repeat_last_n: int = 64


LLAMA_CPP_DEFAULTS = Sampling()
"""llama.cpp's common defaults, with its classic mild repetition penalty."""

_GGUF_KEYS = {
    "temperature": "general.sampling.temp",
    "top_p": "general.sampling.top_p",
    "top_k": "general.sampling.top_k",
    "min_p": "general.sampling.min_p",
    "repeat_penalty": "general.sampling.penalty_repeat",
    "repeat_last_n": "general.sampling.penalty_last_n",
}

# Models whose publishers recommend settings outside the GGUF: matched by a lower-case
# fragment of `general.name` or the file name. SmolLM2's model card generates with
# temperature 0.2 and top_p 0.9.
KNOWN_MODELS: dict[str, dict[str, Any]] = {
    "smollm2": {"temperature": 0.2, "top_p": 0.9},
}


def model_sampling(metadata: Mapping[str, str], file_name: str) -> tuple[Sampling, str]:
    """The model's default sampling, and where it came from (for the start-up log)."""
    types = {f.name: type(getattr(LLAMA_CPP_DEFAULTS, f.name)) for f in fields(Sampling)}
    published: dict[str, Any] = {}
    for name, key in _GGUF_KEYS.items():
        if key in metadata:
            try:
                published[name] = types[name](float(metadata[key]))
            except ValueError:
                continue  # a malformed value: the next source decides
    if published:
        return replace(LLAMA_CPP_DEFAULTS, **published), "the GGUF's general.sampling.*"
    names = f"{metadata.get('general.name', '')} {file_name}".lower()
    for fragment, values in KNOWN_MODELS.items():
        if fragment in names:
            return replace(LLAMA_CPP_DEFAULTS, **values), f"the {fragment} model card"
    return LLAMA_CPP_DEFAULTS, "llama.cpp's defaults"


class _Periodicity:
    """Notices a sequence stuck in a loop: the same block repeated back to back.

    For every period p up to `max_period`, `run[p]` counts how many of the latest items
    equal the item p places before them; a loop of period p spanning `span` items shows
    as run[p] + p >= span. A loop must cover `min_span` items and at least `min_repeats`
    copies of its block, so short refrains and list markup pass.
    """

    def __init__(self, max_period: int, min_span: int, min_repeats: int = 3):
        self.max_period = max_period
        self.min_span = min_span
        self.min_repeats = min_repeats
        self._recent: deque[object] = deque(maxlen=max_period + 1)
        self._run = [0] * (max_period + 1)

    def add(self, item: object) -> bool:
        """Add one item; True when the sequence now ends in a loop."""
        recent = self._recent
        recent.append(item)
        n = len(recent) - 1
        looping = False
        for p in range(1, n + 1):
            if recent[n - p] == item:
                self._run[p] += 1
                span = self._run[p] + p
                looping |= span >= self.min_span and span >= self.min_repeats * p
            else:
                self._run[p] = 0
        return looping


class RepetitionGuard:
    """Ends output that loops, seen in tokens (a phrase repeated: 96 tokens or more) or in
    characters (the same few characters over and over, as "+++…" written with tokens of
    varying length: 256 characters or more)."""

    def __init__(self) -> None:
        self._tokens = _Periodicity(max_period=64, min_span=96)
        self._chars = _Periodicity(max_period=32, min_span=256)
        self.tripped = False

    def looping(self, token: int, text: str) -> bool:
        """Add one generated token and its text; True once the output is looping."""
        tripped = self._tokens.add(token)
        for char in text:
            tripped |= self._chars.add(char)
        self.tripped |= tripped
        return self.tripped
