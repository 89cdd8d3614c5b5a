"""Which tool types this server runs, and how their items look to the model.

Adding a built-in tool: a module implementing `BuiltinTool`, one entry in `_FACTORIES`, and
(when its items carry results the model must see) its view in `model_items`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from responsd.tools import (
    client_run,
    file_search,
    image_generation,
    mcp,
    tool_search,
    web_search,
)
from responsd.tools.base import BuiltinTool
from responsd.tools.file_search import Citations
from responsd.types.items import (
    FileSearchCall,
    ImageGenerationCall,
    Item,
    McpApprovalRequest,
    McpApprovalResponse,
    McpCall,
    McpListTools,
    ToolSearchCall,
    ToolSearchOutput,
    WebSearchCall,
)
from responsd.types.tools import (
    WEB_SEARCH_TYPES,
    FileSearchTool,
    ImageGenerationTool,
    McpTool,
    ToolSearchTool,
    WebSearchTool,
)


@dataclass(frozen=True, slots=True)
class ToolOptions:
    """Operator settings the built-in tools need (plain values, not Settings)."""

    allow_private_network: bool = False
    """Let tools reach loopback, private and link-local addresses (off: refused)."""
    mcp_timeout: float = 60.0
    """Seconds one MCP operation (listing, or one call) may take."""
    web_search_url: str | None = None
    """The search backend of `web_search` (tools/web_search.py); None: not run."""
    images_url: str | None = None
    """The image service of `image_generation` (tools/image_generation.py); None: not run."""
    images_api_key: str | None = field(default=None, repr=False)

    def served(self) -> frozenset[str]:
        """Hosted tool types that run here only when configured (else withheld)."""
        types = WEB_SEARCH_TYPES if self.web_search_url else frozenset()
        return types | ({"image_generation"} if self.images_url else set())


@dataclass(slots=True)
class ToolContext:
    """What the tools of one request share: services, and what the request asked for."""

    library: Any = None
    """The user's files (file_search.Searchable)."""
    include: frozenset[str] = frozenset()
    citations: Citations = field(default_factory=Citations)
    tools: list[Any] = field(default_factory=list)
    """The request's `tools` (tool_search searches its deferred ones)."""


def _web_search(config: WebSearchTool, o: ToolOptions, c: ToolContext) -> BuiltinTool | None:
    if o.web_search_url is None:
        return None  # withheld from the model, as hosted tools this server cannot run are
    # The item has no field for results but its sources: both names ask for those.
    sources = bool({"web_search_call.action.sources", "web_search_call.results"} & c.include)
    return web_search.WebSearch(
        config, o.web_search_url, sources, c.citations, o.allow_private_network
    )


def _image_generation(
    config: ImageGenerationTool, o: ToolOptions, c: ToolContext
) -> BuiltinTool | None:
    if o.images_url is None:
        return None  # withheld from the model, as hosted tools this server cannot run are
    return image_generation.ImageGeneration(config, o.images_url, o.images_api_key, c.library)


_FACTORIES: dict[type, Callable[[Any, ToolOptions, ToolContext], BuiltinTool | None]] = {
    McpTool: lambda config, o, _: mcp.McpServerTool(config, o.allow_private_network, o.mcp_timeout),
    FileSearchTool: lambda config, _, c: file_search.FileSearch(
        config, c.library, "file_search_call.results" in c.include, c.citations
    ),
    ToolSearchTool: lambda config, _, c: tool_search.ToolSearch(config, c.tools),
    WebSearchTool: _web_search,
    ImageGenerationTool: _image_generation,
}


def builtin_tool(config: object, options: ToolOptions, context: ToolContext) -> BuiltinTool | None:
    """The runnable tool for one entry of `tools`; None when it is not a built-in we run."""
    factory = _FACTORIES.get(type(config))
    return factory(config, options, context) if factory else None


TOOL_ITEMS = (
    McpCall,
    McpApprovalRequest,
    McpApprovalResponse,
    McpListTools,
    FileSearchCall,
    WebSearchCall,
    ImageGenerationCall,
    ToolSearchCall,
    ToolSearchOutput,
    *client_run.ITEMS,
)
"""Items of built-in tools and of the typed tools clients run (apply_patch, shell), which
the model sees as function calls and results."""


def model_items(items: list[Item], citations: Citations | None = None) -> list[Item]:
    """Built-in tool items as the model sees them (calls and their results as functions)."""
    if not any(isinstance(item, TOOL_ITEMS) for item in items):
        return items  # most histories: one cheap pass instead of two rebuilding ones
    items = file_search.model_items(mcp.model_items(items), citations)
    items = image_generation.model_items(web_search.model_items(items, citations))
    return client_run.model_items(tool_search.model_items(items))
