"""How the embedded model samples when the client does not say, and when it must stop.

Pure sampling (temperature 1, no top-k/min-p, no repetition control) makes a small model
wander into mixed-script garbage and loop on one phrase until its context is full. So a
setting the client leaves unset takes, in order: the GGUF's own recommendation
(`general.sampling.*`, written by the model's publisher), this module's table for models
known to publish theirs elsewhere (a model card), then llama.cpp's defaults. What the
client sets always wins. The Response still echoes the API defaults for unset fields
(temperature 1, top_p 1), as the hosted API does; the values used are logged at start.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace


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
KNOWN_MODELS: dict[str, dict[str, float]] = {
    "smollm2": {"temperature": 0.2, "top_p": 0.9},
}


def model_sampling(metadata: Mapping[str, str], file_name: str) -> tuple[Sampling, str]:
    """The model's default sampling, and where it came from (for the start-up log)."""
    types = {f.name: type(getattr(LLAMA_CPP_DEFAULTS, f.name)) for f in fields(Sampling)}
    published = {}
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


class RepetitionGuard:
    """Notices output stuck in a loop: the same block of tokens repeated back to back.

    For every period p up to `max_period`, `run[p]` counts how many of the latest tokens
    equal the token p places before them; a loop of period p spanning `span` tokens
    shows as run[p] + p >= span. A loop must cover `min_span` tokens and at least
    `min_repeats` copies of its block, so short refrains and list markup pass.
    """

    def __init__(self, max_period: int = 64, min_span: int = 96, min_repeats: int = 3):
        self.max_period = max_period
        self.min_span = min_span
        self.min_repeats = min_repeats
        self._tokens: list[int] = []
        self._run = [0] * (max_period + 1)
        self.tripped = False

    def looping(self, token: int) -> bool:
        """Add one generated token; True once the output is looping."""
        tokens = self._tokens
        tokens.append(token)
        n = len(tokens) - 1
        for p in range(1, min(self.max_period, n) + 1):
            if tokens[n - p] == token:
                self._run[p] += 1
                span = self._run[p] + p
                if span >= self.min_span and span >= self.min_repeats * p:
                    self.tripped = True
            else:
                self._run[p] = 0
        return self.tripped
