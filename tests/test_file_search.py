"""The file_search tool and files in messages, through the SDK against the scripted model:
search calls, results on request, citations, streaming events, and input_file parts."""

import base64
import json

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.responses import Response as HTTPResponse
from starlette.routing import Route

from bench.fake_upstream import Call, Reply
from bench.servers import ServerThread
from tests.docs import HANDBOOK, TRAVEL, pdf
from tests.wire import check_response, stream_events

SEARCH = Call("file_search", json.dumps({"queries": ["parental leave weeks"]}))


@pytest.fixture
def library(client) -> tuple[str, str, str]:
    """A vector store with the handbook and the travel policy: (store, handbook, travel)."""
    hr = client.files.create(file=("handbook.md", HANDBOOK.encode()), purpose="assistants").id
    travel = client.files.create(file=("travel.md", TRAVEL.encode()), purpose="assistants").id
    vs = client.vector_stores.create(name="docs")
    client.vector_stores.file_batches.create_and_poll(
        vector_store_id=vs.id,
        files=[{"file_id": hr, "attributes": {"dept": "hr"}}, {"file_id": travel}],
    )
    return vs.id, hr, travel


def _tool(store: str, **extra) -> dict:
    return {"type": "file_search", "vector_store_ids": [store], **extra}


def _tool_output(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "tool")


def test_search_then_cited_answer(client, upstream, library):
    store, hr, _ = library
    upstream.script(Reply(tool_calls=[SEARCH]), Reply(text="Sixteen weeks [1]. Enjoy!"))
    raw = client.responses.with_raw_response.create(
        model="fake-model", input="How long is parental leave?", tools=[_tool(store)]
    ).http_response.json()
    check_response(raw)
    call, message = raw["output"]
    assert call["type"] == "file_search_call" and call["id"].startswith("fs_")
    assert call["queries"] == ["parental leave weeks"] and call["status"] == "completed"
    assert call["results"] is None  # not included
    part = message["content"][0]
    assert part["text"] == "Sixteen weeks. Enjoy!"
    assert part["annotations"] == [
        {"type": "file_citation", "file_id": hr, "filename": "handbook.md", "index": 13}
    ]
    first, second = upstream.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["file_search"]
    shown = _tool_output(second)
    assert "[1] handbook.md:" in shown and "sixteen weeks of paid parental leave" in shown
    stored = client.responses.with_raw_response.retrieve(raw["id"]).http_response.json()
    assert stored["output"] == raw["output"]


def test_results_are_included_on_request_and_respect_limits_and_filters(client, upstream, library):
    store, hr, travel = library
    upstream.script(Reply(tool_calls=[SEARCH]), Reply(text="ok"))
    response = client.responses.create(
        model="fake-model",
        input="leave?",
        tools=[_tool(store, max_num_results=1)],
        include=["file_search_call.results"],
    )
    check_response(client.responses.with_raw_response.retrieve(response.id).http_response.json())
    (result,) = response.output[0].results
    assert (result.file_id, result.filename, result.attributes) == (
        hr,
        "handbook.md",
        {"dept": "hr"},
    )
    assert 0 < result.score <= 1 and "sixteen weeks" in result.text

    travel_query = Call("file_search", json.dumps({"queries": ["hotel costs per night"]}))
    upstream.script(Reply(tool_calls=[travel_query]), Reply(text="ok"))
    filtered = client.responses.create(
        model="fake-model",
        input="hotels?",
        tools=[_tool(store, filters={"type": "eq", "key": "dept", "value": "hr"})],
        include=["file_search_call.results"],
    )
    # The travel policy matches the query best, but only the handbook carries dept=hr.
    assert filtered.output[0].results and {r.file_id for r in filtered.output[0].results} == {hr}
    assert "travel.md" not in _tool_output(upstream.requests[-1])


def test_streamed_events_and_the_sdk_stream_helper(server, client, upstream, library):
    store, hr, _ = library
    upstream.script(
        Reply(tool_calls=[SEARCH]), Reply(text="It is sixteen weeks [1] in all.", chunk_size=3)
    )
    with httpx.Client(base_url=f"{server.url}/v1", timeout=10) as http:
        events, _ = stream_events(http, model="fake-model", input="leave?", tools=[_tool(store)])
    kinds = [e["type"] for e in events]
    assert kinds[2:7] == [
        "response.output_item.added",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
        "response.output_item.done",
    ]
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert deltas == done["text"] == "It is sixteen weeks in all."
    (added,) = [e for e in events if e["type"] == "response.output_text.annotation.added"]
    assert added["annotation"] == {
        "type": "file_citation",
        "file_id": hr,
        "filename": "handbook.md",
        "index": 19,
    }
    assert added["annotation_index"] == 0

    upstream.script(Reply(tool_calls=[SEARCH]), Reply(text="Sixteen [1]."))
    with client.responses.stream(
        model="fake-model", input="leave?", tools=[_tool(store)]
    ) as stream:
        final = stream.get_final_response()
    assert final.output_text == "Sixteen."
    assert final.output[1].content[0].annotations[0].file_id == hr


def test_unknown_markers_stay_and_an_answer_without_markers_has_no_annotations(
    client, upstream, library
):
    store, _, _ = library
    upstream.script(Reply(tool_calls=[SEARCH]), Reply(text="See a[7] and [x]."))
    response = client.responses.create(model="fake-model", input="?", tools=[_tool(store)])
    assert response.output_text == "See a[7] and [x]."
    assert response.output[1].content[0].annotations == []


def test_a_later_turn_sees_kept_results_and_cites_them(client, upstream, library):
    store, hr, _ = library
    upstream.script(Reply(tool_calls=[SEARCH]), Reply(text="Sixteen weeks [1]."))
    first = client.responses.create(
        model="fake-model",
        input="leave?",
        tools=[_tool(store)],
        include=["file_search_call.results"],
    )
    upstream.script(Reply(text="As said, sixteen [1]."))
    second = client.responses.create(
        model="fake-model", input="Repeat?", previous_response_id=first.id, tools=[_tool(store)]
    )
    assert "[1] handbook.md:" in _tool_output(upstream.requests[-1])
    assert second.output[0].content[0].annotations[0].file_id == hr

    upstream.script(Reply(tool_calls=[SEARCH]), Reply(text="x"))
    unkept = client.responses.create(model="fake-model", input="leave?", tools=[_tool(store)])
    upstream.script(Reply(text="y"))
    client.responses.create(model="fake-model", input="again", previous_response_id=unkept.id)
    assert "not kept" in _tool_output(upstream.requests[-1])


def test_forcing_file_search_and_bad_tool_configs(client, upstream, library):
    store, _, _ = library
    upstream.script(Reply(tool_calls=[SEARCH]), Reply(text="ok"))
    client.responses.create(
        model="fake-model", input="?", tools=[_tool(store)], tool_choice={"type": "file_search"}
    )
    assert upstream.requests[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "file_search"},
    }
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="fake-model", input="?", tools=[_tool("vs_missing")])
    assert info.value.body["param"] == "tools[0].vector_store_ids[0]"
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(
            model="fake-model", input="?", tools=[_tool(store, filters={"type": "eq", "key": 1})]
        )
    assert info.value.body["param"] == "tools[0].filters"
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="fake-model", input="?", tool_choice={"type": "file_search"})
    assert info.value.body["param"] == "tool_choice"


def test_background_response_searches(client, upstream, library):
    store, _, _ = library
    upstream.script(Reply(tool_calls=[SEARCH]), Reply(text="Sixteen [1]."))
    queued = client.responses.create(
        model="fake-model", input="?", tools=[_tool(store)], background=True
    )
    response = client.responses.retrieve(queued.id)
    for _ in range(200):
        if response.status in ("completed", "failed"):
            break
        response = client.responses.retrieve(queued.id)
    assert response.status == "completed", response.error
    assert [i.type for i in response.output] == ["file_search_call", "message"]
    assert response.output_text == "Sixteen."


# -- files in messages --------------------------------------------------------------------------


def _user_text(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def _file_message(part: dict) -> list[dict]:
    return [{"role": "user", "content": [part, {"type": "input_text", "text": "Summarize."}]}]


def test_input_file_by_id_and_inline_reaches_the_model_as_text(client, upstream):
    hr = client.files.create(file=("handbook.md", HANDBOOK.encode()), purpose="user_data").id
    upstream.script(Reply(text="ok"), Reply(text="ok"))
    response = client.responses.create(
        model="fake-model", input=_file_message({"type": "input_file", "file_id": hr})
    )
    seen = _user_text(upstream.requests[0])
    assert "[File: handbook.md]" in seen and "sixteen weeks of paid parental leave" in seen
    stored = client.responses.input_items.list(response.id).data[0].content[0]
    assert stored.type == "input_file" and stored.file_id == hr  # stored as sent
    # A PDF with a cross-reference table, and one without (the Open Responses compliance
    # suite's file-input fixture is such a PDF).
    upstream.script(Reply(text="ok"))
    pdfs = [("The launch is on the ninth of June.", True), ("Title: Fixture Without Xref", False)]
    for n, (text, xref) in enumerate(pdfs, start=1):
        data = base64.b64encode(pdf(text, xref=xref)).decode()
        part = {
            "type": "input_file",
            "filename": "plan.pdf",
            "file_data": f"data:application/pdf;base64,{data}",
        }
        client.responses.create(model="fake-model", input=_file_message(part))
        assert text in _user_text(upstream.requests[n])


def test_unreadable_or_missing_files_are_client_errors_naming_the_part(client, upstream):
    blob = client.files.create(file=("blob.bin", bytes(range(256)) * 8), purpose="user_data").id
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(
            model="fake-model", input=_file_message({"type": "input_file", "file_id": blob})
        )
    assert info.value.body["param"] == "input[0].content[0].file_id"
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(
            model="fake-model",
            input=_file_message({"type": "input_file", "file_id": "file-missing"}),
        )
    assert info.value.body["param"] == "input[0].content[0].file_id"
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(
            model="fake-model",
            input=_file_message({"type": "input_file", "filename": "x.txt", "file_data": "%%%"}),
        )
    assert info.value.body["param"] == "input[0].content[0].file_data"
    with pytest.raises(openai.BadRequestError) as info:  # loopback: the outbound guard
        client.responses.create(
            model="fake-model",
            input=_file_message({"type": "input_file", "file_url": "http://127.0.0.1:9/x.txt"}),
        )
    assert info.value.body["param"] == "input[0].content[0].file_url"


def test_input_file_by_url_is_fetched_where_allowed(make_client, upstream):
    async def page(_request):
        return HTTPResponse(TRAVEL.encode(), media_type="text/markdown")

    site = ServerThread(Starlette(routes=[Route("/travel.md", page)])).start()
    try:
        c = make_client(allow_private_network=True)
        upstream.script(Reply(text="ok"))
        c.responses.create(
            model="fake-model",
            input=_file_message({"type": "input_file", "file_url": f"{site.url}/travel.md"}),
        )
        seen = _user_text(upstream.requests[0])
        assert "[File: travel.md]" in seen and "180 euros per night" in seen
    finally:
        site.stop()


def test_input_image_by_file_id_becomes_a_data_url(client, upstream):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    image = client.files.create(file=("dot.png", png), purpose="vision").id
    upstream.script(Reply(text="a dot"))
    client.responses.create(
        model="fake-model",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "file_id": image},
                    {"type": "input_text", "text": "?"},
                ],
            }
        ],
    )
    content = upstream.requests[0]["messages"][-1]["content"]
    url = content[0]["image_url"]["url"]
    assert url == "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.mark.parametrize("chunk_size", [1, 2, 4, 7])
def test_markers_split_across_deltas_still_become_annotations(
    server, upstream, library, chunk_size
):
    store, hr, travel = library
    both = Call("file_search", json.dumps({"queries": ["parental leave", "hotel costs"]}))
    text = "Leave is long [1]. Hotels [2, 1] too; see a[9] and [ 3x]. End [2]"
    upstream.script(Reply(tool_calls=[both]), Reply(text=text, chunk_size=chunk_size))
    with httpx.Client(base_url=f"{server.url}/v1", timeout=10) as http:
        events, _ = stream_events(
            http,
            model="fake-model",
            input="?",
            tools=[_tool(store)],
            include=["file_search_call.results"],
        )
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    final = events[-1]["response"]["output"][-1]["content"][0]
    assert deltas == final["text"] == "Leave is long. Hotels too; see a[9] and [ 3x]. End"
    annotations = [
        e["annotation"] for e in events if e["type"] == "response.output_text.annotation.added"
    ]
    assert annotations == final["annotations"]
    sources = {
        n + 1: r["file_id"] for n, r in enumerate(events[-1]["response"]["output"][0]["results"])
    }
    assert [(a["file_id"], a["index"]) for a in annotations] == [
        (sources[1], 13),
        (sources[2], 21),
        (sources[1], 21),
        (sources[2], 50),
    ]
    assert {hr, travel} >= set(sources.values())
