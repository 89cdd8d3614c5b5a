"""The hosted API's `file_search` tool: the model searches the user's vector stores.

- To the model it is one function, `file_search`, taking `queries` (a list of strings); each
  call becomes a `file_search_call` item (`queries`, `status`, and `results` only when the
  request includes `file_search_call.results`), with its in_progress → searching → completed
  events.
- The model reads the results as numbered sources, `[n] filename: text`, and is asked to cite
  them by writing `[n]` after the sentence that uses one (`[1, 3]` for several). The numbers
  are kept per response (`Citations`), so every source has one number, and the engine turns
  each marker in the answer into a `file_citation` annotation (engine/citations.py). A model
  that writes no marker gives an answer without annotations.
- Results the client did not include are still shown to the model in the turns of the same
  response; a later response sees only the queries of a call whose results were not kept.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from responsd.ids import new_item_id
from responsd.providers.base import ToolSpec
from responsd.retrieval.filters import check_filter
from responsd.retrieval.search import Ranking, SearchHit
from responsd.tools.base import ToolJob, ToolProgress, as_function_calls, strict_object
from responsd.types.events import (
    ResponseFileSearchCallCompletedEvent,
    ResponseFileSearchCallInProgressEvent,
    ResponseFileSearchCallSearchingEvent,
)
from responsd.types.items import (
    FileSearchCall,
    FileSearchResult,
    Item,
)
from responsd.types.tools import FileSearchTool

FUNCTION = "file_search"
DEFAULT_MAX_RESULTS = 10
DESCRIPTION = (
    "Search the user's uploaded files. Give one or more search queries; the results are "
    "numbered sources. Cite a source by writing its number in square brackets, like [1], "
    "right after the sentence that uses it."
)
PARAMETERS = strict_object(
    queries={
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "minItems": 1,
        "maxItems": 5,
        "description": "Search queries, each a few words about what to find.",
    }
)
CITE_NOTE = "Cite the sources you use by their number in square brackets, like [1]."


class Searchable(Protocol):
    """What this tool needs of the library (engine/library.py)."""

    async def usable_stores(self, store_ids: list[str], params: list[str]) -> dict[str, Any]: ...

    async def search(
        self,
        store_ids: list[str],
        queries: list[str],
        limit: int,
        filters: dict[str, Any] | None,
        ranking: Ranking,
        params: list[str] | None = None,
    ) -> list[SearchHit]: ...


@dataclass(slots=True)
class Citations:
    """The numbered sources one response showed its model, and the results behind them."""

    sources: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Source number → its annotation, less the position (a `file_citation` with `file_id`
    and `filename`, or a `url_citation` with `url` and `title`)."""
    _numbers: dict[tuple[str, int], int] = field(default_factory=dict)
    results: dict[str, list[Any]] = field(default_factory=dict)
    """Results of this response's calls by item id (file or web search), kept in the item or
    not."""

    def number(self, item_id: str, index: int, source: dict[str, Any]) -> int:
        """The number of result `index` of call `item_id`, given its first time."""
        key = (item_id, index)
        if key not in self._numbers:
            self._numbers[key] = len(self._numbers) + 1
            self.sources[self._numbers[key]] = source
        return self._numbers[key]


class FileSearch:
    """One `file_search` entry of a request's tools."""

    def __init__(
        self,
        config: FileSearchTool,
        library: Searchable,
        include_results: bool,
        citations: Citations,
    ):
        self.config = config
        self.library = library
        self.include_results = include_results
        self.citations = citations
        self.params: list[str] | None = None

    async def check(self, param: str) -> None:
        ids = self.config.vector_store_ids
        self.params = [f"{param}.vector_store_ids[{i}]" for i in range(len(ids))]
        await self.library.usable_stores(ids, self.params)
        if self.config.filters is not None:
            check_filter(self.config.filters, f"{param}.filters")

    def setup(self, context: list[Item]) -> ToolJob | None:
        return None

    def functions(self) -> list[ToolSpec]:
        return [ToolSpec(FUNCTION, "function", DESCRIPTION, PARAMETERS, True, builtin=True)]

    def owns(self, function: str) -> bool:
        return function == FUNCTION

    def call(self, spec: ToolSpec, arguments: str) -> list[ToolJob]:
        item = FileSearchCall(
            id=new_item_id("file_search_call"), queries=_queries(arguments), status="in_progress"
        )
        return [ToolJob(item, lambda index: self._run(item, index))]

    async def _run(self, item: FileSearchCall, index: int) -> ToolProgress:
        ids: dict[str, Any] = {"item_id": item.id, "output_index": index}
        yield ResponseFileSearchCallInProgressEvent(**ids)
        yield ResponseFileSearchCallSearchingEvent(**ids)
        config = self.config
        options = config.ranking_options
        weights = options.hybrid_search if options else None
        ranking = Ranking(
            score_threshold=(options.score_threshold or 0.0) if options else 0.0,
            text_weight=weights.text_weight if weights else 1.0,
            embedding_weight=weights.embedding_weight if weights else 1.0,
        )
        hits = await self.library.search(
            config.vector_store_ids,
            item.queries,
            config.max_num_results or DEFAULT_MAX_RESULTS,
            config.filters,
            ranking,
            self.params,
        )
        results = [
            FileSearchResult(
                file_id=h.file_id,
                filename=h.filename,
                score=h.score,
                text=h.text,
                attributes=h.attributes,
            )
            for h in hits
        ]
        self.citations.results[item.id or ""] = results
        yield ResponseFileSearchCallCompletedEvent(**ids)
        yield item.model_copy(
            update={"status": "completed", "results": results if self.include_results else None}
        )

    def resume(self, history: list[Item], input_items: list[Item]) -> list[ToolJob]:
        return []

    async def close(self) -> None:
        return None


def _queries(arguments: str) -> list[str]:
    """The model's queries; text that is not the expected JSON is taken as one query."""
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return [arguments.strip()] if arguments.strip() else []
    queries = value.get("queries") if isinstance(value, dict) else value
    if isinstance(queries, str):
        return [queries]
    if isinstance(queries, list):
        return [q for q in queries if isinstance(q, str) and q.strip()]
    return []


def model_items(items: list[Item], citations: Citations | None) -> list[Item]:
    """Each file_search_call as the function call and numbered results the model saw."""

    def seen(item: FileSearchCall) -> tuple[str, dict[str, Any], str]:
        results = item.results
        if results is None and citations is not None:
            results = citations.results.get(item.id or "")
        return FUNCTION, {"queries": item.queries}, _results_text(item, results, citations)

    return as_function_calls(items, FileSearchCall, seen)


def _results_text(
    item: FileSearchCall, results: list[FileSearchResult] | None, citations: Citations | None
) -> str:
    if results is None:
        return "The results of this search were not kept; search again if you need them."
    if not results:
        return "No results found."
    lines = []
    for n, result in enumerate(results):
        source = {"type": "file_citation", "file_id": result.file_id, "filename": result.filename}
        number = citations.number(item.id or "", n, source) if citations is not None else n + 1
        lines.append(f"[{number}] {result.filename}: {result.text}")
    return CITE_NOTE + "\n\n" + "\n\n".join(lines)
