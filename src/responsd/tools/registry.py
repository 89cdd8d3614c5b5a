"""Which tool types this server runs, and how their items look to the model.

Adding a built-in tool: a module implementing `BuiltinTool`, one entry in `_FACTORIES`, and
(when its items carry results the model must see) its view in `model_items`.
"""

from collections.abc import Callable
from dataclasses import dataclass

from responsd.tools import mcp
from responsd.tools.base import BuiltinTool
from responsd.types.items import Item
from responsd.types.tools import McpTool


@dataclass(frozen=True, slots=True)
class ToolOptions:
    """Operator settings the built-in tools need (plain values, not Settings)."""

    allow_private_network: bool = False
    """Let tools reach loopback, private and link-local addresses (off: refused)."""
    mcp_timeout: float = 60.0
    """Seconds one MCP operation (listing, or one call) may take."""


_FACTORIES: dict[type, Callable[[object, ToolOptions], BuiltinTool]] = {
    McpTool: lambda config, o: mcp.McpServerTool(config, o.allow_private_network, o.mcp_timeout),
}


def builtin_tool(config: object, options: ToolOptions) -> BuiltinTool | None:
    """The runnable tool for one entry of `tools`; None when it is not a built-in we run."""
    factory = _FACTORIES.get(type(config))
    return factory(config, options) if factory else None


def model_items(items: list[Item]) -> list[Item]:
    """Built-in tool items as the model sees them (calls and their results as functions)."""
    return mcp.model_items(items)
