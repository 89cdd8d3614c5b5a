"""A response as Chat Completions shows it: the final ChatCompletion, or its stream chunks.

Reasoning appears as `message.reasoning_content` (and `delta.reasoning_content` when
streamed), the field open servers (vLLM, SGLang, DeepSeek) use: the hosted API shows no
reasoning on this endpoint, and clients that read it know that name.
"""

from typing import Any

from responsd.types.content import OutputText
from responsd.types.events import (
    ResponseCompletedEvent,
    ResponseCustomToolCallInputDeltaEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseIncompleteEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputTextDeltaEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseRefusalDeltaEvent,
    ResponseStreamEvent,
)
from responsd.types.items import CustomToolCall, FunctionCall, Message, Reasoning
from responsd.types.response import Response, Usage


def finish_reason(response: Response) -> str:
    if any(isinstance(item, FunctionCall | CustomToolCall) for item in response.output):
        return "tool_calls"
    details = response.incomplete_details
    if details is not None:
        return "length" if details.reason == "max_output_tokens" else "content_filter"
    return "stop"


def chat_usage(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.input_tokens_details.cached_tokens,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": usage.output_tokens_details.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_call(item: FunctionCall | CustomToolCall) -> dict[str, Any]:
    if isinstance(item, CustomToolCall):
        return {
            "id": item.call_id,
            "type": "custom",
            "custom": {"name": item.name, "input": item.input},
        }
    return {
        "id": item.call_id,
        "type": "function",
        "function": {"name": item.name, "arguments": item.arguments},
    }


def assistant_message(response: Response) -> dict[str, Any]:
    texts: list[str] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in response.output:
        if isinstance(item, Message) and isinstance(item.content, list):
            for part in item.content:
                if part.type == "output_text":
                    texts.append(part.text)
                elif part.type == "refusal":
                    refusals.append(part.refusal)
        elif isinstance(item, FunctionCall | CustomToolCall):
            calls.append(_tool_call(item))
        elif isinstance(item, Reasoning):
            reasoning.extend(part.text for part in item.content or ())
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not (calls or refusals) else None,
        "refusal": "".join(refusals) or None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    return message


def _logprobs(tokens: list[dict[str, Any]]) -> dict[str, Any]:
    return {"content": tokens, "refusal": None}


def output_logprobs(response: Response) -> list[dict[str, Any]]:
    """The token log probabilities of the response's output text, in order."""
    return [
        token
        for item in response.output
        if isinstance(item, Message)
        for part in item.content
        if isinstance(part, OutputText)
        for token in part.logprobs
    ]


def chat_completion(
    response: Response, completion_id: str, created: int, logprobs: bool = False
) -> dict[str, Any]:
    """`logprobs`: the request asked for them (else the choice's logprobs are null)."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": assistant_message(response),
                "logprobs": _logprobs(output_logprobs(response)) if logprobs else None,
                "finish_reason": finish_reason(response),
            }
        ],
        "usage": chat_usage(response.usage),
        "service_tier": response.service_tier,
    }


class ChunkWriter:
    """Turns a response's events into `chat.completion.chunk` objects, as they come."""

    def __init__(
        self,
        completion_id: str,
        created: int,
        model: str,
        include_usage: bool,
        service_tier: str = "default",
        logprobs: bool = False,
    ):
        self.completion_id = completion_id
        self.logprobs = logprobs
        """Text chunks carry their tokens' log probabilities (else null)."""
        self.created = created
        self._base: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": service_tier,
        }
        if include_usage:
            self._base["usage"] = None  # every chunk carries the key; the last one, the usage
        self._include_usage = include_usage
        self._calls: dict[str, int] = {}  # output item id → index in tool_calls
        self.final: Response | None = None
        """The response, once its stream has ended well."""

    def _chunk(
        self, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None
    ) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        return {**self._base, "choices": [choice]}

    def first(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": "", "refusal": None})

    def chunks(self, event: ResponseStreamEvent) -> list[dict[str, Any]]:
        """Chunks for one event (most events show nothing on this endpoint)."""
        if isinstance(event, ResponseOutputTextDeltaEvent):
            tokens = _logprobs(event.logprobs) if self.logprobs else None
            return [self._chunk({"content": event.delta}, logprobs=tokens)]
        if isinstance(event, ResponseRefusalDeltaEvent):
            return [self._chunk({"refusal": event.delta})]
        if isinstance(event, ResponseReasoningTextDeltaEvent):
            return [self._chunk({"reasoning_content": event.delta})]
        if isinstance(event, ResponseOutputItemAddedEvent):
            return self._call_started(event.item)
        if isinstance(event, ResponseFunctionCallArgumentsDeltaEvent):
            index = self._calls[event.item_id]
            call = {"index": index, "function": {"arguments": event.delta}}
            return [self._chunk({"tool_calls": [call]})]
        if isinstance(event, ResponseCustomToolCallInputDeltaEvent):
            call = {"index": self._calls[event.item_id], "custom": {"input": event.delta}}
            return [self._chunk({"tool_calls": [call]})]
        if isinstance(event, ResponseCompletedEvent | ResponseIncompleteEvent):
            self.final = event.response
            chunks = [self._chunk({}, finish_reason(event.response))]
            if self._include_usage:
                chunks.append(
                    {**self._base, "choices": [], "usage": chat_usage(event.response.usage)}
                )
            return chunks
        return []

    def _call_started(self, item: Any) -> list[dict[str, Any]]:
        if not isinstance(item, FunctionCall | CustomToolCall):
            return []
        index = self._calls[item.id or ""] = len(self._calls)
        call = _tool_call(item)
        if isinstance(item, CustomToolCall):
            call["custom"]["input"] = ""
        else:
            call["function"]["arguments"] = ""
        return [self._chunk({"tool_calls": [{"index": index, **call}]})]
