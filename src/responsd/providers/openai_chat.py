"""Any OpenAI-compatible Chat Completions server (vLLM, SGLang, Ollama, llama.cpp, OpenAI).

The upstream is always streamed; tool-call fragments are assembled by index, usage
(with cached tokens) is read from the final chunk.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from responsd.concurrency import offload
from responsd.errors import ProviderError
from responsd.ids import new_call_id
from responsd.providers import sampling
from responsd.providers.base import (
    Finish,
    ModelDelta,
    ModelInfo,
    ModelRequest,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolCallStart,
    ToolSpec,
    UsageDelta,
)
from responsd.providers.chat_messages import (
    body_json,
    chat_messages,
    chat_tool,
    chat_tool_choice,
    tool_table,
    unconverted,
)
from responsd.providers.think_tags import ThinkSplitter
from responsd.providers.upstream_http import UpstreamHTTP, error_message
from responsd.types.text import FormatJSONObject, FormatJSONSchema

_FINISH_REASONS = {
    "stop": "stop",
    "eos": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    base_url: str
    api_key: str | None = None
    read_timeout: float = 300.0
    connect_timeout: float = 10.0
    think_tags: bool = False
    """Treat `<think>…</think>` in the content as reasoning (models without a reasoning parser)."""
    reasoning_history: str = "drop"
    """"drop" earlier reasoning, or send it back as `reasoning_content` on assistant turns."""
    context_window: int | None = None
    """The upstream model's context, in tokens, for `truncation`; None when not configured."""


BYTES_PER_TOKEN = 3
"""Token estimate for upstreams, which expose no tokenizer: generous, so a fit is a real fit
(English averages about 4 bytes per token, JSON and code fewer)."""


@dataclass(slots=True)
class _StreamState:
    tools: dict[str, ToolSpec]
    think: ThinkSplitter | None = None
    calls: dict[int, ToolSpec] = field(default_factory=dict)
    custom_inputs: dict[int, list[str]] = field(default_factory=dict)
    finish: str | None = None
    usage: UsageDelta | None = None
    reasoning_chars: int = 0
    text_chars: int = 0
    top_logprobs: int | None = None
    """Alternatives per token asked for; None: no log probabilities asked for."""

    # Text and reasoning deltas are made here, counted as they are made (for final_usage).

    def reasoning(self, text: str) -> ReasoningDelta:
        self.reasoning_chars += len(text)
        return ReasoningDelta(text)

    def text(self, text: str, logprobs: tuple[TokenLogprob, ...] = ()) -> TextDelta:
        self.text_chars += len(text)
        return TextDelta(text, logprobs)

    def final_usage(self) -> UsageDelta | None:
        usage = self.usage
        if usage is None or usage.reasoning_tokens or not self.reasoning_chars:
            return usage
        # Servers that split <think> text report no reasoning tokens: share out the output
        # tokens by characters (an estimate, documented in the README).
        share = self.reasoning_chars / (self.reasoning_chars + self.text_chars)
        return replace(usage, reasoning_tokens=round(usage.output_tokens * share))


class OpenAIChatModel:
    """Provider for an OpenAI-compatible Chat Completions upstream."""

    def __init__(self, config: UpstreamConfig):
        self._config = config
        self._http = UpstreamHTTP(
            config.base_url, config.api_key, config.read_timeout, config.connect_timeout
        )

    async def close(self) -> None:
        await self._http.close()

    honours = frozenset(sampling.NAMES)  # sent as given; the upstream decides

    def validate(self, request: ModelRequest) -> None:
        sampling.check(request, self.honours, "The upstream")
        tool_table(request.tools)

    def admit(self) -> None:
        pass  # an upstream answers its own 429s, passed on with their Retry-After

    def context_window(self, model: str) -> int | None:
        return self._config.context_window

    def estimate_tokens(self, request: ModelRequest) -> int:
        body = self._body(request, tool_table(request.tools))
        size = sum(map(len, body_json(body)))
        return -(-size // BYTES_PER_TOKEN)

    async def list_models(self) -> list[ModelInfo]:
        answer = await self._http.get_json("/models")
        try:
            return [
                ModelInfo(m["id"], int(m.get("created") or 0), m.get("owned_by") or "upstream")
                for m in answer["data"]
            ]
        except (KeyError, TypeError) as exc:
            raise ProviderError("The upstream's /models answer is not a model list.") from exc

    async def count_input_tokens(self, request: ModelRequest) -> int:
        # Chat Completions has no tokenizer endpoint; a one-token generation reports the
        # exact prompt size the upstream computed, chat template and tools included.
        body = self._body(request, tool_table(request.tools))
        body["max_tokens"] = 1
        usage = None
        async for delta in self._deltas(request, body):
            if isinstance(delta, UsageDelta):
                usage = delta
        if usage is None:
            raise ProviderError("The upstream does not report usage, so tokens cannot be counted.")
        return usage.input_tokens

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelDelta]:
        return self._deltas(request)

    def _body(self, request: ModelRequest, tools: dict[str, ToolSpec]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": chat_messages(request, self._reasoning_history(request)),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = [chat_tool(key, spec) for key, spec in tools.items()]
            body["tool_choice"] = chat_tool_choice(request.tool_choice)
            body["parallel_tool_calls"] = request.parallel_tool_calls
        fmt = request.output_format
        if isinstance(fmt, FormatJSONSchema):
            schema = {"name": fmt.name, "schema": fmt.schema_, "strict": bool(fmt.strict)}
            if fmt.description:
                schema["description"] = fmt.description
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif isinstance(fmt, FormatJSONObject):
            body["response_format"] = {"type": "json_object"}
        body.update(sampling.wire(request))
        if request.logprobs is not None:
            # top_logprobs even when 0: llama-cpp-python's server gives none without it.
            body.update(logprobs=True, top_logprobs=request.logprobs)
        for name in ("reasoning_effort", "verbosity"):
            if (value := getattr(request, name)) is not None:
                body[name] = value
        return body

    def _reasoning_history(self, request: ModelRequest) -> str:
        # The request's reasoning.context wins over the server's setting.
        history = {"current_turn": "drop", "all_turns": "reasoning_content"}
        return history.get(request.reasoning_context or "", self._config.reasoning_history)

    async def _deltas(
        self, request: ModelRequest, body: dict[str, Any] | None = None
    ) -> AsyncIterator[ModelDelta]:
        """The upstream's answer to `request` (sent as `body` when given) as deltas. One
        generator from the request to the deltas: every layer of them costs each token."""
        tools = tool_table(request.tools)
        if body is None:
            work = unconverted(request, self._reasoning_history(request))
            body = await offload(work, self._body, request, tools)
        state = _StreamState(tools, ThinkSplitter() if self._config.think_tags else None)
        if body.get("logprobs"):
            state.top_logprobs = body["top_logprobs"]
        done = False
        async with self._http.stream_lines("/chat/completions", body_json(body)) as batches:
            # Read to the end even after [DONE]: a body left unread closes the connection
            # instead of returning it to the pool.
            async for lines in batches:
                for line in lines:
                    if done or not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        done = True
                        continue
                    for delta in _chunk_deltas(_parse_chunk(data), state):
                        yield delta
        if not done and state.finish is None:
            raise ProviderError("The upstream closed the stream before finishing its answer.")
        if state.think is not None:
            for kind, piece in state.think.flush():
                yield state.reasoning(piece) if kind == "reasoning" else state.text(piece)
        for index, parts in state.custom_inputs.items():
            yield ToolCallDelta(index, _unwrap_custom_input("".join(parts)))
        usage = state.final_usage()
        if usage is not None:
            yield usage
        yield Finish(_FINISH_REASONS.get(state.finish or "stop", "stop"))  # type: ignore[arg-type]


def _parse_chunk(data: bytes) -> dict[str, Any]:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProviderError(
            f"The upstream sent a stream chunk that is not JSON: {data[:200]!r}"
        ) from exc
    if not isinstance(chunk, dict):
        raise ProviderError(
            f"The upstream sent a stream chunk that is not an object: {data[:200]!r}"
        )
    if "error" in chunk:
        raise ProviderError(f"The upstream failed mid-stream: {error_message(chunk)}")
    return chunk


def _chunk_deltas(chunk: dict[str, Any], state: _StreamState) -> list[ModelDelta]:
    deltas: list[ModelDelta] = []
    usage = chunk.get("usage")
    if usage:
        state.usage = UsageDelta(
            input_tokens=usage.get("prompt_tokens") or 0,
            output_tokens=usage.get("completion_tokens") or 0,
            cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
            reasoning_tokens=(usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
            or 0,
        )
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        # vLLM and SGLang name it reasoning_content; Ollama and newer vLLM, reasoning.
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            deltas.append(state.reasoning(reasoning))
        content = delta.get("content")
        if content:
            logprobs = (
                ()
                if state.top_logprobs is None
                else _token_logprobs(choice.get("logprobs"), state.top_logprobs)
            )
            if state.think is None:
                deltas.append(state.text(content, logprobs))
            else:
                # Split by think tags, the tokens go with the chunk's first answer text.
                for kind, piece in state.think.feed(content):
                    if kind == "reasoning":
                        deltas.append(state.reasoning(piece))
                    else:
                        deltas.append(state.text(piece, logprobs))
                        logprobs = ()
        if delta.get("refusal"):
            deltas.append(RefusalDelta(delta["refusal"]))
        for call in delta.get("tool_calls") or ():
            deltas.extend(_tool_call_deltas(call, state))
        if choice.get("finish_reason"):
            state.finish = choice["finish_reason"]
    return deltas


def _token_logprobs(logprobs: Any, top: int) -> tuple[TokenLogprob, ...]:
    """A chunk's `logprobs.content` in the output_text part's shape (`bytes`, which some
    servers leave out, from the token's text; at most `top` alternatives, where some give
    more); () when it has none."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return ()
    tokens = []
    for entry in content:
        if isinstance(entry, dict):
            given = entry.get("top_logprobs")
            given = (
                [other for other in given if isinstance(other, dict)][:top]
                if isinstance(given, list)
                else []
            )
            tokens.append({**_token(entry), "top_logprobs": [_token(other) for other in given]})
    return tuple(tokens)


def _token(entry: dict[str, Any]) -> TokenLogprob:
    token = entry.get("token")
    token = token if isinstance(token, str) else ""
    logprob = entry.get("logprob")
    raw = entry.get("bytes")
    return {
        "token": token,
        # -9999.0: Chat Completions' own value for "very unlikely" (no probability given).
        "logprob": float(logprob) if isinstance(logprob, int | float) else -9999.0,
        "bytes": raw if isinstance(raw, list) else list(token.encode()),
    }


def _tool_call_deltas(call: dict[str, Any], state: _StreamState) -> list[ModelDelta]:
    index = call.get("index", 0)
    function = call.get("function") or {}
    deltas: list[ModelDelta] = []
    if index not in state.calls:
        name = function.get("name") or ""
        # A name the request did not declare is still the model's call; pass it on as is.
        spec = state.tools.get(name) or ToolSpec(name=name, kind="function")
        state.calls[index] = spec
        if spec.kind == "custom":
            state.custom_inputs[index] = []
        deltas.append(ToolCallStart(index, call.get("id") or new_call_id(), spec))
    arguments = function.get("arguments")
    if arguments:
        if index in state.custom_inputs:
            state.custom_inputs[index].append(arguments)
        else:
            deltas.append(ToolCallDelta(index, arguments))
    return deltas


def _unwrap_custom_input(arguments: str) -> str:
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return value["input"]
    return arguments
