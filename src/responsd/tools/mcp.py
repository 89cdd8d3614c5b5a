"""The hosted API's `mcp` tool: a remote MCP server's tools, listed and called by this server.

- Listing: once per server per context. A `mcp_list_tools` item for the same `server_label`
  in the history (previous response or conversation) or input is reused; otherwise the
  first turn is preceded by a listing, and a failed listing fails the response (424).
- The model sees each allowed tool as a function named `<server_label>__<tool>`, so two
  servers cannot collide; calls are mapped back to `mcp_call` items (name, arguments).
- Approval (`require_approval`, default `always` as in the hosted API): a call that needs it
  becomes an `mcp_approval_request` item and ends the response; a later request carrying an
  approving `mcp_approval_response` runs it. Filter objects: a tool matched by `never` needs
  no approval, one matched by `always` does; a tool matched by neither needs approval unless
  only `always` was given.
- `headers` and `authorization` go to the server only (see McpEndpoint).
"""

from typing import Any

import orjson

from responsd.errors import InvalidRequestError, ToolServerError, UnsupportedParameterError
from responsd.ids import new_item_id
from responsd.providers.base import ToolSpec
from responsd.tools.base import ToolJob, ToolProgress
from responsd.tools.mcp_session import McpEndpoint, McpFailure, call_tool, list_tools
from responsd.tools.netguard import check_url
from responsd.types.events import (
    ResponseMcpCallArgumentsDeltaEvent,
    ResponseMcpCallArgumentsDoneEvent,
    ResponseMcpCallCompletedEvent,
    ResponseMcpCallFailedEvent,
    ResponseMcpCallInProgressEvent,
    ResponseMcpListToolsCompletedEvent,
    ResponseMcpListToolsFailedEvent,
    ResponseMcpListToolsInProgressEvent,
)
from responsd.types.items import (
    FunctionCall,
    FunctionCallOutput,
    Item,
    McpApprovalRequest,
    McpApprovalResponse,
    McpCall,
    McpListTools,
    McpListToolsTool,
)
from responsd.types.tools import McpApprovalFilter, McpTool, McpToolFilter

NAME_SEPARATOR = "__"


def function_name(server_label: str, tool: str) -> str:
    return f"{server_label}{NAME_SEPARATOR}{tool}"


class McpServerTool:
    """One `mcp` entry of a request's tools."""

    def __init__(self, config: McpTool, allow_private: bool, timeout: float) -> None:
        self.config = config
        self.label = config.server_label
        headers = dict(config.headers or {})
        if config.authorization:
            headers["Authorization"] = f"Bearer {config.authorization}"
        self.endpoint = McpEndpoint(config.server_url or "", headers, allow_private, timeout)
        self.tools: list[McpListToolsTool] = []
        self._by_function: dict[str, McpListToolsTool] = {}

    async def check(self, param: str) -> None:
        config = self.config
        for name in ("connector_id", "tunnel_id"):
            if getattr(config, name):
                raise UnsupportedParameterError(
                    f"MCP {name.replace('_id', '')}s are not available on this server; give "
                    "the MCP server's own server_url instead.",
                    param=f"{param}.{name}",
                )
        if config.defer_loading:
            raise UnsupportedParameterError(
                "Deferred MCP servers are not searchable on this server yet (tool_search "
                "loads deferred functions and custom tools); drop defer_loading.",
                param=f"{param}.defer_loading",
            )
        if config.allowed_callers and set(config.allowed_callers) != {"direct"}:
            raise UnsupportedParameterError(
                "Only direct calls by the model are supported; set allowed_callers to "
                '["direct"] or drop it.',
                param=f"{param}.allowed_callers",
            )
        if not config.server_url:
            raise InvalidRequestError(
                "An mcp tool needs a server_url.", param=f"{param}.server_url"
            )
        await check_url(config.server_url, f"{param}.server_url", self.endpoint.allow_private)

    def setup(self, context: list[Item]) -> ToolJob | None:
        for item in reversed(context):
            if isinstance(item, McpListTools) and item.server_label == self.label:
                if item.error is None:
                    self._adopt(item.tools)
                    return None
                break  # the last listing failed: list again
        item = McpListTools(id=new_item_id("mcp_list_tools"), server_label=self.label, tools=[])
        return ToolJob(item, lambda index: self._list(item, index), is_call=False)

    async def _list(self, item: McpListTools, index: int) -> ToolProgress:
        ids: dict[str, Any] = {"item_id": item.id, "output_index": index}
        yield ResponseMcpListToolsInProgressEvent(**ids)
        try:
            tools = await list_tools(self.endpoint)
        except McpFailure as exc:
            message = f"Error retrieving tool list from MCP server '{self.label}': {exc}"
            yield ResponseMcpListToolsFailedEvent(**ids)
            yield item.model_copy(update={"error": message})
            raise ToolServerError(message, param="tools") from exc
        listed = [McpListToolsTool.model_validate(tool) for tool in tools]
        self._adopt(listed)
        yield ResponseMcpListToolsCompletedEvent(**ids)
        yield item.model_copy(update={"tools": listed})

    def _adopt(self, tools: list[McpListToolsTool]) -> None:
        self.tools = [t for t in tools if _matches(self.config.allowed_tools, t, default=True)]
        self._by_function = {function_name(self.label, t.name): t for t in self.tools}

    def functions(self) -> list[ToolSpec]:
        description = self.config.server_description
        return [
            ToolSpec(
                name,
                "function",
                f"{tool.description or ''} (MCP server {self.label}"
                + (f": {description})" if description else ")"),
                tool.input_schema or {"type": "object", "properties": {}},
                builtin=True,
            )
            for name, tool in self._by_function.items()
        ]

    def owns(self, function: str) -> bool:
        return function in self._by_function

    def call(self, spec: ToolSpec, arguments: str) -> list[ToolJob]:
        tool = self._by_function[spec.name]
        if self._needs_approval(tool):
            request = McpApprovalRequest(
                id=new_item_id("mcp_approval_request"),
                server_label=self.label,
                name=tool.name,
                arguments=arguments,
            )
            return [ToolJob(request, awaits_client=True)]
        return [self._call_job(tool.name, arguments, None)]

    def resume(self, history: list[Item], input_items: list[Item]) -> list[ToolJob]:
        requests = {
            item.id: item
            for item in [*history, *input_items]
            if isinstance(item, McpApprovalRequest) and item.server_label == self.label
        }
        answered = {
            item.approval_request_id
            for item in [*history, *input_items]
            if isinstance(item, McpCall) and item.approval_request_id
        }
        jobs = []
        for item in input_items:
            if not isinstance(item, McpApprovalResponse) or not item.approve:
                continue
            request = requests.get(item.approval_request_id)
            if request is None or request.id in answered:
                continue
            answered.add(request.id or "")
            jobs.append(self._call_job(request.name, request.arguments, request.id))
        return jobs

    def _call_job(self, name: str, arguments: str, approval_request_id: str | None) -> ToolJob:
        item = McpCall(
            id=new_item_id("mcp_call"),
            server_label=self.label,
            name=name,
            arguments="",
            status="in_progress",
            approval_request_id=approval_request_id,
        )
        return ToolJob(item, lambda index: self._call(item, arguments, index))

    async def _call(self, item: McpCall, arguments: str, index: int) -> ToolProgress:
        ids: dict[str, Any] = {"item_id": item.id, "output_index": index}
        yield ResponseMcpCallArgumentsDeltaEvent(**ids, delta=arguments)
        yield ResponseMcpCallArgumentsDoneEvent(**ids, arguments=arguments)
        yield ResponseMcpCallInProgressEvent(**ids)
        final = {"arguments": arguments}
        try:
            parsed = orjson.loads(arguments or "{}")
            if not isinstance(parsed, dict):
                raise ValueError("the arguments are not a JSON object")
        except ValueError as exc:
            error = {"type": "mcp_protocol_error", "code": -32602, "message": f"{exc}"}
            yield ResponseMcpCallFailedEvent(**ids)
            yield item.model_copy(update={**final, "status": "failed", "error": error})
            return
        try:
            output = await call_tool(self.endpoint, item.name, parsed)
        except McpFailure as exc:
            yield ResponseMcpCallFailedEvent(**ids)
            yield item.model_copy(update={**final, "status": "failed", "error": exc.error})
            return
        yield ResponseMcpCallCompletedEvent(**ids)
        yield item.model_copy(update={**final, "status": "completed", "output": output})

    def _needs_approval(self, tool: McpListToolsTool) -> bool:
        policy = self.config.require_approval
        if policy in (None, "always"):
            return True
        if policy == "never":
            return False
        assert isinstance(policy, McpApprovalFilter)
        if policy.never and _matches(policy.never, tool, default=False):
            return False
        if policy.always and _matches(policy.always, tool, default=False):
            return True
        return not (policy.always and not policy.never)

    async def close(self) -> None:
        return None


def _matches(
    selector: list[str] | McpToolFilter | None, tool: McpListToolsTool, default: bool
) -> bool:
    if selector is None:
        return default
    if isinstance(selector, list):
        return tool.name in selector
    if selector.tool_names is None and selector.read_only is None:
        return default
    if selector.tool_names is not None and tool.name not in selector.tool_names:
        return False
    if selector.read_only is not None:
        read_only = bool((tool.annotations or {}).get("readOnlyHint", False))
        return read_only == selector.read_only
    return True


def model_items(items: list[Item]) -> list[Item]:
    """MCP items as the model sees them: each call (or declined request) and its result."""
    requests = {item.id: item for item in items if isinstance(item, McpApprovalRequest)}
    view: list[Item] = []
    for item in items:
        if isinstance(item, McpCall):
            result = item.output if item.error is None else f"Error: {_error_text(item.error)}"
            view.extend(_pair(item.id, item.server_label, item.name, item.arguments, result))
        elif isinstance(item, McpApprovalResponse) and not item.approve:
            request = requests.get(item.approval_request_id)
            if request is not None:
                result = "The user declined this call." + (f" {item.reason}" if item.reason else "")
                view.extend(
                    _pair(request.id, request.server_label, request.name, request.arguments, result)
                )
        elif not isinstance(item, McpListTools | McpApprovalRequest | McpApprovalResponse):
            view.append(item)
    return view


def _pair(
    call_id: str | None, label: str, name: str, arguments: str, result: str | None
) -> list[Item]:
    return [
        FunctionCall(call_id=call_id or "", name=function_name(label, name), arguments=arguments),
        FunctionCallOutput(call_id=call_id or "", output=result or ""),
    ]


def _error_text(error: dict[str, Any]) -> str:
    if "message" in error:
        return str(error["message"])
    texts = [c.get("text", "") for c in error.get("content") or [] if isinstance(c, dict)]
    return "\n".join(t for t in texts if t) or orjson.dumps(error).decode()
