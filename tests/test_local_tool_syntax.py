"""A model whose chat template knows tools calls them in its own syntax.

The weights are SmolLM2's; the chat template (RESPONSD_LOCAL_CHAT_TEMPLATE) is a
Hermes-style one written here, as Qwen and Hermes models carry: tools listed by the
template, calls as <tool_call>{…}</tool_call>, results as tool messages.
"""

from collections.abc import Iterator

import openai
import orjson
import pytest

from responsd.providers.base import ModelRequest, ToolSpec
from responsd.providers.local_prompt import PromptRenderer, chat_messages, template_tools
from responsd.providers.tool_syntax import HERMES, LLAMA3, MISTRAL, RESPONSD, detect
from responsd.types.items import FunctionCall, FunctionCallOutput, Message
from tests.conftest import embedded

MODEL = "SmolLM2-135M-Instruct.Q4_1"
HERMES_TEMPLATE = """\
{%- if tools %}<|im_start|>system
{% if messages[0].role == 'system' %}{{ messages[0].content }}

{% endif %}You may call functions, listed in <tools></tools>:
<tools>
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}</tools>
To call one, write <tool_call>
{"name": <name>, "arguments": <arguments object>}
</tool_call><|im_end|>
{% elif messages[0].role == 'system' %}<|im_start|>system
{{ messages[0].content }}<|im_end|>
{% endif %}
{%- for message in messages %}
{%- if message.role == 'system' %}
{%- elif message.role == 'assistant' and message.tool_calls %}<|im_start|>assistant
{% for call in message.tool_calls %}<tool_call>
{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments | tojson }}}
</tool_call>{% endfor %}<|im_end|>
{% elif message.role == 'tool' %}<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% else %}<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


@pytest.fixture(scope="module")
def hermes(tmp_path_factory) -> Iterator[openai.OpenAI]:
    directory = tmp_path_factory.mktemp("hermes")
    template = directory / "template.jinja"
    template.write_text(HERMES_TEMPLATE)
    with (
        embedded(directory, local_context=2048, local_chat_template=template) as server,
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0) as client,
    ):
        yield client


def test_templates_are_recognised_by_their_tool_syntax():
    assert detect(HERMES_TEMPLATE) == HERMES
    assert detect("{{ tools }} [TOOL_CALLS] {{ messages }}") == MISTRAL
    assert detect("{% if tools %}<|python_tag|>{% endif %}") == LLAMA3
    assert detect("{% for m in messages %}{{ m.content }}{% endfor %}") == RESPONSD


def test_the_template_renders_the_tools_the_call_and_its_result():
    spec = ToolSpec("get_weather", "function", "Current weather.", WEATHER["parameters"])
    items = [
        Message(role="user", content="Weather in Paris?"),
        FunctionCall(call_id="c1", name="get_weather", arguments='{"city": "Paris"}'),
        FunctionCallOutput(call_id="c1", output="sunny"),
    ]
    request = ModelRequest(model=MODEL, items=items, tools=[spec])
    tools = {"get_weather": spec}
    renderer = PromptRenderer(HERMES_TEMPLATE, bos_token="", eos_token="<|im_end|>")
    prompt = renderer.render(
        chat_messages(request, tools, HERMES), template_tools(tools, request, HERMES)
    )
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather"' in prompt
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}' in prompt
    assert "<tool_response>\nsunny\n</tool_response>" in prompt
    assert "You can call tools" not in prompt  # responsd's own instructions are not added


def test_a_forced_call_is_written_in_the_templates_syntax(hermes):
    response = hermes.responses.create(
        model=MODEL,
        input="What is the weather in Paris?",
        tools=[WEATHER],
        tool_choice="required",
    )
    call = response.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert isinstance(orjson.loads(call.arguments)["city"], str)


def test_a_call_and_its_result_go_back_through_the_template(hermes):
    first = hermes.responses.create(
        model=MODEL, input="Weather in Paris?", tools=[WEATHER], tool_choice="required"
    )
    call = first.output[0]
    answer = hermes.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER],
        tool_choice="none",
        max_output_tokens=32,
    )
    assert answer.output[0].type == "message" and answer.output_text


def test_a_grammar_custom_tool_needs_responsds_syntax(hermes):
    tool = {
        "type": "custom",
        "name": "set_code",
        "format": {"type": "grammar", "syntax": "regex", "definition": "[A-Z]{3}"},
    }
    with pytest.raises(openai.BadRequestError) as info:
        hermes.responses.create(model=MODEL, input="x", tools=[tool], tool_choice="required")
    assert "RESPONSD_LOCAL_TOOL_SYNTAX=responsd" in info.value.message


def test_a_plain_custom_tool_is_a_function_with_one_input(hermes):
    tool = {"type": "custom", "name": "note", "description": "Write a short note."}
    response = hermes.responses.create(
        model=MODEL, input="Note: buy milk.", tools=[tool], tool_choice="required"
    )
    item = response.output[0]
    assert item.type == "custom_tool_call" and item.name == "note"
    assert isinstance(item.input, str)
