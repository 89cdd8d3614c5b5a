"""A Chat Completions request as the engine's Responses request: messages become items.

The mapping is the migration guide's, read backwards: system/developer/user/assistant
messages → message items (in place, so a system message mid-conversation stays there),
assistant `tool_calls` → function_call / custom_tool_call items, `tool` messages →
function_call_output items, `response_format` → `text.format`, tools unnested from
`function`, `reasoning_effort` → `reasoning.effort`. What has no Responses equivalent and
is honoured here (`stop`, `seed`, small `max_tokens`) is applied to the model request.
"""

import re
from dataclasses import dataclass
from typing import Any

from responsd.engine.requests import LOGPROBS
from responsd.errors import InvalidRequestError, UnsupportedParameterError
from responsd.types.chat import (
    AssistantMessage,
    AudioPart,
    ChatCompletionRequest,
    ChatCustomTool,
    ChooseAllowed,
    ChooseCustom,
    ChooseFunction,
    FilePart,
    FunctionMessage,
    FunctionToolCall,
    ImagePart,
    RefusalPart,
    ResponseFormatJSONObject,
    ResponseFormatJSONSchema,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)

MAX_STOP_SEQUENCES = 4

_NOT_SUPPORTED = {
    "audio": "Audio output is not supported by this server; leave out `audio`.",
    "logit_bias": "logit_bias is not supported by this server.",
    "prediction": "Predicted outputs are not supported by this server.",
    "web_search_options": "Web search is not supported by this server.",
    "functions": "The deprecated `functions` parameter is not supported; send them as "
    '`tools` ({"type": "function", "function": {…}}).',
    "function_call": "The deprecated `function_call` parameter is not supported; use "
    "`tool_choice`.",
    "moderation": "Moderation is not supported by this server.",
}


@dataclass(frozen=True, slots=True)
class ChatTranslation:
    """A Chat Completions request as a Responses request body, with what the body cannot say
    (limits for the model turn) and the way back from its parameter names to the chat ones."""

    body: dict[str, Any]
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    origins: tuple[int, ...] = ()
    """For each input item, the index of the message it came from."""

    def overrides(self) -> dict[str, Any]:
        """Model request fields beyond the Responses body (see Engine.prepare)."""
        fields: dict[str, Any] = {"stop": self.stop, "seed": self.seed}
        if self.max_tokens is not None:  # any size, where Responses asks for at least 16
            fields["max_output_tokens"] = self.max_tokens
        return fields

    def chat_param(self, param: str | None) -> str | None:
        """The chat request's name for a parameter named in a Responses error."""
        if param is None:
            return None
        if (item := re.match(r"input\[(\d+)\]", param)) and int(item[1]) < len(self.origins):
            rest = param[item.end() :].replace(".call_id", ".tool_call_id")
            return f"messages[{self.origins[int(item[1])]}]{rest}"
        if tool := re.match(r"(tools\[\d+\])\.(parameters|description|strict)$", param):
            return f"{tool[1]}.function.{tool[2]}"
        for prefix, chat in _PARAMS:
            if param == prefix or param.startswith(prefix + "."):
                return chat + param[len(prefix) :]
        return param


_PARAMS = (
    ("text.format", "response_format.json_schema"),
    ("text.verbosity", "verbosity"),
    ("reasoning.effort", "reasoning_effort"),
    ("max_output_tokens", "max_completion_tokens"),
    ("include", "logprobs"),
    ("input", "messages"),
)


def as_response_body(chat: ChatCompletionRequest) -> ChatTranslation:
    """The Responses request body that answers `chat`, and what goes with it."""
    _check_supported(chat)
    items: list[dict[str, Any]] = []
    origins: list[int] = []
    for i, message in enumerate(chat.messages):
        converted = _items(message, i)
        items.extend(converted)
        origins.extend([i] * len(converted))
    body: dict[str, Any] = {
        "model": chat.model,
        "input": items,
        "store": False,  # stored completions are kept by the chat endpoint itself
        "temperature": chat.temperature,
        "top_p": chat.top_p,
        "presence_penalty": chat.presence_penalty,
        "frequency_penalty": chat.frequency_penalty,
        "user": chat.user,
        "safety_identifier": chat.safety_identifier,
        "prompt_cache_key": chat.prompt_cache_key,
        "prompt_cache_retention": chat.prompt_cache_retention,
        "prompt_cache_options": chat.prompt_cache_options
        and chat.prompt_cache_options.model_dump(exclude_none=True),
        "service_tier": chat.service_tier,
        "text": {"format": _format(chat), "verbosity": chat.verbosity},
    }
    if chat.logprobs:
        body["include"] = [LOGPROBS]
        body["top_logprobs"] = chat.top_logprobs
    if chat.tools:
        body["tools"] = [_tool(tool) for tool in chat.tools]
    if chat.tool_choice is not None:
        body["tool_choice"] = _tool_choice(chat.tool_choice)
    if chat.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = chat.parallel_tool_calls
    if chat.reasoning_effort is not None:
        body["reasoning"] = {"effort": chat.reasoning_effort}
    stop = [chat.stop] if isinstance(chat.stop, str) else chat.stop
    return ChatTranslation(
        {k: v for k, v in body.items() if v is not None},
        chat.max_completion_tokens or chat.max_tokens,
        stop,
        chat.seed,
        tuple(origins),
    )


def _check_supported(chat: ChatCompletionRequest) -> None:
    for name, message in _NOT_SUPPORTED.items():
        if getattr(chat, name) is not None:
            raise UnsupportedParameterError(message, param=name)
    if chat.n not in (None, 1):
        raise UnsupportedParameterError(
            "Only one choice per request is supported (n=1); send the request n times instead.",
            param="n",
        )
    if chat.top_logprobs is not None and not chat.logprobs:
        raise InvalidRequestError("top_logprobs needs logprobs set to true.", param="top_logprobs")
    if chat.modalities and "audio" in chat.modalities:
        raise UnsupportedParameterError(
            'Audio output is not supported; use modalities ["text"].', param="modalities"
        )
    if chat.stream_options is not None and not chat.stream:
        raise InvalidRequestError(
            "stream_options is only allowed when stream is true.", param="stream_options"
        )
    if chat.stream_options and chat.stream_options.include_obfuscation:
        raise UnsupportedParameterError(
            "Stream obfuscation is not supported; set include_obfuscation to false.",
            param="stream_options.include_obfuscation",
        )
    stop = chat.stop if isinstance(chat.stop, list) else []
    if len(stop) > MAX_STOP_SEQUENCES or any(not s for s in stop) or chat.stop == "":
        raise InvalidRequestError(
            f"stop takes up to {MAX_STOP_SEQUENCES} non-empty sequences.", param="stop"
        )


def _items(message: Any, index: int) -> list[dict[str, Any]]:
    where = f"messages[{index}]"
    if isinstance(message, FunctionMessage):
        raise UnsupportedParameterError(
            "Messages with role 'function' (the deprecated function calling) are not "
            "supported; answer tool calls with role 'tool' messages.",
            param=f"{where}.role",
        )
    if getattr(message, "name", None) is not None:
        raise UnsupportedParameterError(
            "Participant names on messages are not supported; put the name in the content.",
            param=f"{where}.name",
        )
    if isinstance(message, SystemMessage):
        return [{"role": message.role, "content": _text(message.content)}]
    if isinstance(message, UserMessage):
        return [{"role": "user", "content": _user_content(message.content, where)}]
    if isinstance(message, AssistantMessage):
        return _assistant_items(message, where)
    assert isinstance(message, ToolMessage)
    return [
        {
            "type": "function_call_output",
            "call_id": message.tool_call_id,
            "output": _text(message.content),
        }
    ]


def _text(content: str | list[TextPart]) -> str:
    return content if isinstance(content, str) else "".join(part.text for part in content)


def _user_content(content: str | list, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if isinstance(part, TextPart):
            parts.append({"type": "input_text", "text": part.text})
        elif isinstance(part, ImagePart):
            image = {"type": "input_image", "image_url": part.image_url.url}
            parts.append({**image, "detail": part.image_url.detail or "auto"})
        elif isinstance(part, FilePart):
            file = part.file.model_dump(exclude_none=True)
            if not file.get("file_id") and not file.get("file_data"):
                raise InvalidRequestError(
                    "A file part needs file_id or file_data.", param=f"{where}.content[{j}].file"
                )
            parts.append({"type": "input_file", **file})
        else:
            assert isinstance(part, AudioPart)
            raise UnsupportedParameterError(
                "Audio input is not supported by this server.", param=f"{where}.content[{j}]"
            )
    return parts


def _assistant_items(message: AssistantMessage, where: str) -> list[dict[str, Any]]:
    for name in ("audio", "function_call"):
        if getattr(message, name) is not None:
            raise UnsupportedParameterError(
                f"Assistant messages with `{name}` are not supported here.",
                param=f"{where}.{name}",
            )
    items: list[dict[str, Any]] = []
    if message.reasoning_content:
        text = {"type": "reasoning_text", "text": message.reasoning_content}
        items.append({"type": "reasoning", "summary": [], "content": [text]})
    parts: list[dict[str, Any]] = []
    if isinstance(message.content, str) and message.content:
        text = {"type": "output_text", "text": message.content}
        parts.append({**text, "annotations": message.annotations or []})
    elif isinstance(message.content, list):
        for part in message.content:
            if isinstance(part, RefusalPart):
                parts.append({"type": "refusal", "refusal": part.refusal})
            else:
                parts.append({"type": "output_text", "text": part.text})
    if message.refusal:
        parts.append({"type": "refusal", "refusal": message.refusal})
    if parts:
        items.append({"type": "message", "role": "assistant", "content": parts})
    for call in message.tool_calls or ():
        if isinstance(call, FunctionToolCall):
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.function.name,
                    "arguments": call.function.arguments,
                }
            )
        else:
            items.append(
                {
                    "type": "custom_tool_call",
                    "call_id": call.id,
                    "name": call.custom.name,
                    "input": call.custom.input,
                }
            )
    return items


def _tool(tool: Any) -> dict[str, Any]:
    if isinstance(tool, ChatCustomTool):
        return {"type": "custom", **tool.custom.model_dump(exclude_none=True)}
    function = tool.function
    return {
        "type": "function",
        "name": function.name,
        "description": function.description,
        "parameters": function.parameters or {"type": "object", "properties": {}},
        # Chat Completions functions are not strict unless asked (Responses: strict by default).
        "strict": bool(function.strict),
    }


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, ChooseFunction):
        return {"type": "function", "name": choice.function.name}
    if isinstance(choice, ChooseCustom):
        return {"type": "custom", "name": choice.custom.name}
    assert isinstance(choice, ChooseAllowed)
    tools = []
    for tool in choice.allowed_tools.tools:
        kind = tool.get("type")
        inner = tool.get(kind) if isinstance(kind, str) else None
        name = inner.get("name") if isinstance(inner, dict) else None
        if kind not in ("function", "custom") or not isinstance(name, str):
            raise InvalidRequestError(
                'allowed_tools.tools entries look like {"type": "function", "function": '
                '{"name": …}}.',
                param="tool_choice.allowed_tools.tools",
            )
        tools.append({"type": kind, "name": name})
    return {"type": "allowed_tools", "mode": choice.allowed_tools.mode, "tools": tools}


def _format(chat: ChatCompletionRequest) -> dict[str, Any]:
    fmt = chat.response_format
    if isinstance(fmt, ResponseFormatJSONObject):
        return {"type": "json_object"}
    if isinstance(fmt, ResponseFormatJSONSchema):
        spec = fmt.json_schema
        out: dict[str, Any] = {
            "type": "json_schema",
            "name": spec.name,
            "schema": spec.schema_ if spec.schema_ is not None else {},
            "strict": bool(spec.strict),
        }
        if spec.description is not None:
            out["description"] = spec.description
        return out
    return {"type": "text"}
