"""The embedded model's prompt: items → chat messages → the GGUF's own chat template.

A template that knows tools renders them itself (tool_syntax: the tool list, assistant
`tool_calls`, `tool` result messages). Otherwise (the default model's template has no tool
support) tool use is written in a documented text format, which the grammar in
local_grammar enforces on the way out:
  - the tools are described in a system message (TOOL_INSTRUCTIONS);
  - earlier calls appear as the assistant writing the call syntax;
  - tool results come back as user messages: <tool_response name="…">output</tool_response>.
"""

from typing import Any

import orjson
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from responsd.errors import ProviderRequestError
from responsd.providers.base import ModelRequest, ToolSpec
from responsd.providers.chat_messages import chat_tool, text_of, wire_name
from responsd.providers.tool_syntax import (
    CALL_CLOSE,
    CALL_OPEN,
    CUSTOM_CLOSE,
    CUSTOM_OPEN,
    RESPONSD,
    ToolSyntax,
)
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


def template_tools(
    tools: dict[str, ToolSpec], request: ModelRequest, syntax: ToolSyntax
) -> list[dict[str, Any]] | None:
    """The tool list a tool-aware template renders itself (None: responsd describes them)."""
    if not syntax.native or not tools or request.tool_choice == "none":
        return None
    return [chat_tool(key, spec) for key, spec in tools.items()]


def chat_messages(
    request: ModelRequest, tools: dict[str, ToolSpec], syntax: ToolSyntax = RESPONSD
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = [request.instructions] if request.instructions else []
    if not syntax.native and tools and request.tool_choice != "none":
        system.append(describe_tools(tools))
    if system:
        messages.append({"role": "system", "content": "\n\n".join(system)})
    names: dict[str, str] = {}
    for i, item in enumerate(request.items):
        where = f"input[{i}]"
        if isinstance(item, Message):
            role = "system" if item.role == "developer" else item.role
            messages.append({"role": role, "content": _text(item.content, where)})
        elif isinstance(item, (FunctionCall, CustomToolCall)):
            key = names[item.call_id] = wire_name(item.name, item.namespace)
            if syntax.native:
                _add_template_call(messages, item, key)
            else:
                messages.append({"role": "assistant", "content": _written_call(item, key)})
        elif isinstance(item, (FunctionCallOutput, CustomToolCallOutput)):
            name = names.get(item.call_id, item.call_id)
            output = _text(item.output, where)
            if syntax.native:
                result = {"role": "tool", "tool_call_id": item.call_id, "name": name}
                messages.append({**result, "content": output})
            else:
                content = f'<tool_response name="{name}">{output}</tool_response>'
                messages.append({"role": "user", "content": content})
    return messages


def _written_call(item: FunctionCall | CustomToolCall, key: str) -> str:
    """An earlier call as the assistant wrote it, in responsd's format."""
    if isinstance(item, CustomToolCall):
        return f'{CUSTOM_OPEN}{key}">{item.input}{CUSTOM_CLOSE}'
    # Arguments are the model's own JSON text; splice them in rather than re-parse
    # (a client may send back arguments that are not valid JSON).
    call = f'{{"name": {orjson.dumps(key).decode()}, "arguments": {item.arguments or "{}"}}}'
    return CALL_OPEN + call + CALL_CLOSE


def _add_template_call(
    messages: list[dict[str, Any]], item: FunctionCall | CustomToolCall, key: str
) -> None:
    """An earlier call as an assistant `tool_calls` entry, for the template to write."""
    if isinstance(item, CustomToolCall):
        arguments: Any = {"input": item.input}
    else:
        try:  # templates write arguments with `tojson`: give them the object
            arguments = orjson.loads(item.arguments or "{}")
        except orjson.JSONDecodeError:
            arguments = item.arguments
    call = {
        "id": item.call_id,
        "type": "function",
        "function": {"name": key, "arguments": arguments},
    }
    last = messages[-1] if messages else {}
    if last.get("role") == "assistant" and last.get("tool_calls"):
        last["tool_calls"].append(call)  # parallel calls: one assistant turn
    else:
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})


class PromptRenderer:
    """Renders chat messages with the model's own chat template (from the GGUF metadata)."""

    def __init__(self, template: str, bos_token: str, eos_token: str):
        self._formatter = Jinja2ChatFormatter(
            template=template, bos_token=bos_token, eos_token=eos_token
        )

    def render(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> str:
        # llama-cpp-python types these as its TypedDicts; ours are the same plain dicts.
        return self._formatter(messages=messages, tools=tools).prompt  # type: ignore[arg-type]
