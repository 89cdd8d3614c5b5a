"""Rewrite one module's Chat Completions calls as Responses calls.

Calls whose result is bound to the same name in one scope migrate together or not at all
(their reads cannot tell them apart). A call that cannot be migrated safely is left as it
is, with a `# responsd-migrate:` comment above its statement saying why.
"""

from dataclasses import dataclass
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider, ScopeProvider

from responsd.migrate.arguments import (
    check_names,
    convert_arguments,
    convert_message,
    convert_messages,
    convert_tools,
)
from responsd.migrate.results import Reads, chain
from responsd.migrate.syntax import Edit, Unsafe, attr

METHODS = ("create", "parse", "stream")
MARK = "# responsd-migrate:"


@dataclass(frozen=True, slots=True)
class CallReport:
    line: int
    method: str
    migrated: bool
    reason: str | None = None


@dataclass(slots=True)
class _Call:
    node: cst.Call
    method: str
    result: cst.Name | None  # the name the result is bound to, if any


class _Finder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.calls: list[tuple[cst.Call, str]] = []

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in METHODS
            and isinstance(func.value, cst.Attribute)
            and func.value.attr.value == "completions"
            and isinstance(func.value.value, cst.Attribute)
            and func.value.value.attr.value == "chat"
        ):
            self.calls.append((node, func.attr.value))


def _responses_func(func: cst.Attribute) -> cst.BaseExpression:
    """`X.chat.completions.M` (or `X.beta.chat.completions.M`) → `X.responses.M`."""
    chat = func.value.value  # type: ignore[attr-defined]
    base = chat.value
    if isinstance(base, cst.Attribute) and base.attr.value == "beta":
        base = base.value
    return attr(base, "responses", func.attr.value)


class ModuleMigration:
    def __init__(self, code: str):
        self._lines = code.splitlines()
        # The freshly parsed tree is ours alone: no defensive deep copy.
        self.wrapper = MetadataWrapper(cst.parse_module(code), unsafe_skip_copy=True)
        self.module = self.wrapper.module
        # One batched pass for all three (each resolve() alone walks the whole tree).
        found: Any = self.wrapper.resolve_many(
            [ParentNodeProvider, ScopeProvider, PositionProvider]
        )
        self._parents = found[ParentNodeProvider]
        self._scopes = found[ScopeProvider]
        self._positions = found[PositionProvider]
        self.edits: dict[cst.CSTNode, Edit] = {}
        self.comments: dict[cst.CSTNode, list[str]] = {}
        self.reports: list[CallReport] = []

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self._parents.get(node)

    def uses_of(self, name: cst.Name) -> list[cst.Name]:
        """Every read of the variable `name` binds, in its scope and the scopes inside it."""
        scope = self._scopes.get(name)
        if scope is None:
            return []
        uses = []
        for assignment in scope[name.value]:
            for access in assignment.references:
                if isinstance(access.node, cst.Name) and access.node not in uses:
                    uses.append(access.node)
        return uses

    def _assignments(self, name: cst.Name) -> list[cst.CSTNode]:
        scope = self._scopes.get(name)
        if scope is None:
            return []
        return [a.node for a in scope[name.value]]

    def run(self) -> tuple[str, list[CallReport]]:
        finder = _Finder()
        self.module.visit(finder)
        groups: dict[Any, list[_Call]] = {}
        for node, method in finder.calls:
            call = _Call(node, method, self._result_name(node))
            key = (id(self._scopes.get(call.result)), call.result.value) if call.result else node
            groups.setdefault(key, []).append(call)
        for group in groups.values():
            self._migrate(group)
        self.reports.sort(key=lambda r: r.line)
        new = self.module.visit(_Apply(self.edits, self.comments))
        return new.code, self.reports

    def _result_name(self, call: cst.Call) -> cst.Name | None:
        node: cst.CSTNode = call
        up = self.parent(node)
        if isinstance(up, cst.Await):
            node, up = up, self.parent(up)
        if isinstance(up, cst.Assign) and len(up.targets) == 1 and up.value is node:
            target = up.targets[0].target
            return target if isinstance(target, cst.Name) else None
        return None

    def _migrate(self, group: list[_Call]) -> None:
        edits: dict[cst.CSTNode, Edit] = {}
        try:
            self._plan(group, edits)
        except Unsafe as exc:
            for call in group:
                self._leave(call, str(exc))
            return
        self.edits.update(edits)
        for call in group:
            self.reports.append(CallReport(self._line(call.node), call.method, True))

    def _plan(self, group: list[_Call], edits: dict[cst.CSTNode, Edit]) -> None:
        result = group[0].result
        if result is not None and any(
            not self._is_group_assignment(node, group) for node in self._assignments(result)
        ):
            raise Unsafe(f"`{result.value}` is also assigned something else in this scope")
        for call in group:
            check_names(call.node)
        kinds = {self._kind(call) for call in group}
        if len(kinds) > 1:
            raise Unsafe(f"`{result and result.value}` holds both streams and completions")
        appends: set[cst.CSTNode] = set()
        for call in group:
            messages = self._messages(call, group, edits, appends)
            tools = self._tools(call, group, edits)
            convert_arguments(call.node, call.method, messages, tools)  # raises Unsafe
            method = call.method

            def edit(n: cst.CSTNode, method=method, messages=messages, tools=tools) -> cst.CSTNode:
                assert isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute)
                args = convert_arguments(n, method, messages, tools)
                return n.with_changes(func=_responses_func(n.func), args=args)

            edits[call.node] = edit
        reads = Reads(self.parent, self.uses_of, edits, lambda node: node in appends)
        self._results(group, kinds.pop(), reads)

    def _is_group_assignment(self, target: cst.CSTNode, group: list[_Call]) -> bool:
        return any(call.result is target for call in group)

    def _kind(self, call: _Call) -> str:
        if call.method == "stream":
            return "helper"
        for arg in call.node.args:
            if arg.keyword is not None and arg.keyword.value == "stream":
                if isinstance(arg.value, cst.Name) and arg.value.value in ("True", "False"):
                    return "stream" if arg.value.value == "True" else "completion"
                raise Unsafe("`stream` is not a literal True or False")
        return "completion"

    def _results(self, group: list[_Call], kind: str, reads: Reads) -> None:
        for call in group:
            if kind == "completion":
                reads.result(call.node)
            elif kind == "helper":
                item = self.parent(call.node)
                if isinstance(item, cst.Await):
                    item = self.parent(item)
                if not isinstance(item, cst.WithItem) or item.asname is None:
                    raise Unsafe("the stream helper is not used as `with … as stream`")
                target = item.asname.name
                if not isinstance(target, cst.Name):
                    raise Unsafe("the stream helper is bound to something other than a name")
                reads.helper_stream(target)
            else:
                self._stream_loops(call, reads)

    def _stream_loops(self, call: _Call, reads: Reads) -> None:
        node: cst.CSTNode = call.node
        if isinstance(self.parent(node), cst.Await):
            node = self.parent(node)  # type: ignore[assignment]
        sources = self.uses_of(call.result) if call.result else [node]
        for source in sources:
            loop = self.parent(source)
            if not isinstance(loop, cst.For) or loop.iter is not source:
                raise Unsafe("the stream is used other than in a `for chunk in stream` loop")
            if not isinstance(loop.target, cst.Name):
                raise Unsafe("the stream loop unpacks its chunks")
            reads.chunk(loop.target)

    def _assign_of(self, target: cst.CSTNode) -> cst.CSTNode | None:
        """The `name = value` statement whose target is `target` (else what binds it)."""
        up = self.parent(target)
        return self.parent(up) if isinstance(up, cst.AssignTarget) else up

    def _named_list(self, value: cst.BaseExpression, what: str) -> cst.List:
        assert isinstance(value, cst.Name)
        assignments = self._assignments(value)
        assign = self._assign_of(assignments[0]) if len(assignments) == 1 else None
        if not isinstance(assign, cst.Assign) or not isinstance(assign.value, cst.List):
            raise Unsafe(f"`{value.value}` ({what}) is not built as one list literal here")
        return assign.value

    def _messages(
        self,
        call: _Call,
        group: list[_Call],
        edits: dict[cst.CSTNode, Edit],
        appends: set[cst.CSTNode],
    ) -> cst.BaseExpression | None:
        value = _argument(call.node, "messages")
        if not isinstance(value, cst.Name):
            return None  # a literal (converted with the call) or missing (the SDK says so)
        literal = self._named_list(value, "the messages")
        edits[literal] = lambda n: _convert_list(n)
        _convert_list(literal)
        group_args = {_argument(c.node, "messages") for c in group}
        for use in self.uses_of(value):
            if use in group_args:
                continue
            top, path = chain(use, self.parent)
            method_call = self.parent(top)
            if path not in (["append"], ["extend"]) or not isinstance(method_call, cst.Call):
                raise Unsafe(
                    f"the messages list `{value.value}` is used in ways this tool cannot follow"
                )
            if len(method_call.args) != 1 or method_call.args[0].keyword:
                raise Unsafe("the messages list is changed with unusual arguments")
            item = method_call.args[0].value
            if path == ["extend"]:
                if not isinstance(item, cst.List):
                    raise Unsafe("the messages list is extended with something built elsewhere")
                _convert_list(item)
                edits[item] = lambda n: _convert_list(n)
            elif isinstance(item, cst.Dict):
                convert_message(item)  # raises Unsafe, else the edit below fits
                edits[item] = lambda n: convert_message(n)
            else:
                result = self._message_source(item, group)
                appends.add(item)
                edits[method_call] = _extend_with_output(result)
        return value

    def _message_source(self, item: cst.BaseExpression, group: list[_Call]) -> cst.Name:
        """The result name whose message `item` is (`result.choices[0].message` or an alias)."""
        if isinstance(item, cst.Name):
            assignments = self._assignments(item)
            assign = self._assign_of(assignments[0]) if len(assignments) == 1 else None
            if isinstance(assign, cst.Assign):
                item = assign.value
        root: cst.CSTNode = item
        depth = 0
        while isinstance(root, cst.Attribute | cst.Subscript):
            root, depth = root.value, depth + 1
        if isinstance(root, cst.Name) and depth == 3:
            _, path = chain(root, self.parent)
            results = {c.result.value for c in group if c.result is not None}
            if path[:3] == ["choices", 0, "message"] and root.value in results:
                return root
        raise Unsafe("something other than a message of this call is appended to the messages")

    def _tools(
        self, call: _Call, group: list[_Call], edits: dict[cst.CSTNode, Edit]
    ) -> cst.Name | None:
        """A tools list named here is converted where it is built (None: a literal or none)."""
        value = _argument(call.node, "tools")
        if not isinstance(value, cst.Name):
            return None
        literal = self._named_list(value, "the tools")
        group_args = {_argument(c.node, "tools") for c in group}
        if any(use not in group_args for use in self.uses_of(value)):
            raise Unsafe(f"the tools list `{value.value}` is also used elsewhere")
        convert_tools(literal)
        edits[literal] = lambda n: convert_tools(n)
        return value

    def _leave(self, call: _Call, reason: str) -> None:
        self.reports.append(CallReport(self._line(call.node), call.method, False, reason))
        statement: cst.CSTNode | None = call.node
        while statement is not None and not isinstance(
            statement, cst.SimpleStatementLine | cst.BaseCompoundStatement
        ):
            statement = self.parent(statement)
        if statement is not None and not self._marked(statement, reason):
            self.comments.setdefault(statement, []).append(reason)

    def _marked(self, statement: cst.CSTNode, reason: str) -> bool:
        """Whether the comment lines right above `statement` already give `reason`."""
        line = self._positions[statement].start.line - 1  # index of the line above
        while line > 0 and self._lines[line - 1].strip().startswith("#"):
            if self._lines[line - 1].strip() == f"{MARK} left as Chat Completions: {reason}":
                return True
            line -= 1
        return False

    def _line(self, node: cst.CSTNode) -> int:
        return self._positions[node].start.line


def _extend_with_output(result: cst.Name) -> Edit:
    """`messages.append(result.choices[0].message)` → `messages.extend(result.output)`."""
    return lambda node: node.with_changes(
        func=node.func.with_changes(attr=cst.Name("extend")),
        args=[cst.Arg(attr(result, "output"))],
    )


def _argument(call: cst.Call, name: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def _convert_list(node: cst.CSTNode) -> cst.CSTNode:
    assert isinstance(node, cst.List)
    return convert_messages(node)


class _Apply(cst.CSTTransformer):
    def __init__(self, edits: dict[cst.CSTNode, Edit], comments: dict[cst.CSTNode, list[str]]):
        self._edits = edits
        self._comments = comments

    def on_leave(self, original_node: Any, updated_node: Any) -> Any:
        edit = self._edits.get(original_node)
        if edit is not None:
            updated_node = edit(updated_node)
        reasons = self._comments.get(original_node)
        if reasons:
            lines = list(updated_node.leading_lines)
            for reason in dict.fromkeys(reasons):
                text = f"{MARK} left as Chat Completions: {reason}"
                lines.append(cst.EmptyLine(comment=cst.Comment(text)))
            updated_node = updated_node.with_changes(leading_lines=lines)
        return updated_node


def migrate_source(code: str) -> tuple[str, list[CallReport]]:
    """The module rewritten, and what happened to each Chat Completions call in it."""
    if "completions" not in code:
        return code, []  # most files of a tree: no parse needed
    return ModuleMigration(code).run()
