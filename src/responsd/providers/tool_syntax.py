"""How the embedded model writes a tool call: its own trained syntax, or responsd's.

A GGUF whose chat template knows tools was trained to call them one way; a model loaded
by name should be asked in that way. The template is read once (`detect`):
  - HERMES   `<tool_call>{"name": …, "arguments": {…}}</tool_call>` (Qwen 2.5/3, Hermes,
             and the many templates that follow them);
  - MISTRAL  `[TOOL_CALLS][{"name": …, "arguments": {…}}]`;
  - LLAMA3   a bare `{"name": …, "parameters": {…}}` (Llama 3.1–3.3 JSON tool calling);
  - RESPONSD the documented format of responsd, for templates without tools (SmolLM2).
With a trained syntax, the template itself renders the tool list (`tools`), earlier calls
(assistant `tool_calls`) and results (`tool` messages); the grammar enforces the same
syntax on the way out. Free-form (custom) tools become functions with one string
parameter, `input`, as they are for chat upstreams.
"""

from dataclasses import dataclass

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
CUSTOM_OPEN, CUSTOM_CLOSE = '<custom_tool_call name="', "</custom_tool_call>"


@dataclass(frozen=True, slots=True)
class ToolSyntax:
    name: str
    opener: str
    """Text before the call JSON (may be empty)."""
    closer: str
    arguments_key: str = "arguments"
    as_list: bool = False
    """The calls are a JSON list."""
    native: bool = True
    """The chat template renders tools, calls and results (else responsd writes them)."""

    @property
    def marker(self) -> str:
        """What a call starts with: plain text must not, so that the two stay apart."""
        return self.opener.strip() or "{"


RESPONSD = ToolSyntax("responsd", CALL_OPEN, CALL_CLOSE, native=False)
HERMES = ToolSyntax("hermes", CALL_OPEN + "\n", "\n" + CALL_CLOSE)
MISTRAL = ToolSyntax("mistral", "[TOOL_CALLS]", "", as_list=True)
LLAMA3 = ToolSyntax("llama3", "", "", arguments_key="parameters")


def detect(template: str) -> ToolSyntax:
    """The tool syntax a chat template was written for (RESPONSD when it has none)."""
    if "tools" not in template:
        return RESPONSD
    if "[TOOL_CALLS]" in template:
        return MISTRAL
    if CALL_OPEN in template:
        return HERMES
    if "<|python_tag|>" in template or ("ipython" in template and "parameters" in template):
        return LLAMA3
    return RESPONSD
