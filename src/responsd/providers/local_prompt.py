"""The embedded model's prompt: items → chat messages → the GGUF's own chat template.

Tool use is written in a documented text format (the default model's template has no
tool support), which the grammar in local_grammar enforces on the way out:
  - the tools are described in a system message (TOOL_INSTRUCTIONS);
  - earlier calls appear as the assistant writing the call syntax;
  - tool results come back as user messages: <tool_response name="…">output</tool_response>.
"""

from typing import Any

import orjson
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from responsd.errors import ProviderRequestError
from responsd.providers.base import ModelRequest, ToolSpec
from responsd.providers.chat_messages import text_of, wire_name
from responsd.providers.local_grammar import CALL_CLOSE, CALL_OPEN, CUSTOM_CLOSE, CUSTOM_OPEN
from responsd.types.content import InputFile, InputImage
from responsd.types.items import (
    CustomToolCall,
    CustomToolCallOutput,
    FunctionCall,
    FunctionCallOutput,
    Message,
)

TOOL_INSTRUCTIONS = (
    "You can call tools. To call a function, answer with only:\n"
    f'{CALL_OPEN}{{"name": "<function name>", "arguments": {{<arguments as JSON>}}}}{CALL_CLOSE}\n'
    "To call a free-form tool, answer with only:\n"
    f'{CUSTOM_OPEN}<tool name>">input{CUSTOM_CLOSE}\n'
    "Available tools:"
)


def _text(parts: str | list[Any], where: str) -> str:
    for part in parts if isinstance(parts, list) else ():
        if isinstance(part, (InputImage, InputFile)):
            raise ProviderRequestError(
                f"The local model reads text only; {where} holds a {part.type} part.",
                param=where,
            )
    return text_of(parts)


def describe_tools(tools: dict[str, ToolSpec]) -> str:
    lines = [TOOL_INSTRUCTIONS]
    for key, spec in tools.items():
        if spec.kind == "custom":
            lines.append(f"- {key} (free-form input): {spec.description or ''}".rstrip())
        else:
            schema = orjson.dumps(spec.parameters or {"type": "object"}).decode()
            lines.append(f"- {key}: {spec.description or ''} Arguments schema: {schema}")
    return "\n".join(lines)


def chat_messages(request: ModelRequest, tools: dict[str, ToolSpec]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    system = [request.instructions] if request.instructions else []
    if tools and request.tool_choice != "none":
        system.append(describe_tools(tools))
    if system:
        messages.append({"role": "system", "content": "\n\n".join(system)})
    names: dict[str, str] = {}
    for i, item in enumerate(request.items):
        where = f"input[{i}]"
        if isinstance(item, Message):
            role = "system" if item.role == "developer" else item.role
            messages.append({"role": role, "content": _text(item.content, where)})
        elif isinstance(item, FunctionCall):
            key = wire_name(item.name, item.namespace)
            names[item.call_id] = key
            # Arguments are the model's own JSON text; splice them in rather than re-parse
            # (a client may send back arguments that are not valid JSON).
            call = (
                f'{{"name": {orjson.dumps(key).decode()}, "arguments": {item.arguments or "{}"}}}'
            )
            messages.append({"role": "assistant", "content": CALL_OPEN + call + CALL_CLOSE})
        elif isinstance(item, CustomToolCall):
            key = wire_name(item.name, item.namespace)
            names[item.call_id] = key
            text = f'{CUSTOM_OPEN}{key}">{item.input}{CUSTOM_CLOSE}'
            messages.append({"role": "assistant", "content": text})
        elif isinstance(item, (FunctionCallOutput, CustomToolCallOutput)):
            name = names.get(item.call_id, item.call_id)
            output = _text(item.output, where)
            content = f'<tool_response name="{name}">{output}</tool_response>'
            messages.append({"role": "user", "content": content})
    return messages


class PromptRenderer:
    """Renders chat messages with the model's own chat template (from the GGUF metadata)."""

    def __init__(self, template: str, bos_token: str, eos_token: str):
        self._formatter = Jinja2ChatFormatter(
            template=template, bos_token=bos_token, eos_token=eos_token
        )

    def render(self, messages: list[dict[str, str]]) -> str:
        return self._formatter(messages=messages).prompt
