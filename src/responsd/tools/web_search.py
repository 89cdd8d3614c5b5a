"""The hosted API's `web_search` tool, run on a search backend the operator names.

- The backend is a SearXNG-compatible JSON API (`web_search_url`): `GET <url>?q=<query>&
  format=json` answers `{"results": [{"url", "title", "content"}, …]}`. It is the operator's
  own service, so it is not held to the private-network guard; no result page is fetched.
- To the model it is one function, `web_search`, taking a `query`; each call is a
  `web_search_call` item (`action: {type: "search", query}`, with the result pages as
  `sources` when the request includes `web_search_call.action.sources`) with its
  in_progress → searching → completed events. A backend that fails makes the item `failed`
  and the model is told so.
- `search_context_size` is how many results the model reads (low 3, medium 5, high 10);
  `filters.allowed_domains` keeps the results on those domains (and their subdomains);
  `user_location` is told to the model, so it can make its queries local.
- The model reads the results as numbered sources, `[n] title (url): snippet`, and cites
  them as file_search's are; each marker becomes a `url_citation` (engine/citations.py).
- Unless `external_web_access` is false, the model may also open a page (`open_page`, a
  `url`): a `web_search_call` with `action: {type: "open_page", url}`; the page is fetched
  through the outbound guard (tools/web_pages.py) and its text, cut to a size that follows
  `search_context_size`, is one more numbered source.
"""

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

from responsd.errors import UnsupportedParameterError
from responsd.ids import new_item_id
from responsd.providers.base import ToolSpec
from responsd.tools.base import (
    ToolJob,
    ToolProgress,
    as_function_calls,
    refuse_unknown,
    strict_object,
    text_argument,
    unknown_settings,
)
from responsd.tools.file_search import CITE_NOTE, Citations
from responsd.tools.web_pages import PageError, fetch_page
from responsd.types.events import (
    ResponseWebSearchCallCompletedEvent,
    ResponseWebSearchCallInProgressEvent,
    ResponseWebSearchCallSearchingEvent,
)
from responsd.types.items import Item, WebSearchCall
from responsd.types.tools import WebSearchTool

log = logging.getLogger("responsd.tools.web_search")

FUNCTION = "web_search"
RESULTS = {"low": 3, "medium": 5, "high": 10}
TIMEOUT = 15.0
"""Seconds the backend has to answer one search."""
SNIPPET_CHARS = 600
DESCRIPTION = (
    "Search the web. Give one query, a few words about what to find; the results are "
    "numbered sources. Cite a source by writing its number in square brackets, like [1], "
    "right after the sentence that uses it."
)
PARAMETERS = strict_object(query={"type": "string", "description": "What to search for."})
OPEN_PAGE = "open_page"
OPEN_PAGE_DESCRIPTION = (
    "Read a web page (a search result's, or one the user gave): its text is one more "
    "numbered source, cited as search results are."
)
OPEN_PAGE_PARAMETERS = strict_object(
    url={"type": "string", "description": "The page's http(s) URL."}
)
PAGE_CHARS = {"low": 4_000, "medium": 8_000, "high": 16_000}
"""Characters of a page's text the model reads."""


class WebSearch:
    """One `web_search` entry of a request's tools."""

    def __init__(
        self,
        config: WebSearchTool,
        url: str,
        include_sources: bool,
        citations: Citations,
        allow_private: bool = False,
    ):
        self.config = config
        self.url = url
        self.include_sources = include_sources
        self.citations = citations
        self.allow_private = allow_private
        """Pages on private networks may be opened (the operator's setting)."""
        self._http: httpx.AsyncClient | None = None

    async def check(self, param: str) -> None:
        kinds = self.config.search_content_types or []
        if any(kind != "text" for kind in kinds):
            raise UnsupportedParameterError(
                "This server's web search finds text only; leave out search_content_types "
                'or set it to ["text"].',
                param=f"{param}.search_content_types",
            )
        extra = self.config.__pydantic_extra__ or {}
        if extra.get("image_settings") is not None:
            raise UnsupportedParameterError(
                "This server's web search finds no images.", param=f"{param}.image_settings"
            )
        unknown = unknown_settings(self.config, param)
        unknown += unknown_settings(self.config.filters, f"{param}.filters")
        refuse_unknown(unknown, "this server's web search")

    def setup(self, context: list[Item]) -> ToolJob | None:
        return None

    def functions(self) -> list[ToolSpec]:
        description = DESCRIPTION
        where = _location(self.config.user_location)
        if where:
            description += f" The user is in or near {where}."
        specs = [ToolSpec(FUNCTION, "function", description, PARAMETERS, True, builtin=True)]
        if self._opens_pages:
            specs.append(
                ToolSpec(
                    OPEN_PAGE,
                    "function",
                    OPEN_PAGE_DESCRIPTION,
                    OPEN_PAGE_PARAMETERS,
                    True,
                    builtin=True,
                )
            )
        return specs

    @property
    def _opens_pages(self) -> bool:
        return self.config.external_web_access is not False  # false: no live page fetches

    def owns(self, function: str) -> bool:
        return function == FUNCTION or (function == OPEN_PAGE and self._opens_pages)

    def call(self, spec: ToolSpec, arguments: str) -> list[ToolJob]:
        if spec.name == OPEN_PAGE:
            action = {"type": "open_page", "url": text_argument(arguments, "url")}
            run = self._open
        else:
            action = {"type": "search", "query": text_argument(arguments, "query")}
            run = self._run
        item = WebSearchCall(id=new_item_id("web_search_call"), status="in_progress", action=action)
        return [ToolJob(item, lambda index: run(item, index))]

    async def _open(self, item: WebSearchCall, index: int) -> ToolProgress:
        ids: dict[str, Any] = {"item_id": item.id, "output_index": index}
        yield ResponseWebSearchCallInProgressEvent(**ids)
        yield ResponseWebSearchCallSearchingEvent(**ids)
        url = (item.action or {}).get("url") or ""
        allowed = (self.config.filters.allowed_domains if self.config.filters else None) or []
        try:
            if not _on(url, allowed):
                raise PageError("the page is not on the allowed domains")
            title, text = await fetch_page(url, self.allow_private)
        except PageError as exc:
            log.info("web page %s not opened: %s", url, exc)
            self.citations.results[item.id or ""] = [f"The page could not be opened: {exc}."]
            yield item.model_copy(update={"status": "failed"})
            return
        limit = PAGE_CHARS[self.config.search_context_size or "medium"]
        page = {"url": url, "title": title, "snippet": text[:limit]}
        self.citations.results[item.id or ""] = [page]
        yield ResponseWebSearchCallCompletedEvent(**ids)
        yield item.model_copy(update={"status": "completed"})

    async def _run(self, item: WebSearchCall, index: int) -> ToolProgress:
        ids: dict[str, Any] = {"item_id": item.id, "output_index": index}
        yield ResponseWebSearchCallInProgressEvent(**ids)
        yield ResponseWebSearchCallSearchingEvent(**ids)
        action = dict(item.action or {})
        try:
            results = await self._search(action["query"])
        except (httpx.HTTPError, ValueError) as exc:
            # The operator's log gets the details; the model (and so the user) gets no URL.
            log.warning("web search failed: %r", exc)
            why = str(exc) if isinstance(exc, ValueError) else "it could not be reached"
            self.citations.results[item.id or ""] = [f"The search failed: {why}."]
            yield item.model_copy(update={"status": "failed"})
            return
        self.citations.results[item.id or ""] = results
        if self.include_sources:
            action["sources"] = [{"type": "url", "url": r["url"]} for r in results]
        yield ResponseWebSearchCallCompletedEvent(**ids)
        yield item.model_copy(update={"status": "completed", "action": action})

    async def _search(self, query: str) -> list[dict[str, str]]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True)
        reply = await self._http.get(self.url, params={"q": query, "format": "json"})
        if reply.status_code != 200:
            raise ValueError(f"the search service answered {reply.status_code}")
        found = reply.json().get("results") if reply.content else None
        if not isinstance(found, list):
            raise ValueError("the search service sent no result list")
        allowed = (self.config.filters.allowed_domains if self.config.filters else None) or []
        results = []
        for entry in found:
            url = entry.get("url") if isinstance(entry, dict) else None
            if not isinstance(url, str) or not _on(url, allowed):
                continue
            title = entry.get("title") if isinstance(entry.get("title"), str) else url
            snippet = entry.get("content") if isinstance(entry.get("content"), str) else ""
            results.append({"url": url, "title": title, "snippet": snippet[:SNIPPET_CHARS]})
        return results[: RESULTS[self.config.search_context_size or "medium"]]

    def resume(self, history: list[Item], input_items: list[Item]) -> list[ToolJob]:
        return []

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def _on(url: str, domains: list[str]) -> bool:
    if not domains:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return any(host == d.lower() or host.endswith("." + d.lower()) for d in domains)


def _location(location: dict[str, Any] | None) -> str:
    if not location:
        return ""
    parts = [location.get(k) for k in ("city", "region", "country")]
    return ", ".join(p for p in parts if isinstance(p, str) and p)


_PAGE_ACTIONS = ("open_page", "find_in_page")
"""Actions on one page (find_in_page: in searches replayed from the hosted API)."""


def model_items(items: list[Item], citations: Citations | None) -> list[Item]:
    """Each web_search_call as the function call and numbered results the model saw (in a
    later response: the query or page, and the pages found when they were kept)."""

    def seen(item: WebSearchCall) -> tuple[str, dict[str, Any], str]:
        action = item.action or {}
        results = citations.results.get(item.id or "") if citations is not None else None
        output = _results_text(item, results, citations)
        if action.get("type") in _PAGE_ACTIONS:
            return OPEN_PAGE, {"url": action.get("url") or ""}, output
        return FUNCTION, {"query": action.get("query") or ""}, output

    return as_function_calls(items, WebSearchCall, seen)


def _results_text(
    item: WebSearchCall, results: list[Any] | None, citations: Citations | None
) -> str:
    if results and isinstance(results[0], str):
        return results[0]  # the failure the model was told
    if results is None and (item.action or {}).get("type") in _PAGE_ACTIONS:
        return "The text of this page was not kept; open it again if you need it."
    if results is None:
        sources = (item.action or {}).get("sources") or []
        urls = [str(s["url"]) for s in sources if isinstance(s, dict) and s.get("url")]
        if urls:
            return "Pages found by this search (their text was not kept):\n" + "\n".join(urls)
        return "The results of this search were not kept; search again if you need them."
    if not results:
        return "No results found."
    lines = []
    for n, result in enumerate(results):
        source = {"type": "url_citation", "url": result["url"], "title": result["title"]}
        number = citations.number(item.id or "", n, source) if citations is not None else n + 1
        lines.append(f"[{number}] {result['title']} ({result['url']}): {result['snippet']}")
    return CITE_NOTE + "\n\n" + "\n\n".join(lines)
