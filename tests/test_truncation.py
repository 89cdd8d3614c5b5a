"""truncation: "disabled" refuses a context that does not fit; "auto" drops the oldest items."""

import openai
import pytest

from bench.fake_upstream import Reply

WINDOW = 400  # tokens; upstream counts are estimated at 3 bytes per token


def _long_history(turns: int):
    items = [{"role": "developer", "content": "Be helpful."}]
    for n in range(turns):
        items.append({"role": "user", "content": f"question {n} " + "x" * 80})
        items.append({"type": "function_call", "call_id": f"c{n}", "name": "f", "arguments": "{}"})
        items.append({"type": "function_call_output", "call_id": f"c{n}", "output": "y" * 80})
    items.append({"role": "user", "content": "last question"})
    return items


def test_disabled_refuses_a_context_that_does_not_fit(make_client, upstream):
    client = make_client(upstream_context_window=WINDOW)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input=_long_history(20))
    assert info.value.code == "context_length_exceeded"
    assert "truncation" in info.value.message
    assert upstream.requests == []


def test_auto_drops_the_oldest_items_and_keeps_calls_with_outputs(make_client, upstream):
    client = make_client(upstream_context_window=WINDOW)
    upstream.script(Reply(text="ok"))
    client.responses.create(
        model="fake-model",
        input=_long_history(20),
        truncation="auto",
        tools=[{"type": "function", "name": "f"}],
    )
    messages = upstream.requests[0]["messages"]
    assert messages[0] == {"role": "system", "content": "Be helpful."}  # pinned
    assert messages[-1] == {"role": "user", "content": "last question"}
    assert "question 0 " not in str(messages)  # the oldest went first
    assert len(str(messages)) < 3 * WINDOW
    calls = {m["tool_calls"][0]["id"] for m in messages if m.get("tool_calls")}
    outputs = {m["tool_call_id"] for m in messages if m["role"] == "tool"}
    assert calls == outputs  # never a call without its output, nor the reverse


def test_auto_with_max_output_tokens_keeps_room_for_the_answer(make_client, upstream):
    client = make_client(upstream_context_window=WINDOW)
    upstream.script(Reply(text="a"), Reply(text="b"))
    client.responses.create(model="fake-model", input=_long_history(20), truncation="auto")
    roomy = len(str(upstream.requests[0]["messages"]))
    client.responses.create(
        model="fake-model", input=_long_history(20), truncation="auto", max_output_tokens=200
    )
    assert len(str(upstream.requests[1]["messages"])) < roomy


def test_auto_without_a_known_window_is_a_400(client, upstream):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input="x", truncation="auto")
    assert info.value.param == "truncation"


def test_a_last_item_that_alone_does_not_fit_is_a_400(make_client, upstream):
    client = make_client(upstream_context_window=WINDOW)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input="z" * 5000, truncation="auto")
    assert info.value.code == "context_length_exceeded"


def test_a_truncated_turn_leaves_its_chain_whole_for_the_next(make_client, upstream):
    """Truncating one turn's context must not change what the chain it continues is: the
    next turn from the same response sends the whole history again."""
    client = make_client(upstream_context_window=WINDOW)
    head = None
    for n in range(3):
        upstream.script(Reply(text=f"answer {n}"))
        question = {"role": "user", "content": f"question {n} " + "x" * 80}
        head = client.responses.create(
            model="fake-model", input=[question], previous_response_id=head
        ).id
    whole = upstream.requests[-1]["messages"] + [{"role": "assistant", "content": "answer 2"}]
    upstream.script(Reply(text="short"), Reply(text="again"))
    client.responses.create(
        model="fake-model", input="y" * 600, previous_response_id=head, truncation="auto"
    )
    assert "question 0 " not in str(upstream.requests[-1]["messages"])  # it was truncated
    client.responses.create(model="fake-model", input="small", previous_response_id=head)
    assert upstream.requests[-1]["messages"] == [*whole, {"role": "user", "content": "small"}]
