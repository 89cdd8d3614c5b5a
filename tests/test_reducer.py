"""The reducer alone: folding a stream's events rebuilds the final snapshot."""

import pytest
from pydantic import TypeAdapter

from bench.fake_upstream import Call, Reply
from responsd.engine.reducer import Reducer
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
    reducer = Reducer()
    for raw in events[:-1]:
        reducer.apply(EVENTS.validate_python(raw))
    folded = reducer.snapshot.model_dump(mode="json")
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
        Reducer().apply(event)


def test_the_snapshot_read_mid_stream_has_the_text_so_far(http, upstream):
    upstream.script(
        Reply(text="one two three four", chunk_size=3, tool_calls=[Call("f", '{"a": 12345}')])
    )
    events, _ = stream_events(
        http, model="fake-model", input="x", tools=[{"type": "function", "name": "f"}]
    )
    reducer = Reducer()
    text = arguments = ""
    reads = 0
    for raw in events[:-1]:
        event = EVENTS.validate_python(raw)
        reducer.apply(event)
        if raw["type"] == "response.output_text.delta":
            text += raw["delta"]
        elif raw["type"] == "response.function_call_arguments.delta":
            arguments += raw["delta"]
        else:
            continue
        reads += 1
        output = reducer.snapshot.output  # read between deltas, as a cancel or failure does
        assert output[0].content[0].text == text
        if arguments:
            assert output[1].arguments == arguments
    assert reads > 6 and text == "one two three four" and arguments == '{"a": 12345}'
    assert reducer.snapshot.model_dump(mode="json")["output"] == events[-1]["response"]["output"]
