"""POST /v1/responses/compact: a sealed summary that continues the conversation in fewer tokens."""

import time

import openai
import pytest

from bench.fake_upstream import Reply, _prompt_tokens
from responsd.engine.compaction import COMPACT_ASK
from responsd.engine.context import COMPACTION_PREFIX
from tests.wire import stream_events

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


# Server-side compaction: `context_management` on POST /v1/responses.
LONG = [
    {"role": "user", "content": "My name is Ada."},
    {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Nice to meet you, Ada. " * 200}],
    },
    {"role": "user", "content": "My favourite graph is K5. Which is it?"},
]
COMPACT = [{"type": "compaction", "compact_threshold": 1000}]


def test_a_context_over_the_threshold_is_compacted_before_the_turn(client, upstream):
    upstream.script(Reply(text="Ada; favourite graph K5.", prompt_tokens=1600), Reply(text="K5."))
    response = client.responses.create(model="fake-model", input=LONG, context_management=COMPACT)
    assert [item.type for item in response.output] == ["compaction", "message"]
    assert response.output[0].encrypted_content.startswith("rsd1.")
    assert response.output_text == "K5."
    summarized, answered = upstream.requests
    assert summarized["messages"][-1] == {"role": "user", "content": COMPACT_ASK}
    assert "Nice to meet you" in str(summarized["messages"])
    # The turn sees the user's messages and the summary, not what was summarized.
    assert answered["messages"] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "user", "content": "My favourite graph is K5. Which is it?"},
        {"role": "system", "content": COMPACTION_PREFIX + "Ada; favourite graph K5."},
    ]
    # Both model calls are the response's usage.
    assert response.usage.input_tokens == 1600 + _prompt_tokens(answered)


def test_compaction_streams_its_item_first(http, upstream):
    upstream.script(Reply(text="summary"), Reply(text="answer"))
    events, _ = stream_events(http, model="fake-model", input=LONG, context_management=COMPACT)
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [(e["output_index"], e["item"]["type"]) for e in added] == [
        (0, "compaction"),
        (1, "message"),
    ]
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["compaction", "message"]


def test_a_small_context_is_not_compacted(client, upstream):
    upstream.script(Reply(text="hi"))
    response = client.responses.create(
        model="fake-model", input="hello", context_management=COMPACT
    )
    assert [item.type for item in response.output] == ["message"]
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("chained", [True, False])
def test_the_next_turn_continues_from_the_compaction(client, upstream, chained):
    upstream.script(Reply(text="Ada; K5."), Reply(text="K5."), Reply(text="Yes, Ada."))
    first = client.responses.create(model="fake-model", input=LONG, context_management=COMPACT)
    ask = {"role": "user", "content": "And my name?"}
    if chained:  # previous_response_id: the stored chain still holds everything
        client.responses.create(
            model="fake-model",
            input=[ask],
            previous_response_id=first.id,
            context_management=COMPACT,
        )
    else:  # stateless: the client sends back all it has, compaction item included
        output = [item.model_dump(exclude_none=True) for item in first.output]
        client.responses.create(
            model="fake-model", input=[*LONG, *output, ask], context_management=COMPACT
        )
    assert len(upstream.requests) == 3  # small again: not compacted a second time
    assert upstream.requests[2]["messages"] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "user", "content": "My favourite graph is K5. Which is it?"},
        {"role": "system", "content": COMPACTION_PREFIX + "Ada; K5."},
        {"role": "assistant", "content": "K5."},
        {"role": "user", "content": "And my name?"},
    ]


@pytest.mark.parametrize(
    ("context_management", "param"),
    [
        ([{"type": "truncation"}], "context_management[0].type"),
        ([{"type": "compaction"}, {"type": "compaction"}], "context_management[1]"),
        (
            [{"type": "compaction", "compact_threshold": 999}],
            "context_management[0].compact_threshold",
        ),
        # The scripted upstream's window is unknown: the threshold cannot default.
        ([{"type": "compaction"}], "context_management[0].compact_threshold"),
        ([], "context_management"),
    ],
)
def test_context_management_it_cannot_honour_is_a_400(http, upstream, context_management, param):
    body = {"model": "fake-model", "input": "x", "context_management": context_management}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param
    assert upstream.requests == []


def test_compaction_keeps_the_tools_the_context_added(client, upstream):
    upstream.script(Reply(text="Ada likes K5."), Reply(text="ok"))
    added = {
        "type": "additional_tools",
        "role": "developer",
        "tools": [{"type": "function", "name": "draw", "parameters": {"type": "object"}}],
    }
    reply = client.responses.with_raw_response.compact(model="fake-model", input=[added, *HISTORY])
    window = reply.http_response.json()["output"]
    kinds = ["additional_tools", "message", "message", "compaction"]
    assert [item["type"] for item in window] == kinds
    client.responses.create(model="fake-model", input=[*window, {"role": "user", "content": "Go"}])
    assert [t["function"]["name"] for t in upstream.requests[-1]["tools"]] == ["draw"]


TRIGGER = {"type": "compaction_trigger"}


def test_a_compaction_trigger_makes_the_response_its_contexts_compaction(client, upstream):
    upstream.script(Reply(text="Ada; favourite graph K5.", prompt_tokens=900), Reply(text="K5."))
    response = client.responses.create(model="fake-model", input=[*HISTORY, TRIGGER])
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["compaction"]  # no answer
    assert response.output[0].encrypted_content.startswith("rsd1.")
    (summarized,) = upstream.requests
    assert summarized["messages"][-1] == {"role": "user", "content": COMPACT_ASK}
    assert "Noted: K5." in str(summarized["messages"])
    assert response.usage.input_tokens == 900
    # The trigger is a signal, not content: not stored with the input.
    listed = client.responses.input_items.list(response.id).data
    assert [item.type for item in listed] == ["message"] * len(HISTORY)
    # The next turn continues from the summary, not from what it summarized.
    client.responses.create(
        model="fake-model", previous_response_id=response.id, input="Which graph?"
    )
    sent = upstream.requests[-1]["messages"]
    assert {"role": "system", "content": COMPACTION_PREFIX + "Ada; favourite graph K5."} in sent
    assert all("Noted: K5." not in str(m["content"]) for m in sent)
    assert sent[-1] == {"role": "user", "content": "Which graph?"}


def test_a_compaction_trigger_streams_only_the_compaction(http, upstream):
    upstream.script(Reply(text="summary"))
    events, _ = stream_events(http, model="fake-model", input=[*HISTORY, TRIGGER])
    added = [(e["output_index"], e["item"]["type"]) for e in events if "item" in e]
    assert added == [(0, "compaction"), (0, "compaction")]  # added, then done
    assert events[-1]["type"] == "response.completed"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/responses", {"model": "fake-model", "input": [TRIGGER, *HISTORY]}, "input[0]"),
        (
            "/responses",
            {"model": "fake-model", "input": [*HISTORY, {**TRIGGER, "id": "ct_1"}]},
            "input[4].id",
        ),
        ("/responses/compact", {"model": "fake-model", "input": [TRIGGER, *HISTORY]}, "input[0]"),
    ],
)
def test_a_compaction_trigger_anywhere_else_is_a_400(http, upstream, path, body, param):
    reply = http.post(path, json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param


def test_compact_takes_a_final_trigger_as_what_it_does_anyway(client, upstream):
    upstream.script(Reply(text="summary"))
    compacted = client.responses.compact(model="fake-model", input=[*HISTORY, TRIGGER])
    assert [item.type for item in compacted.output] == ["message", "message", "compaction"]


def test_a_background_response_can_be_a_compaction(client, upstream):
    upstream.script(Reply(text="summary"))
    queued = client.responses.create(model="fake-model", input=[*HISTORY, TRIGGER], background=True)
    for _ in range(200):
        done = client.responses.retrieve(queued.id)
        if done.status == "completed":
            break
        time.sleep(0.05)
    assert [item.type for item in done.output] == ["compaction"]
