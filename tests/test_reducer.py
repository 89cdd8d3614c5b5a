"""The reducer alone: folding a stream's events rebuilds the final snapshot."""

import pytest
from pydantic import TypeAdapter

from bench.fake_upstream import Call, Reply
from responsd.engine.reducer import apply
from responsd.types.events import ResponseOutputTextDeltaEvent, ResponseStreamEvent
from tests.wire import stream_events

EVENTS = TypeAdapter(ResponseStreamEvent)


def test_folding_the_streamed_events_gives_the_completed_response(http, upstream):
    upstream.script(
        Reply(
            text="Some text, then calls.",
            refusal="no",
            tool_calls=[Call("f", '{"a": 1}'), Call("g")],
        )
    )
    tools = [{"type": "function", "name": "f"}, {"type": "function", "name": "g"}]
    events, _ = stream_events(http, model="fake-model", input="x", tools=tools)
    snapshot = None
    for raw in events[:-1]:
        snapshot = apply(snapshot, EVENTS.validate_python(raw))
    folded = snapshot.model_dump(mode="json")
    final = events[-1]["response"]
    assert folded["output"] == final["output"]
    assert [item["type"] for item in final["output"]] == [
        "message",
        "function_call",
        "function_call",
    ]
    assert [p["type"] for p in final["output"][0]["content"]] == ["output_text", "refusal"]


def test_a_delta_before_created_is_rejected():
    event = ResponseOutputTextDeltaEvent(
        item_id="msg_1", output_index=0, content_index=0, delta="x"
    )
    with pytest.raises(ValueError, match="before 'response.created'"):
        apply(None, event)
