"""previous_response_id chains, input items and their pagination, item references."""

import openai
import pytest

from bench.fake_upstream import Call, Reply


def test_previous_response_id_sends_the_whole_chain_in_order(client, upstream):
    upstream.script(Reply(text="one"), Reply(text="two"), Reply(text="three"))
    first = client.responses.create(model="fake-model", input="a")
    second = client.responses.create(model="fake-model", input="b", previous_response_id=first.id)
    client.responses.create(model="fake-model", input="c", previous_response_id=second.id)
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "c"},
    ]


def test_instructions_are_not_inherited(client, upstream):
    upstream.script(Reply(text="one"), Reply(text="two"))
    first = client.responses.create(model="fake-model", input="a", instructions="Old rules.")
    second = client.responses.create(
        model="fake-model", input="b", previous_response_id=first.id, instructions="New rules."
    )
    messages = upstream.requests[-1]["messages"]
    assert messages[0] == {"role": "system", "content": "New rules."}
    assert all(m["content"] != "Old rules." for m in messages)
    assert second.previous_response_id == first.id


def test_a_100_turn_chain_reaches_the_upstream_in_order(client, upstream):
    previous = None
    for turn in range(100):
        upstream.script(Reply(text=f"answer {turn}"))
        response = client.responses.create(
            model="fake-model", input=f"question {turn}", previous_response_id=previous
        )
        previous = response.id
    messages = upstream.requests[-1]["messages"]
    assert len(messages) == 199
    expected = []
    for turn in range(100):
        expected.append({"role": "user", "content": f"question {turn}"})
        expected.append({"role": "assistant", "content": f"answer {turn}"})
    assert messages == expected[:-1]


LOOKUP = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}


def test_each_turn_of_a_chain_sees_exactly_its_own_history(client, upstream):
    """A chain's converted history is carried to its next turn (only new items are
    converted); what crosses a turn boundary must still come out as a fresh conversion."""
    upstream.script(
        Reply(text="t1", reasoning="think 1", tool_calls=[Call("lookup", id="c1")]),
        Reply(text="t2"),
        Reply(text="t3"),
        Reply(text="fork"),
        Reply(text="t4"),
    )
    all_turns = {"context": "all_turns"}
    one = client.responses.create(
        model="fake-model", input="q1", tools=[LOOKUP], reasoning=all_turns
    )
    answer = {"type": "function_call_output", "call_id": "c1", "output": "r1"}
    two = client.responses.create(
        model="fake-model",
        input=[answer],
        previous_response_id=one.id,
        tools=[LOOKUP],
        reasoning=all_turns,
        instructions="Only this turn.",
    )
    # A call sent by the client joins the assistant message that ends the history.
    joined = {"type": "function_call", "call_id": "c9", "name": "lookup", "arguments": "{}"}
    three = client.responses.create(
        model="fake-model",
        input=[joined, {"type": "function_call_output", "call_id": "c9", "output": "r9"}],
        previous_response_id=two.id,
        tools=[LOOKUP],
        reasoning=all_turns,
    )
    client.responses.create(  # a fork of `two`: it must not see the call joined above
        model="fake-model", input="q3b", previous_response_id=two.id, reasoning=all_turns
    )
    client.responses.create(
        model="fake-model", input="q4", previous_response_id=three.id, reasoning=all_turns
    )
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    c9 = {**call, "id": "c9"}
    first_turn = [
        {"role": "user", "content": "q1"},
        {
            "role": "assistant",
            "content": "t1",
            "reasoning_content": "think 1",
            "tool_calls": [call],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "r1"},
    ]
    sent = [r["messages"] for r in upstream.requests]
    assert sent[1] == [{"role": "system", "content": "Only this turn."}, *first_turn]
    assert sent[2] == [
        *first_turn,
        {"role": "assistant", "content": "t2", "tool_calls": [c9]},
        {"role": "tool", "tool_call_id": "c9", "content": "r9"},
    ]
    assert sent[3] == [*first_turn, {"role": "assistant", "content": "t2"}, user("q3b")]
    assert sent[4] == [*sent[2], {"role": "assistant", "content": "t3"}, user("q4")]


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def test_unknown_previous_response_id_is_a_400(client, upstream):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input="x", previous_response_id="resp_nope")
    assert info.value.code == "previous_response_not_found"
    assert info.value.param == "previous_response_id"
    assert upstream.requests == []


def test_input_items_list_each_with_an_id_newest_first(client, upstream):
    upstream.script(Reply(text="ok"))
    response = client.responses.create(
        model="fake-model",
        input=[
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": "first"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "2nd"}]},
        ],
    )
    page = client.responses.input_items.list(response.id)
    assert [item.role for item in page.data] == ["user", "user", "developer"]
    assert all(item.id.startswith("msg_") for item in page.data)
    assert page.data[0].content[0].text == "2nd"
    assert page.data[2].content[0].type == "input_text"
    assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id
    assert page.has_more is False


def test_input_items_pagination_with_after_limit_and_order(client, upstream):
    upstream.script(Reply(text="ok"))
    inputs = [{"role": "user", "content": f"m{i}"} for i in range(7)]
    response = client.responses.create(model="fake-model", input=inputs)
    first = client.responses.input_items.list(response.id, limit=3, order="asc")
    assert [i.content[0].text for i in first.data] == ["m0", "m1", "m2"]
    assert first.has_more is True
    second = client.responses.input_items.list(
        response.id, limit=3, order="asc", after=first.last_id
    )
    assert [i.content[0].text for i in second.data] == ["m3", "m4", "m5"]
    every = [i.content[0].text for i in client.responses.input_items.list(response.id, limit=2)]
    assert every == [f"m{i}" for i in reversed(range(7))]  # the SDK follows has_more


def test_input_items_of_an_unknown_response_is_a_404(client, upstream):
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list("resp_missing")


def test_input_items_limit_out_of_range_is_a_400(http, upstream):
    upstream.script(Reply(text="ok"))
    response_id = http.post("/responses", json={"model": "fake-model", "input": "x"}).json()["id"]
    reply = http.get(f"/responses/{response_id}/input_items", params={"limit": 101})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "limit"


def test_item_reference_is_replaced_by_the_stored_item(client, upstream):
    upstream.script(Reply(text="remembered"), Reply(text="ok"))
    first = client.responses.create(model="fake-model", input="note this", store=True)
    message_id = first.output[0].id
    client.responses.create(
        model="fake-model",
        input=[{"type": "item_reference", "id": message_id}, {"role": "user", "content": "and?"}],
    )
    assert upstream.requests[-1]["messages"] == [
        {"role": "assistant", "content": "remembered"},
        {"role": "user", "content": "and?"},
    ]


def test_unknown_item_reference_is_a_400(client, upstream):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input=[{"type": "item_reference", "id": "x"}])
    assert info.value.param == "input[0].id"


def test_deleting_a_response_cuts_the_chain_there(client, upstream):
    upstream.script(Reply(text="one"), Reply(text="two"), Reply(text="three"), Reply(text="four"))
    first = client.responses.create(model="fake-model", input="a")
    second = client.responses.create(model="fake-model", input="b", previous_response_id=first.id)
    third = client.responses.create(model="fake-model", input="c", previous_response_id=second.id)
    client.responses.delete(second.id)
    client.responses.create(model="fake-model", input="d", previous_response_id=third.id)
    assert [m["content"] for m in upstream.requests[-1]["messages"]] == ["c", "three", "d"]
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="fake-model", input="e", previous_response_id=second.id)


def test_a_deleted_first_response_cannot_be_continued(client, upstream):
    upstream.script(Reply(text="one"), Reply(text="two"))
    first = client.responses.create(model="fake-model", input="a")
    client.responses.create(model="fake-model", input="b", previous_response_id=first.id)
    client.responses.delete(first.id)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input="c", previous_response_id=first.id)
    assert info.value.param == "previous_response_id"


def test_parsed_items_are_reused_and_bounded():
    from responsd.engine.context import ParsedItems

    body = '{"type":"message","id":"m1","role":"user","content":"hi"}'
    parsed = ParsedItems(max_chars=len(body) * 2)
    first = parsed.parse([body])[0]
    assert parsed.parse([body, body])[0] is first  # not parsed again
    other = '{"type":"message","id":"m2","role":"user","content":"yo"}'
    third = '{"type":"message","id":"m3","role":"user","content":"hm"}'
    parsed.parse([other, third])
    assert parsed.parse([body])[0] is not first  # evicted, parsed anew


def test_chain_cache_entries_are_used_only_under_their_delete_count():
    from responsd.engine.context import ChainCache, History, ItemMemos
    from responsd.types.items import Message

    items = [Message(role="user", content="hi")]
    chains = ChainCache(max_items=2)
    chains.put("resp_a", History(items, 0))
    assert chains.get("resp_a", 0).items is items
    assert chains.get("resp_a", 1) is None  # a response was deleted since: read it again
    chains.put("resp_b", History(items * 2, 0))  # over the bound: the oldest chain goes
    assert chains.get("resp_a", 0) is None and chains.get("resp_b", 0) is not None

    # A chain of one response is kept apart, by count, under any delete count: the head read
    # before `get` shows its one response exists, and the chain it gives carries that count.
    chains = ChainCache(max_items=2, max_first=2)
    chains.put_first("resp_1", items)
    assert chains.get("resp_1", 7).items is items and chains.get("resp_1", 7).version == 7
    chains.put_first("resp_2", items)
    chains.put_first("resp_3", items)  # over the bound: the oldest goes
    assert chains.get("resp_1", 7) is None and chains.get("resp_3", 0) is not None

    memos = ItemMemos(max_items=1)
    first, second = items[0], Message(role="user", content="yo")
    memos.remember(first, "chat", "converted")
    assert memos.recall(first, "chat") == "converted"
    assert memos.recall(second, "chat") is None
    memos.remember(second, "chat", "other")
    assert memos.recall(first, "chat") is None  # bounded: the oldest went


def test_remembered_messages_serve_only_the_history_they_were_made_for():
    """A history's converted messages are kept on its last item. Another history ending with
    the same item object (items are shared between chains by their stored JSON) must not
    get them; the same list, or a list made from it, gets them without a comparison."""
    import orjson

    from responsd.engine.context import ItemMemos
    from responsd.providers.base import ModelRequest
    from responsd.providers.chat_messages import body_json, chat_messages
    from responsd.types.items import Message

    def said(role: str, text: str) -> Message:
        return Message(role=role, content=text)

    shared_last = said("assistant", "same last item")
    memos = ItemMemos()

    def messages(history: list, extends: list | None = None) -> list:
        runs = (history,) if extends is None else (history, extends)
        request = ModelRequest(
            model="m", items=[*history, said("user", "now")], memo=memos, memo_runs=runs
        )
        sent = orjson.loads(b"".join(body_json({"messages": chat_messages(request)})))
        plain = ModelRequest(model="m", items=request.items)  # converted from scratch
        assert sent == orjson.loads(b"".join(body_json({"messages": chat_messages(plain)})))
        return [m["content"] for m in sent["messages"]]

    one = [said("user", "first"), shared_last]
    assert messages(one) == ["first", "same last item", "now"]
    assert messages(one) == ["first", "same last item", "now"]  # remembered, same list
    other = [said("user", "another first"), shared_last]
    assert messages(other) == ["another first", "same last item", "now"]
    longer = [*other, said("user", "b"), said("assistant", "c")]
    assert messages(longer, extends=other) == ["another first", "same last item", "b", "c", "now"]
    # Equal items in a new list (a chain read again): compared, and served.
    assert messages([*one]) == ["first", "same last item", "now"]
