"""Reasoning items from upstreams, summaries, reasoning passed back, ZDR."""

import openai
import pytest

from bench.fake_upstream import Reply
from responsd.engine.reasoning import SUMMARY_INSTRUCTIONS
from tests.wire import stream_events


def test_upstream_reasoning_becomes_a_reasoning_item_before_the_message(http, upstream):
    upstream.script(Reply(reasoning="Two plus two is four.", text="4", chunk_size=10))
    events, _ = stream_events(http, model="fake-model", input="2+2?")
    types = [e["type"] for e in events]
    assert types[2:9] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
    ]
    final = events[-1]["response"]
    reasoning, message = final["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Two plus two is four."}]
    assert reasoning["summary"] == [] and "encrypted_content" not in reasoning
    assert message["content"][0]["text"] == "4"
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] == 3


def test_ollama_style_reasoning_field(client, upstream):
    upstream.script(Reply(reasoning="hmm", reasoning_field="reasoning", text="ok"))
    response = client.responses.create(model="fake-model", input="x")
    assert [i.type for i in response.output] == ["reasoning", "message"]
    assert response.output_text == "ok"


def test_think_tags_are_split_out_when_configured(make_client, upstream):
    client = make_client(upstream_think_tags=True)
    upstream.script(Reply(text="<think>Let me count: 4.</think>The answer is 4.", chunk_size=5))
    response = client.responses.create(model="fake-model", input="2+2?")
    reasoning, message = response.output
    assert reasoning.content[0].text == "Let me count: 4."
    assert response.output_text == "The answer is 4."
    assert "think" not in response.output_text
    # The fake reports no reasoning tokens for inline text: shared out by characters.
    usage = response.usage
    assert 0 < usage.output_tokens_details.reasoning_tokens < usage.output_tokens


def test_think_tags_are_text_unless_configured(client, upstream):
    upstream.script(Reply(text="<think>x</think>y"))
    assert client.responses.create(model="fake-model", input="x").output_text == "<think>x</think>y"


def test_summary_is_written_by_a_summarising_call_and_streamed(http, upstream):
    upstream.script(
        Reply(reasoning="Long careful reasoning.", text="Answer."),
        Reply(text="A short summary."),
    )
    events, _ = stream_events(http, model="fake-model", input="x", reasoning={"summary": "concise"})
    summary_call = upstream.requests[1]
    assert summary_call["messages"][0] == {
        "role": "system",
        "content": SUMMARY_INSTRUCTIONS["concise"],
    }
    assert summary_call["messages"][1]["content"] == "Long careful reasoning."
    types = [e["type"] for e in events]
    for expected in (
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ):
        assert expected in types
    assert types.index("response.reasoning_summary_part.done") < types.index(
        "response.output_text.delta"
    )
    final = events[-1]["response"]
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": "A short summary."}]
    assert final["output"][1]["content"][0]["text"] == "Answer."


def test_summary_model_setting_picks_the_summariser(make_client, upstream):
    client = make_client(summary_model="other-model")
    upstream.script(Reply(reasoning="r", text="a"), Reply(text="s"))
    client.responses.create(model="fake-model", input="x", reasoning={"summary": "auto"})
    assert [r["model"] for r in upstream.requests] == ["fake-model", "other-model"]


def test_summary_auto_without_reasoning_is_no_summary_and_no_error(client, upstream):
    upstream.script(Reply(text="plain"))
    response = client.responses.create(model="fake-model", input="x", reasoning={"summary": "auto"})
    assert [i.type for i in response.output] == ["message"]
    assert len(upstream.requests) == 1


def test_earlier_reasoning_is_dropped_by_default(client, upstream):
    upstream.script(Reply(reasoning="secret thoughts", text="one"), Reply(text="two"))
    first = client.responses.create(model="fake-model", input="a")
    client.responses.create(model="fake-model", input="b", previous_response_id=first.id)
    messages = upstream.requests[-1]["messages"]
    assert messages[1] == {"role": "assistant", "content": "one"}
    assert "secret thoughts" not in str(messages)


def test_earlier_reasoning_goes_back_as_reasoning_content_when_configured(make_client, upstream):
    client = make_client(upstream_reasoning_history="reasoning_content")
    upstream.script(Reply(reasoning="thoughts", text="one"), Reply(text="two"))
    first = client.responses.create(model="fake-model", input="a")
    client.responses.create(model="fake-model", input="b", previous_response_id=first.id)
    assert upstream.requests[-1]["messages"][1] == {
        "role": "assistant",
        "content": "one",
        "reasoning_content": "thoughts",
    }


def test_zero_data_retention_stores_nothing(make_client, upstream):
    client = make_client(zero_data_retention=True)
    upstream.script(Reply(text="gone"))
    response = client.responses.create(model="fake-model", input="x", store=True)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
