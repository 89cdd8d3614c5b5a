"""The embedded model, for real: answers, grammar-enforced JSON and calls, KV reuse, cancel."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum

import httpx
import lark
import openai
import pytest
from pydantic import BaseModel
from websockets.sync.client import connect

from bench.servers import ServerThread
from responsd.app import create_app
from responsd.config import Settings
from responsd.providers.local import default_model_path
from tests.conftest import embedded
from tests.docs import HANDBOOK

MODEL = "SmolLM2-135M-Instruct.Q4_1"


def test_models_list_shows_the_local_model(local):
    assert [m.id for m in local.models.list()] == [MODEL]


def test_a_plain_answer_is_non_empty_text(local):
    response = local.responses.create(
        model=MODEL, input="What is the capital of France?", temperature=0, max_output_tokens=32
    )
    assert response.output_text.strip()
    assert response.usage.output_tokens > 0 and response.usage.input_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_unknown_model_is_a_400(local):
    with pytest.raises(openai.BadRequestError) as info:
        local.responses.create(model="gpt-9", input="hi")
    assert info.value.param == "model" and MODEL in info.value.message


def test_streaming_works_like_an_upstream(local):
    events = list(
        local.responses.create(
            model=MODEL, input="Say hi.", temperature=0, max_output_tokens=16, stream=True
        )
    )
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert events[-1].type in ("response.completed", "response.incomplete")
    assert len(deltas) > 1 and "".join(deltas) == events[-1].response.output_text


class Color(StrEnum):
    red = "red"
    green = "green"
    blue = "blue"


class Address(BaseModel):
    street: str
    number: int


class Person(BaseModel):
    name: str
    age: int
    height_m: float
    favourite: Color
    address: Address
    hobbies: list[str]


class Inventory(BaseModel):
    items: list[Address]
    total: float
    in_stock: bool


@pytest.mark.parametrize(
    ("schema", "prompt"),
    [
        (Person, "Invent a person."),
        (Inventory, "List two warehouse addresses."),
        (Address, "Where does Sherlock Holmes live?"),
    ],
)
def test_parse_always_validates(local, schema, prompt):
    response = local.responses.parse(model=MODEL, input=prompt, text_format=schema, temperature=0)
    assert response.status == "completed"
    assert isinstance(response.output_parsed, schema)


def test_sampled_json_still_validates(local):
    for _ in range(3):
        response = local.responses.parse(
            model=MODEL,
            input="Invent a person.",
            text_format=Person,
            temperature=1.0,
        )
        assert response.status == "completed", response.output_text
        Person.model_validate_json(response.output_text)


def test_json_object_mode_returns_an_object(local):
    response = local.responses.create(
        model=MODEL,
        input="Give me a JSON object.",
        text={"format": {"type": "json_object"}},
        temperature=0,
    )
    assert response.status == "completed"
    assert isinstance(json.loads(response.output_text), dict)


def test_a_schema_keyword_the_grammar_cannot_enforce_is_a_400(local):
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 3}},
        "required": ["n"],
        "additionalProperties": False,
    }
    with pytest.raises(openai.BadRequestError) as info:
        local.responses.create(
            model=MODEL,
            input="x",
            text={"format": {"type": "json_schema", "name": "n", "schema": schema, "strict": True}},
        )
    assert info.value.param == "text.format.schema" and "minimum" in info.value.message


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}
TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}}


def test_required_tool_choice_yields_a_valid_call(local):
    response = local.responses.create(
        model=MODEL,
        input="What's the weather in Oslo?",
        tools=[WEATHER, TIME],
        tool_choice="required",
        temperature=0,
    )
    call = response.output[0]
    assert call.type == "function_call" and call.name in ("get_weather", "get_time")
    arguments = json.loads(call.arguments)
    if call.name == "get_weather":
        assert set(arguments) == {"city", "unit"} and arguments["unit"] in ("c", "f")


def test_a_call_cut_by_the_cap_leaves_no_call_syntax_behind(local):
    tool = {
        "type": "function",
        "name": "write_story",
        "description": "Write a long story.",
        "parameters": {
            "type": "object",
            "properties": {"story": {"type": "string", "minLength": 200}},
            "required": ["story"],
        },
    }
    response = local.responses.create(
        model=MODEL,
        input="Write a story.",
        tools=[tool],
        tool_choice="required",
        max_output_tokens=16,
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert "tool_call" not in response.model_dump_json(include={"output"})


def test_a_named_function_is_the_one_called_and_none_forbids_calls(local):
    forced = local.responses.create(
        model=MODEL,
        input="Hello",
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "name": "get_time"},
        temperature=0,
    )
    assert [(i.type, i.name) for i in forced.output] == [("function_call", "get_time")]
    none = local.responses.create(
        model=MODEL,
        input="What's the weather in Oslo?",
        tools=[WEATHER],
        tool_choice="none",
        temperature=0,
        max_output_tokens=24,
    )
    assert [i.type for i in none.output] == ["message"]


def test_a_regex_custom_tool_input_follows_its_grammar(local):
    tool = {
        "type": "custom",
        "name": "set_code",
        "description": "Set a code.",
        "format": {"type": "grammar", "syntax": "regex", "definition": "[A-Z]{3}-[0-9]{2}"},
    }
    response = local.responses.create(
        model=MODEL, input="Set a code.", tools=[tool], tool_choice="required", temperature=0
    )
    item = response.output[0]
    assert item.type == "custom_tool_call"
    assert len(item.input) == 6 and item.input[3] == "-" and item.input[:3].isupper()


# The grammar Codex CLI sends with its `apply_patch` custom tool (openai/codex).
APPLY_PATCH_LARK = r"""start: begin_patch hunk+ end_patch
begin_patch: "*** Begin Patch" LF
end_patch: "*** End Patch" LF?

hunk: add_hunk | delete_hunk | update_hunk
add_hunk: "*** Add File: " filename LF add_line+
delete_hunk: "*** Delete File: " filename LF
update_hunk: "*** Update File: " filename LF change_move? change?

filename: /(.+)/
add_line: "+" /(.*)/ LF -> line

change_move: "*** Move to: " filename LF
change: (change_context | change_line)+ eof_line?
change_context: ("@@" | "@@ " /(.+)/) LF
change_line: ("+" | "-" | " ") /(.*)/ LF
eof_line: "*** End of File" LF

%import common.LF
"""


def _lark_tool(definition: str) -> dict:
    return {
        "type": "custom",
        "name": "apply_patch",
        "description": "Edit files with a patch.",
        "format": {"type": "grammar", "syntax": "lark", "definition": definition},
    }


def test_codex_apply_patch_input_follows_its_lark_grammar(local):
    response = local.responses.create(
        model=MODEL,
        input="Create a file hello.txt that says hello.",
        tools=[_lark_tool(APPLY_PATCH_LARK)],
        tool_choice={"type": "custom", "name": "apply_patch"},
        max_output_tokens=200,
    )
    item = response.output[0]
    assert item.type == "custom_tool_call" and item.name == "apply_patch"
    # Lark itself is the judge: the input is a sentence of the grammar the client sent.
    # (Lark's lexers refuse the zero-width terminal /(.*)/; the optional [/(.+)/] is the
    # same language.)
    judge = lark.Lark(APPLY_PATCH_LARK.replace("/(.*)/", "[/(.+)/]"), parser="earley")
    judge.parse(item.input)
    assert item.input.startswith("*** Begin Patch\n")


@pytest.mark.parametrize(
    ("definition", "construct"),
    [
        ('start: WORD\n%import common.WORD\n%ignore " "', "%ignore"),
        ('start: "x"i', "case-insensitive"),
        ("start: /x/i", "flags"),
        ("start: _sep{x, y}", "templates"),
        ("start: other", "other"),
        ("%import common.FOO\nstart: FOO", "common.FOO"),
    ],
)
def test_a_lark_construct_outside_the_subset_is_a_400_naming_it(local, definition, construct):
    with pytest.raises(openai.BadRequestError) as info:
        local.responses.create(
            model=MODEL, input="x", tools=[_lark_tool(definition)], tool_choice="required"
        )
    assert info.value.param == "tools" and construct in info.value.message


def test_function_call_round_trip_with_previous_response_id(local):
    first = local.responses.create(
        model=MODEL,
        input="Weather in Oslo?",
        tools=[WEATHER],
        tool_choice="required",
        temperature=0,
    )
    call = first.output[0]
    second = local.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        tools=[WEATHER],
        temperature=0,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "12 C, rain"}],
        max_output_tokens=32,
    )
    assert second.status in ("completed", "incomplete") and second.output


def test_a_second_turn_reuses_the_cached_prefix(local):
    first = local.responses.create(
        model=MODEL, input="Tell me about cats.", temperature=0, max_output_tokens=24
    )
    assert first.usage.input_tokens_details.cached_tokens == 0 or first.usage.input_tokens > 0
    second = local.responses.create(
        model=MODEL,
        input="And dogs?",
        previous_response_id=first.id,
        temperature=0,
        max_output_tokens=24,
    )
    cached = second.usage.input_tokens_details.cached_tokens
    assert cached > 0
    assert cached >= first.usage.input_tokens - 2  # the whole first prompt was still there


def test_input_tokens_count_is_exact(local):
    counted = local.responses.input_tokens.count(model=MODEL, input="Count these tokens please.")
    response = local.responses.create(
        model=MODEL, input="Count these tokens please.", temperature=0, max_output_tokens=16
    )
    assert counted.input_tokens == response.usage.input_tokens


def test_max_output_tokens_is_honoured(local):
    response = local.responses.create(
        model=MODEL, input="Write a long story about the sea.", temperature=0, max_output_tokens=16
    )
    assert response.status == "incomplete"
    assert response.usage.output_tokens == 16


def test_a_seeded_sampler_repeats_itself(local_server, tmp_path):
    def run():
        with openai.OpenAI(base_url=f"{local_server.url}/v1", api_key="x") as c:
            return c.responses.create(
                model=MODEL, input="Name a fruit.", temperature=1.0, max_output_tokens=24
            ).output_text

    assert run() == run()


def test_a_disconnected_stream_stops_generating(local_server):
    body = {
        "model": MODEL,
        "input": "Write a very long story.",
        "stream": True,
        "max_output_tokens": 3000,
        "temperature": 1.0,
    }
    with httpx.Client(base_url=f"{local_server.url}/v1", timeout=30) as http:
        with http.stream("POST", "/responses", json=body) as reply:
            for line in reply.iter_lines():
                if "output_text.delta" in line:
                    break  # leave after the first token: closes the connection
        started = time.monotonic()
        reply = http.post(
            "/responses", json={"model": MODEL, "input": "Hi", "max_output_tokens": 16}
        )
        assert reply.status_code == 200
    # With one context, the second request waits for the first to stop; 3,000 more tokens
    # would take tens of seconds.
    assert time.monotonic() - started < 3


def test_a_websocket_hang_up_stops_generating(local_server):
    """Closing the socket mid-turn cancels the turn like a dropped stream."""
    url = local_server.url.replace("http://", "ws://", 1) + "/v1/responses"
    turn = {
        "type": "response.create",
        "model": MODEL,
        "input": "Write a very long story.",
        "max_output_tokens": 3000,
        "temperature": 1.0,
    }
    with connect(url) as ws:
        ws.send(json.dumps(turn))
        while json.loads(ws.recv(timeout=30))["type"] != "response.output_text.delta":
            pass
    started = time.monotonic()
    with httpx.Client(base_url=f"{local_server.url}/v1", timeout=30) as http:
        reply = http.post(
            "/responses", json={"model": MODEL, "input": "Hi", "max_output_tokens": 16}
        )
    assert reply.status_code == 200
    assert time.monotonic() - started < 3  # one context: it waited for the first to stop


def test_concurrent_requests_queue_and_all_finish(local):
    def ask(n: int) -> str:
        return local.responses.create(
            model=MODEL, input=f"Count to {n}.", temperature=0, max_output_tokens=16
        ).status

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(ask, range(4)))
    assert all(status in ("completed", "incomplete") for status in statuses)


def test_any_gguf_is_served_under_its_file_name(tmp_path):
    path = tmp_path / "my-tiny-model.gguf"
    path.symlink_to(default_model_path())
    settings = Settings(_env_file=None, data_dir=tmp_path, model_path=path, local_context=1024)
    server = ServerThread(create_app(settings)).start()
    try:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0) as c:
            assert [m.id for m in c.models.list()] == ["my-tiny-model"]
            reply = c.responses.create(model="my-tiny-model", input="Hi", max_output_tokens=16)
            assert reply.output_text
    finally:
        server.stop()


def test_history_with_unparsable_call_arguments_is_accepted(local):
    response = local.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "Weather?"},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{oops"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
        tools=[WEATHER],
        tool_choice="none",
        max_output_tokens=16,
    )
    assert response.output


def test_reasoning_effort_beyond_minimal_is_a_400_naming_the_model(local):
    assert local.responses.create(
        model=MODEL, input="Hi", reasoning={"effort": "minimal"}, max_output_tokens=16
    ).output
    with pytest.raises(openai.BadRequestError) as info:
        local.responses.create(model=MODEL, input="Hi", reasoning={"effort": "high"})
    assert info.value.param == "reasoning.effort" and MODEL in info.value.message


def test_the_embedded_model_gives_each_tokens_log_probability(local):
    response = local.responses.create(
        model=MODEL,
        input="What is the capital of France?",
        include=["message.output_text.logprobs"],
        top_logprobs=3,
        max_output_tokens=24,
    )
    part = response.output[0].content[0]
    tokens = part.logprobs
    # One entry per sampled token, their text the answer's (nothing was cut here).
    assert len(tokens) == response.usage.output_tokens
    assert "".join(t.token for t in tokens) == part.text
    for token in tokens:
        assert token.logprob <= 0 and bytes(token.bytes).decode(errors="replace") == token.token
        values = [a.logprob for a in token.top_logprobs]
        assert len(values) == 3 and values == sorted(values, reverse=True)
        assert sum(2.718281828**v for v in values) <= 1.0001  # a distribution's top three
        # The alternatives are the top of the distribution the token was sampled from.
        assert values[0] >= token.logprob - 1e-6
        for alternative in token.top_logprobs:
            if alternative.token == token.token:
                assert alternative.logprob == pytest.approx(token.logprob)


def test_embedded_log_probabilities_stream_and_follow_stop_sequences(local):
    events = list(
        local.responses.create(
            model=MODEL,
            input="Name a color.",
            include=["message.output_text.logprobs"],
            max_output_tokens=40,
            stream=True,
        )
    )
    streamed = [t for e in events if e.type == "response.output_text.delta" for t in e.logprobs]
    final = events[-1].response.output[0].content[0]
    assert [t.token for t in streamed] == [t.token for t in final.logprobs]
    assert streamed and all(t.top_logprobs == [] for t in streamed)
    # Cut by a stop sequence: tokens whose text is shown (a token cut in two, too), no more.
    ask = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Write a short poem about the sea."}],
        "temperature": 0,
        "max_tokens": 40,
        "logprobs": True,
    }
    whole = local.chat.completions.create(**ask).choices[0]
    text = whole.message.content
    assert "".join(t.token for t in whole.logprobs.content) == text
    # A stop a few tokens long, beginning inside a token: that token is listed, not the rest.
    starts = [len("".join(t.token for t in whole.logprobs.content[:i])) for i in range(20)]
    begin = next(s for i, s in enumerate(starts) if i > 5 and starts[i + 1] - s > 2) + 1
    stop = text[begin : begin + 12]
    cut = local.chat.completions.create(stop=[stop], **ask).choices[0]
    shown = cut.message.content
    joined = "".join(t.token for t in cut.logprobs.content)
    assert shown == text[: text.find(stop)]
    assert text.startswith(joined) and joined.startswith(shown)
    assert len(joined) - len(cut.logprobs.content[-1].token) < len(shown)  # began in view


def test_truncation_uses_the_exact_window(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, local_context=1024, local_seed=1)
    server = ServerThread(create_app(settings)).start()
    history = [{"role": "user", "content": f"note {n}: " + "word " * 60} for n in range(20)]
    history.append({"role": "user", "content": "Summarize."})
    try:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0) as c:
            with pytest.raises(openai.BadRequestError) as info:
                c.responses.create(model=MODEL, input=history, max_output_tokens=16)
            assert info.value.code == "context_length_exceeded"
            response = c.responses.create(
                model=MODEL, input=history, truncation="auto", max_output_tokens=16
            )
            assert 800 < response.usage.input_tokens <= 1024 - 16
    finally:
        server.stop()


@pytest.fixture(scope="module")
def local_tools(tmp_path_factory, mcp_servers):
    """The embedded model on a server that may reach the loopback MCP server."""
    path = tmp_path_factory.mktemp("local-tools")
    with (
        embedded(path, allow_private_network=True) as server,
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as c,
    ):
        yield c


def test_the_embedded_model_calls_an_mcp_tool_under_its_grammar(local_tools, mcp, mcp_servers):
    tool = {
        "type": "mcp",
        "server_label": "calc",
        "server_url": mcp_servers[1],
        "require_approval": "never",
        "allowed_tools": ["add"],
    }
    response = local_tools.responses.create(
        model=MODEL,
        input="What is 2 + 3? Use the calculator.",
        tools=[tool],
        tool_choice="required",
        max_tool_calls=1,
        max_output_tokens=40,
        temperature=0,
    )
    kinds = [item.type for item in response.output]
    assert kinds[:2] == ["mcp_list_tools", "mcp_call"] and kinds[2:] in (["message"], [])
    call = response.output[1]
    arguments = json.loads(call.arguments)  # the grammar makes it valid JSON of the schema
    assert set(arguments) == {"a", "b"} and all(isinstance(v, int) for v in arguments.values())
    assert call.status == "completed" and call.output == str(arguments["a"] + arguments["b"])
    assert mcp.counts["call:add"] == 1


def test_the_embedded_model_searches_files_under_its_grammar(local):
    handbook = local.files.create(file=("handbook.md", HANDBOOK.encode()), purpose="assistants")
    store = local.vector_stores.create(name="handbook", file_ids=[handbook.id])
    local.vector_stores.files.poll(handbook.id, vector_store_id=store.id, poll_interval_ms=100)
    response = local.responses.create(
        model=MODEL,
        input="How long is parental leave?",
        tools=[{"type": "file_search", "vector_store_ids": [store.id]}],
        tool_choice={"type": "file_search"},
        include=["file_search_call.results"],
        max_tool_calls=1,
        max_output_tokens=200,
        temperature=0,
    )
    call = response.output[0]
    assert call.type == "file_search_call" and call.status == "completed"
    # The grammar guarantees 1-5 non-empty strings; what they say is up to a 135M model.
    assert 1 <= len(call.queries) <= 5 and all(q.strip() for q in call.queries)
    assert call.results is not None
    assert all(result.file_id == handbook.id for result in call.results)
    assert [item.type for item in response.output[1:]] in (["message"], [])


def test_chat_completions_seed_and_stop_on_the_embedded_model(local):
    ask = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Write a short poem about the sea."}],
        "temperature": 1.0,
        "max_tokens": 40,
    }
    first = local.chat.completions.create(seed=11, **ask).choices[0].message.content
    again = local.chat.completions.create(seed=11, **ask).choices[0].message.content
    assert first == again and len(first) > 10
    # Stop at a piece of the seeded text: the same sampling ends just before it.
    piece = first[len(first) // 2 : len(first) // 2 + 2]
    cut = first.find(piece)
    stopped = local.chat.completions.create(seed=11, stop=[piece, "@@@"], **ask).choices[0]
    assert stopped.message.content == first[:cut]
    assert stopped.finish_reason == "stop"
