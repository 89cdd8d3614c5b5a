"""POST /v1/responses/compact: a sealed summary that continues the conversation in fewer tokens."""

import openai
import pytest

from bench.fake_upstream import Reply
from responsd.engine.compaction import COMPACT_ASK
from responsd.engine.context import COMPACTION_PREFIX

HISTORY = [
    {"role": "user", "content": "My name is Ada and I like graphs."},
    {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Nice to meet you, Ada. " * 40}],
    },
    {"role": "user", "content": "Remember that my favourite graph is K5."},
    {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Noted: K5. " * 40}],
    },
]


def test_compaction_round_trip(client, upstream):
    upstream.script(
        Reply(text="Ada likes graphs; favourite graph K5."), Reply(text="K5", prompt_tokens=None)
    )
    reply = client.responses.with_raw_response.compact(model="fake-model", input=HISTORY)
    compacted, raw = reply.parse(), reply.http_response.json()
    assert compacted.object == "response.compaction"
    assert upstream.requests[0]["messages"][-1] == {"role": "user", "content": COMPACT_ASK}
    kinds = [item.type for item in compacted.output]
    assert kinds == ["message", "message", "compaction"]
    assert [m.content[0].text for m in compacted.output[:2]] == [
        HISTORY[0]["content"],
        HISTORY[2]["content"],
    ]
    assert compacted.output[2].encrypted_content.startswith("rsd1.")
    # Sealed: the summary is not readable in it (a long phrase: base64 holds any short one).
    assert "Ada likes graphs" not in compacted.output[2].encrypted_content
    assert compacted.usage.input_tokens > 0

    follow_up = list(raw["output"])
    follow_up.append({"role": "user", "content": "What is my favourite graph?"})
    client.responses.create(model="fake-model", input=follow_up)
    sent = upstream.requests[-1]["messages"]
    assert {
        "role": "system",
        "content": COMPACTION_PREFIX + "Ada likes graphs; favourite graph K5.",
    } in sent
    assert all("Nice to meet you" not in str(m["content"]) for m in sent)
    full = len(str(upstream.requests[0]["messages"]))
    assert len(str(sent)) < full / 2  # far fewer tokens than the history it replaces


def test_compaction_of_a_stored_chain(client, upstream):
    upstream.script(Reply(text="one"), Reply(text="summary"))
    first = client.responses.create(model="fake-model", input="a")
    compacted = client.responses.compact(model="fake-model", previous_response_id=first.id)
    assert [m["content"] for m in upstream.requests[-1]["messages"][1:3]] == ["a", "one"]
    assert [i.type for i in compacted.output] == ["message", "compaction"]


def test_compaction_without_a_model_is_a_400(http, upstream):
    reply = http.post("/responses/compact", json={"input": "x"})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "model"


def test_a_forged_compaction_item_is_a_400(client, upstream):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(
            model="fake-model",
            input=[
                {"type": "compaction", "encrypted_content": "rsd1.deadbeef.AAAA"},
                {"role": "user", "content": "x"},
            ],
        )
    assert info.value.param == "input[0].encrypted_content"
