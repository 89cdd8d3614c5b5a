"""Token log probabilities of the embedded model's output.

`scored_token` reads the distribution a token was just sampled from (the context's last
logits, left as they were: llama.cpp's samplers work on a copy) and turns it into the
output_text part's entry for that token. It runs on the sampler's thread, once per token,
only when a request asks (a log-softmax over the vocabulary: ~0.1 ms for 49,152 tokens).

The sampled text then passes through the UTF-8 decoder, stop sequences and held-back
tool-call text before it becomes a TextDelta, so the tokens are matched to the text by
position: `TokenLedger` hands each delta the tokens whose text begins inside what has been
shown so far. A token cut by a stop sequence is listed once its first character is shown;
tokens whose text never is (a stop sequence, a tool call) are never handed out.
"""

import threading
from collections import deque

import numpy as np
from llama_cpp import Llama, llama_get_logits_ith

from responsd.providers.base import TokenLogprob


def scored_token(llama: Llama, token: int, piece: bytes, top: int, prev: list[int]) -> TokenLogprob:
    """The entry of `token` (its bytes: `piece`), sampled from the last logits of `llama`,
    with its `top` likeliest alternatives (`prev`: the tokens before it, for their text)."""
    logits = np.ctypeslib.as_array(llama_get_logits_ith(llama.ctx, -1), shape=(llama.n_vocab(),))
    logprobs = Llama.logits_to_logprobs(logits)
    alternatives = []
    if top:
        best = np.argpartition(logprobs, -top)[-top:]
        for other in sorted(best, key=lambda t: -logprobs[t]):
            text = piece if other == token else llama.detokenize([int(other)], prev_tokens=prev)
            alternatives.append(_entry(text, float(logprobs[other])))
    return {**_entry(piece, float(logprobs[token])), "top_logprobs": alternatives}


def _entry(piece: bytes, logprob: float) -> TokenLogprob:
    return {"token": piece.decode(errors="replace"), "logprob": logprob, "bytes": list(piece)}


class TokenLedger:
    """Sampled tokens, each with the length of the text it added, waiting to be shown.
    `add` is called from the sampler's thread, `take` from the event loop."""

    def __init__(self) -> None:
        self._waiting: deque[tuple[int, TokenLogprob]] = deque()
        self._lock = threading.Lock()
        self._start = 0
        """Where the next waiting token's text begins, in characters of the output."""
        self._shown = 0

    def add(self, chars: int, token: TokenLogprob) -> None:
        with self._lock:
            self._waiting.append((chars, token))

    def take(self, chars: int) -> tuple[TokenLogprob, ...]:
        """The tokens whose text begins within the next `chars` characters shown."""
        self._shown += chars
        taken = []
        with self._lock:
            while self._waiting and self._start < self._shown:
                length, token = self._waiting.popleft()
                self._start += length
                taken.append(token)
        return tuple(taken)
