"""The Conversations API, and responses that read and extend a conversation."""

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from bench.fake_upstream import Reply


def test_create_retrieve_update_delete(client, upstream):
    conv = client.conversations.create(
        items=[{"role": "user", "content": "hello"}], metadata={"topic": "demo"}
    )
    assert conv.id.startswith("conv_") and conv.object == "conversation"
    assert client.conversations.retrieve(conv.id).metadata == {"topic": "demo"}
    assert client.conversations.update(conv.id, metadata={"topic": "new"}).metadata == {
        "topic": "new"
    }
    deleted = client.conversations.delete(conv.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (conv.id, True, "conversation.deleted")
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conv.id)


def test_items_create_list_retrieve_delete_with_pagination(client, upstream):
    conv = client.conversations.create()
    added = client.conversations.items.create(
        conv.id, items=[{"role": "user", "content": f"m{i}"} for i in range(5)]
    )
    assert [i.content[0].text for i in added.data] == [f"m{i}" for i in range(5)]
    first = client.conversations.items.list(conv.id, limit=2, order="asc")
    assert [i.content[0].text for i in first.data] == ["m0", "m1"] and first.has_more
    second = client.conversations.items.list(conv.id, limit=2, order="asc", after=first.data[-1].id)
    assert [i.content[0].text for i in second.data] == ["m2", "m3"]
    newest = client.conversations.items.list(conv.id, limit=1)
    assert newest.data[0].content[0].text == "m4"
    item = client.conversations.items.retrieve(added.data[2].id, conversation_id=conv.id)
    assert item.content[0].text == "m2" and item.status == "completed"
    after_delete = client.conversations.items.delete(added.data[2].id, conversation_id=conv.id)
    assert after_delete.id == conv.id
    texts = [i.content[0].text for i in client.conversations.items.list(conv.id, order="asc")]
    assert texts == ["m0", "m1", "m3", "m4"]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(added.data[2].id, conversation_id=conv.id)


def test_more_than_20_items_in_one_call_is_a_400(client, upstream):
    with pytest.raises(openai.BadRequestError) as info:
        client.conversations.create(items=[{"role": "user", "content": "x"}] * 21)
    assert info.value.param == "items"


def test_a_response_reads_and_extends_its_conversation(client, upstream):
    upstream.script(Reply(text="Hi Ada."), Reply(text="Your name is Ada."))
    conv = client.conversations.create(items=[{"role": "user", "content": "I am Ada."}])
    first = client.responses.create(model="fake-model", conversation=conv.id, input="Hello!")
    assert first.conversation.id == conv.id
    client.responses.create(model="fake-model", conversation={"id": conv.id}, input="Who am I?")
    assert [m["content"] for m in upstream.requests[-1]["messages"]] == [
        "I am Ada.",
        "Hello!",
        "Hi Ada.",
        "Who am I?",
    ]
    texts = [i.content[0].text for i in client.conversations.items.list(conv.id, order="asc")]
    assert texts == ["I am Ada.", "Hello!", "Hi Ada.", "Who am I?", "Your name is Ada."]


def test_unknown_conversation_is_a_404_and_store_false_is_a_400(client, upstream):
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="fake-model", conversation="conv_missing", input="x")
    conv = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", conversation=conv.id, input="x", store=False)
    assert info.value.param == "store"


def test_racing_responses_lose_no_item_and_keep_each_turn_together(client, upstream):
    conv = client.conversations.create()
    n = 8
    upstream.script(*[Reply(text="answer") for _ in range(n)])

    def ask(i: int) -> None:
        client.responses.create(model="fake-model", conversation=conv.id, input=f"q{i}")

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(ask, range(n)))
    items = list(client.conversations.items.list(conv.id, order="asc", limit=100))
    assert len(items) == 2 * n
    for question, answer in zip(items[::2], items[1::2], strict=True):
        assert question.role == "user" and answer.role == "assistant"
    assert sorted(i.content[0].text for i in items[::2]) == sorted(f"q{i}" for i in range(n))


def test_each_turn_sees_its_conversation_as_it_is_now(client, upstream):
    """A conversation read by one turn is kept for the next, which reads only what was
    appended since; items added through the API count, and a deleted item is gone at once."""
    upstream.script(*(Reply(text=f"a{i}") for i in range(1, 5)))
    conv = client.conversations.create(items=[{"role": "user", "content": "I am Ada."}])

    def turn(text: str) -> list[str]:
        client.responses.create(model="fake-model", conversation=conv.id, input=text)
        return [m["content"] for m in upstream.requests[-1]["messages"]]

    assert turn("q1") == ["I am Ada.", "q1"]
    assert turn("q2") == ["I am Ada.", "q1", "a1", "q2"]
    client.conversations.items.create(conv.id, items=[{"role": "user", "content": "by hand"}])
    assert turn("q3") == ["I am Ada.", "q1", "a1", "q2", "a2", "by hand", "q3"]
    q1 = next(i for i in client.conversations.items.list(conv.id) if i.content[0].text == "q1")
    client.conversations.items.delete(q1.id, conversation_id=conv.id)
    assert turn("q4") == ["I am Ada.", "a1", "q2", "a2", "by hand", "q3", "a3", "q4"]


def test_a_failed_response_leaves_its_conversation_as_it_was(server, upstream):
    """The SDK retries a 502 on its own: the turn that failed must not have joined the
    conversation, or the retried input would be in it twice."""
    upstream.script(Reply(status=500), Reply(text="Hi Ada."))
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=1) as retrying:
        conv = retrying.conversations.create(items=[{"role": "user", "content": "I am Ada."}])
        answer = retrying.responses.create(model="fake-model", conversation=conv.id, input="Hi!")
        assert answer.output_text == "Hi Ada."
        texts = [i.content[0].text for i in retrying.conversations.items.list(conv.id, order="asc")]
    assert texts == ["I am Ada.", "Hi!", "Hi Ada."]
    assert len(upstream.requests) == 2 and upstream.requests[1]["messages"] == [
        {"role": "user", "content": "I am Ada."},
        {"role": "user", "content": "Hi!"},
    ]
