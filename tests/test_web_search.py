"""The `web_search` tool, run on a SearXNG-compatible search backend (here a scripted one on
loopback): calls, their items and events, what the model reads, `url_citation`s, the
tool's options, a failing backend; and without a backend, the tool withheld as before."""

import asyncio
import json
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import openai
import pytest
from agents import Agent, OpenAIResponsesModel, Runner, WebSearchTool, set_tracing_disabled
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.fake_upstream import Call, Reply
from bench.servers import ServerThread
from responsd.tools import web_pages
from tests.conftest import _responsd
from tests.wire import check_response, stream_events

set_tracing_disabled(True)  # the SDK would otherwise post traces to the hosted API

PAGES = [
    {
        "url": "https://en.wikipedia.org/wiki/Oslo",
        "title": "Oslo",
        "content": "Oslo is the capital of Norway.",
    },
    {
        "url": "https://www.visitoslo.com/",
        "title": "Visit Oslo",
        "content": "Things to do in Oslo.",
    },
    {"url": "https://news.example.com/oslo", "title": "Oslo news", "content": "Snow today."},
    {"url": "https://x.org/4", "title": "Four", "content": "four"},
    {"url": "https://x.org/5", "title": "Five", "content": "five"},
    {"url": "https://x.org/6", "title": "Six", "content": "six"},
]


OSLO_PAGE = (
    b"<!doctype html><html><head><title>Oslo &ndash; Wikipedia</title></head>"
    b"<body><h1>Oslo</h1><p>Oslo has about 700,000 people.</p></body></html>"
)


async def _trickle(request: Request) -> Response:
    """A page that never ends: a few bytes every 0.1 s."""

    async def forever():
        yield b"<html><body>"
        while True:
            await asyncio.sleep(0.1)
            yield b"more "

    return StreamingResponse(forever(), media_type="text/html")


class SearchBackend:
    """Answers every search with PAGES (or a failure), recording the queries; serves one
    web page (`/pages/oslo`)."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.fail = False
        self.app = Starlette(
            routes=[
                Route("/search", self._search),
                Route("/pages/oslo", lambda _: Response(OSLO_PAGE, media_type="text/html")),
                Route("/pages/slow", _trickle),
            ]
        )

    async def _search(self, request: Request) -> Response:
        assert request.query_params["format"] == "json"
        self.queries.append(request.query_params["q"])
        if self.fail:
            return Response("overloaded", status_code=503)
        return JSONResponse({"query": request.query_params["q"], "results": PAGES})


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[SearchBackend, ServerThread]]:
    search = SearchBackend()
    thread = ServerThread(search.app).start()
    yield search, thread
    thread.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def web_server(request, upstream_server, tmp_path_factory, backend) -> Iterator[ServerThread]:
    url = f"{backend[1].url}/search"
    # The test page is on loopback: the operator lets tools reach private networks.
    thread = _responsd(
        request, upstream_server, tmp_path_factory, web_search_url=url, allow_private_network=True
    )
    yield thread
    thread.stop()


@pytest.fixture
def web(web_server, upstream, backend) -> Iterator[httpx.Client]:
    backend[0].queries.clear()
    backend[0].fail = False
    with httpx.Client(base_url=f"{web_server.url}/v1", timeout=10) as c:
        yield c


def _search_then(answer: str) -> tuple[Reply, Reply]:
    return Reply(tool_calls=[Call("web_search", '{"query": "capital of Norway"}')]), Reply(
        text=answer
    )


def test_a_search_and_a_cited_answer(web, upstream, backend):
    upstream.script(*_search_then("Oslo is the capital of Norway. [1] It has snow [3]."))
    body = {"model": "fake-model", "input": "capital?", "tools": [{"type": "web_search"}]}
    reply = web.post("/responses", json=body)
    assert reply.status_code == 200, reply.text
    assert "responsd-skipped-tools" not in reply.headers
    response = check_response(reply.json())
    call, message = response["output"]
    assert call["type"] == "web_search_call" and call["id"].startswith("ws_")
    assert call["status"] == "completed"
    assert call["action"] == {"type": "search", "query": "capital of Norway"}  # no sources
    assert backend[0].queries == ["capital of Norway"]
    # The model read five numbered results (medium), and was asked to cite them.
    first, second = upstream.requests
    assert "web_search" in [t["function"]["name"] for t in first["tools"]]
    results = second["messages"][-1]["content"]
    assert "[1] Oslo (https://en.wikipedia.org/wiki/Oslo): Oslo is the capital" in results
    assert "[5] Five" in results and "[6]" not in results
    text = message["content"][0]
    assert text["text"] == "Oslo is the capital of Norway. It has snow."
    first_sentence, second_sentence = text["annotations"]
    assert first_sentence == {
        "type": "url_citation",
        "url": "https://en.wikipedia.org/wiki/Oslo",
        "title": "Oslo",
        "start_index": 0,
        "end_index": len("Oslo is the capital of Norway."),
    }
    assert second_sentence["url"] == "https://news.example.com/oslo"
    cited = text["text"][second_sentence["start_index"] : second_sentence["end_index"]]
    assert cited == "It has snow"


@pytest.mark.parametrize("include", ["web_search_call.action.sources", "web_search_call.results"])
def test_options_sources_size_domains_location(web, upstream, backend, include):
    upstream.script(*_search_then("Oslo."))
    tool = {
        "type": "web_search_preview",
        "search_context_size": "low",
        "filters": {"allowed_domains": ["visitoslo.com", "example.com"]},
        "user_location": {"type": "approximate", "city": "Bergen", "country": "NO"},
    }
    body = {
        "model": "fake-model",
        "input": "x",
        "tools": [tool],
        "include": [include],
    }
    response = check_response(web.post("/responses", json=body).json())
    sources = response["output"][0]["action"]["sources"]
    assert sources == [
        {"type": "url", "url": "https://www.visitoslo.com/"},
        {"type": "url", "url": "https://news.example.com/oslo"},
    ]
    first, second = upstream.requests
    search, _ = [t["function"] for t in first["tools"]]
    assert "Bergen, NO" in search["description"]
    assert "wikipedia" not in second["messages"][-1]["content"]
    assert response["tools"] == [tool]


def test_streamed_search_events(web, upstream):
    upstream.script(*_search_then("Oslo. [2]"))
    events, _ = stream_events(web, model="fake-model", input="x", tools=[{"type": "web_search"}])
    kinds = [e["type"] for e in events]
    start = kinds.index("response.web_search_call.in_progress")
    assert kinds[start - 1] == "response.output_item.added"
    assert kinds[start : start + 4] == [
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
    ]
    [added] = [e for e in events if e["type"] == "response.output_text.annotation.added"]
    assert added["annotation"]["url"] == "https://www.visitoslo.com/"


def test_a_later_response_sees_what_was_searched(web, upstream):
    upstream.script(*_search_then("Oslo."), Reply(text="Yes."))
    tools = [{"type": "web_search"}]
    body = {
        "model": "fake-model",
        "input": "x",
        "tools": tools,
        "include": ["web_search_call.action.sources"],
    }
    first = web.post("/responses", json=body).json()
    body = {
        "model": "fake-model",
        "input": "sure?",
        "tools": tools,
        "previous_response_id": first["id"],
    }
    assert web.post("/responses", json=body).status_code == 200
    messages = upstream.requests[-1]["messages"]
    call = next(m for m in messages if m.get("tool_calls"))
    assert call["tool_calls"][0]["function"]["name"] == "web_search"
    result = messages[messages.index(call) + 1]["content"]
    assert "https://en.wikipedia.org/wiki/Oslo" in result and "not kept" in result


def test_a_failing_backend_fails_the_call_not_the_response(web, upstream, backend):
    backend[0].fail = True
    upstream.script(*_search_then("I could not search."))
    body = {"model": "fake-model", "input": "x", "tools": [{"type": "web_search"}]}
    response = check_response(web.post("/responses", json=body).json())
    assert response["status"] == "completed"
    assert response["output"][0]["status"] == "failed"
    told = upstream.requests[1]["messages"][-1]["content"]
    assert "The search failed" in told and "503" in told


def test_tool_choice_forces_a_search(web, upstream):
    upstream.script(*_search_then("ok"))
    body = {
        "model": "fake-model",
        "input": "x",
        "tools": [{"type": "web_search"}],
        "tool_choice": {"type": "web_search"},
    }
    assert web.post("/responses", json=body).status_code == 200
    assert upstream.requests[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "web_search"},
    }
    body = {"model": "fake-model", "input": "x", "tool_choice": {"type": "web_search"}}
    reply = web.post("/responses", json=body)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "tool_choice"


def test_without_a_backend_the_tool_is_withheld(http, upstream):
    upstream.script(Reply(text="no search"))
    body = {"model": "fake-model", "input": "x", "tools": [{"type": "web_search"}]}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.headers["responsd-skipped-tools"] == "web_search"
    assert "tools" not in upstream.requests[0]
    forced = {**body, "tool_choice": {"type": "web_search"}}
    assert http.post("/responses", json=forced).status_code == 400


def test_an_unreachable_backend_is_not_named_to_the_model(
    upstream_server, tmp_path_factory, upstream
):
    """The operator's search URL stays out of what the model (and so the user) reads."""
    on_sqlite = SimpleNamespace(param="sqlite")
    down = "http://127.0.0.1:9/search"  # the discard port: nothing listens
    thread = _responsd(on_sqlite, upstream_server, tmp_path_factory, web_search_url=down)
    try:
        upstream.script(*_search_then("No luck."))
        body = {"model": "fake-model", "input": "x", "tools": [{"type": "web_search"}]}
        with httpx.Client(base_url=f"{thread.url}/v1", timeout=20) as client:
            response = client.post("/responses", json=body).json()
        assert response["output"][0]["status"] == "failed"
        told = upstream.requests[1]["messages"][-1]["content"]
        assert told == "The search failed: it could not be reached."
    finally:
        thread.stop()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("search_content_types", ["text", "image"]),
        ("image_settings", {"size": "small"}),
        ("freshness", "week"),
        ("filters", {"blocked_domains": ["example.com"]}),
    ],
)
def test_what_it_cannot_honour_is_a_400(web, upstream, field, value):
    tool = {"type": "web_search", "search_content_types": ["text"], field: value}
    body = {"model": "fake-model", "input": "x", "tools": [tool]}
    reply = web.post("/responses", json=body)
    assert reply.status_code == 400, reply.text
    where = f"tools[0].{field}" + (".blocked_domains" if field == "filters" else "")
    assert reply.json()["error"]["param"] == where
    assert upstream.requests == []


def test_what_the_agents_sdk_sends_is_accepted(web, upstream):
    """`agents.WebSearchTool()` as the Agents SDK sends it: its unset options as nulls."""
    upstream.script(*_search_then("Oslo. [1]"))
    tool = {
        "type": "web_search",
        "filters": None,
        "user_location": None,
        "search_context_size": "medium",
        "external_web_access": True,
    }
    body = {"model": "fake-model", "input": "x", "tools": [tool]}
    response = check_response(web.post("/responses", json=body).json())
    assert response["output"][-1]["content"][0]["annotations"][0]["type"] == "url_citation"


async def test_an_agents_sdk_agent_searches(web_server, upstream, backend):
    """The Agents SDK's hosted `WebSearchTool`, run here, inside a whole agent run."""
    upstream.script(*_search_then("Oslo is the capital of Norway. [1]"))
    client = openai.AsyncOpenAI(base_url=f"{web_server.url}/v1", api_key="unused")
    agent = Agent(
        name="researcher",
        model=OpenAIResponsesModel("fake-model", client),
        tools=[WebSearchTool()],
    )
    async with client:
        result = await Runner.run(agent, "What is the capital of Norway?")
    assert result.final_output == "Oslo is the capital of Norway."
    assert [item.type for item in result.new_items] == ["tool_call_item", "message_output_item"]
    assert result.new_items[0].raw_item.type == "web_search_call"
    [annotation] = result.new_items[1].raw_item.content[0].annotations
    assert annotation.type == "url_citation" and annotation.title == "Oslo"


def _open_then(url: str, answer: str) -> tuple[Reply, Reply]:
    return Reply(tool_calls=[Call("open_page", json.dumps({"url": url}))]), Reply(text=answer)


def test_a_page_is_opened_read_and_cited(web, upstream, backend):
    url = f"{backend[1].url}/pages/oslo"
    upstream.script(*_open_then(url, "About 700,000 people live there. [1]"))
    body = {"model": "fake-model", "input": "how big is Oslo?", "tools": [{"type": "web_search"}]}
    response = check_response(web.post("/responses", json=body).json())
    call, message = response["output"]
    assert call["type"] == "web_search_call" and call["status"] == "completed"
    assert call["action"] == {"type": "open_page", "url": url}
    assert backend[0].queries == []  # no search: a page
    first, second = upstream.requests
    [opener] = [t["function"] for t in first["tools"] if t["function"]["name"] == "open_page"]
    assert opener["parameters"]["required"] == ["url"]
    read = second["messages"][-1]["content"]
    assert f"[1] Oslo \u2013 Wikipedia ({url}):" in read
    assert "Oslo has about 700,000 people." in read and "<p>" not in read
    [cited] = message["content"][0]["annotations"]
    assert cited["type"] == "url_citation" and cited["url"] == url
    assert cited["title"] == "Oslo \u2013 Wikipedia"


def test_a_later_response_sees_which_page_was_read(web, upstream, backend):
    url = f"{backend[1].url}/pages/oslo"
    upstream.script(*_open_then(url, "Big."), Reply(text="Yes."))
    tools = [{"type": "web_search"}]
    first = web.post("/responses", json={"model": "fake-model", "input": "x", "tools": tools})
    body = {"model": "fake-model", "input": "sure?", "tools": tools}
    web.post("/responses", json={**body, "previous_response_id": first.json()["id"]})
    messages = upstream.requests[-1]["messages"]
    call = next(m for m in messages if m.get("tool_calls"))
    assert call["tool_calls"][0]["function"] == {
        "name": "open_page",
        "arguments": json.dumps({"url": url}, separators=(",", ":")),
    }
    assert "not kept" in messages[messages.index(call) + 1]["content"]


def test_without_external_web_access_no_page_is_opened(web, upstream):
    upstream.script(Reply(text="ok"))
    tool = {"type": "web_search", "external_web_access": False}
    web.post("/responses", json={"model": "fake-model", "input": "x", "tools": [tool]})
    assert [t["function"]["name"] for t in upstream.requests[0]["tools"]] == ["web_search"]


def test_a_page_off_the_allowed_domains_is_not_opened(web, upstream, backend):
    upstream.script(*_open_then(f"{backend[1].url}/pages/oslo", "I cannot."))
    tool = {"type": "web_search", "filters": {"allowed_domains": ["wikipedia.org"]}}
    body = {"model": "fake-model", "input": "x", "tools": [tool]}
    response = check_response(web.post("/responses", json=body).json())
    assert response["output"][0]["status"] == "failed"
    told = upstream.requests[1]["messages"][-1]["content"]
    assert told == "The page could not be opened: the page is not on the allowed domains."


def test_the_outbound_guard_keeps_pages_on_private_networks_closed(make_client, upstream, backend):
    """Without the operator's leave, a page on loopback (or any private address) is not
    fetched: the call fails and the model is told why, the response goes on."""
    client = make_client(web_search_url=f"{backend[1].url}/search")
    upstream.script(*_open_then(f"{backend[1].url}/pages/oslo", "I could not read it."))
    response = client.responses.create(
        model="fake-model", input="x", tools=[{"type": "web_search"}]
    )
    assert response.status == "completed" and response.output[0].status == "failed"
    told = upstream.requests[1]["messages"][-1]["content"]
    assert told.endswith("the page is on a network this server may not reach.")


def test_a_page_that_never_ends_is_cut_off(web, upstream, backend, monkeypatch):
    monkeypatch.setattr(web_pages, "TIMEOUT", 0.3)  # each read is quick, the whole is not
    upstream.script(*_open_then(f"{backend[1].url}/pages/slow", "It would not load."))
    body = {"model": "fake-model", "input": "x", "tools": [{"type": "web_search"}]}
    response = check_response(web.post("/responses", json=body).json())
    assert response["output"][0]["status"] == "failed"
    told = upstream.requests[1]["messages"][-1]["content"]
    assert told == "The page could not be opened: the page took too long."
