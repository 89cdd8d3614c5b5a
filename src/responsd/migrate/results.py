"""Reads of a Chat Completions result → reads of the Response that replaces it.

A result is followed through the names it is bound to in its scope; every use must be one
of the reads below, or the call is left alone (a use this module does not know could break
at run time after the rewrite).
"""

from collections.abc import Callable
from typing import Any

import libcst as cst

from responsd.migrate.syntax import Edit, Unsafe, attr, expression, string_value

Path = list[str | int]
Parent = Callable[[cst.CSTNode], cst.CSTNode | None]
Rebuild = Callable[[Any], Any]

# Event types of the Chat Completions stream helper → the Responses stream's.
HELPER_EVENTS = {
    "content.delta": "response.output_text.delta",
    "refusal.delta": "response.refusal.delta",
    "tool_calls.function.arguments.delta": "response.function_call_arguments.delta",
}
CALL_FIELDS = {("function", "name"): "name", ("function", "arguments"): "arguments"}


def chain(node: cst.CSTNode, parent: Parent) -> tuple[cst.CSTNode, Path]:
    """The longest attribute/index chain read from `node`: its outermost node and its path."""
    path: Path = []
    while True:
        up = parent(node)
        if isinstance(up, cst.Attribute) and up.value is node:
            path.append(up.attr.value)
        elif isinstance(up, cst.Subscript) and up.value is node and len(up.slice) == 1:
            index = up.slice[0].slice
            if not isinstance(index, cst.Index) or not isinstance(index.value, cst.Integer):
                return node, path
            path.append(int(index.value.value))
        else:
            return node, path
        node = up


class Reads:
    """Collects the edits for the reads of one result; raises Unsafe on any other use."""

    def __init__(
        self,
        parent: Parent,
        uses_of: Callable[[cst.Name], list[cst.Name]],
        edits: dict[cst.CSTNode, Edit],
        appended: Callable[[cst.CSTNode], bool],
    ):
        self._parent = parent
        self._uses_of = uses_of
        self.edits = edits
        self._appended = appended
        """Whether a node is the argument of an append to the call's own messages list."""

    def completion(self, node: cst.CSTNode) -> None:
        """A non-streamed ChatCompletion (or ParsedChatCompletion) read from `node`."""
        top, path = chain(node, self._parent)
        if path[:3] == ["choices", 0, "message"]:
            depth = len(path)
            self._message(top, path[3:], lambda n: _descend(n, depth), node)
        elif path in (["usage", "prompt_tokens"], ["usage", "completion_tokens"]):
            new = "input_tokens" if path[1] == "prompt_tokens" else "output_tokens"
            self.edits[top] = lambda n: n.with_changes(attr=cst.Name(new))
        elif path in (["usage", "total_tokens"], ["id"], ["model"]):
            pass
        else:
            raise Unsafe(f"the result is used as `…{_show(path)}`, which has no direct mapping")

    def _message(self, top: cst.CSTNode, rest: Path, result: Rebuild, root: cst.CSTNode) -> None:
        """`top` reads `rest` from a result's message; `result(updated top)` is the result."""
        if rest in (["content"], ["parsed"]):
            field = "output_text" if rest == ["content"] else "output_parsed"
            self.edits[top] = lambda n: attr(result(n), field)
        elif rest == ["tool_calls"]:
            self._tool_calls(top, result)
        elif not rest and self._appended(top):
            pass  # the append itself becomes `extend(result.output)`
        elif not rest and (alias := _assigned_name(top, self._parent)) is not None:
            if not isinstance(root, cst.Name):
                raise Unsafe("a message of a result that is not bound to a name")
            # Every read of the alias becomes a read of the result: the alias goes.
            line = self._parent(self._parent(top))  # type: ignore[arg-type]
            if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
                raise Unsafe("the message is bound to a name in a compound statement")
            self.edits[line] = lambda _n: cst.RemoveFromParent()
            for use in self._uses_of(alias):
                use_top, use_path = chain(use, self._parent)
                if not use_path and self._appended(use_top):
                    continue
                self._message(use_top, use_path, lambda _n: root, root)
        else:
            raise Unsafe(f"the message is used as `…{_show(rest)}`, which has no direct mapping")

    def _tool_calls(self, top: cst.CSTNode, result: Rebuild) -> None:
        def calls(n: cst.CSTNode) -> cst.CSTNode:
            source = cst.Module([]).code_for_node(result(n))
            return expression(f'[item for item in {source}.output if item.type == "function_call"]')

        self.edits[top] = calls
        alias = _assigned_name(top, self._parent)
        for use in self._uses_of(alias) if alias is not None else [top]:
            self._calls_use(use)

    def _calls_use(self, node: cst.CSTNode) -> None:
        """A use of the list of tool calls: a loop over it, or a test of whether it is empty."""
        up = self._parent(node)
        if isinstance(up, cst.For) and up.iter is node:
            if not isinstance(up.target, cst.Name):
                raise Unsafe("the tool calls loop unpacks its items")
            self._loop_variable(up.target)
        elif not _truth_test(node, self._parent):
            raise Unsafe("the tool calls list is used in a way this tool cannot follow")

    def _loop_variable(self, name: cst.Name) -> None:
        for use in self._uses_of(name):
            top, path = chain(use, self._parent)
            if tuple(path) in CALL_FIELDS:
                field = CALL_FIELDS[tuple(path)]  # type: ignore[index]
                self.edits[top] = _field_of_value(field)
            elif path == ["id"]:
                self.edits[top] = lambda n: n.with_changes(attr=cst.Name("call_id"))
            else:
                raise Unsafe(f"a tool call is used as `…{_show(path)}`")

    def chunk(self, name: cst.Name) -> None:
        """A `for chunk in stream` variable of a streamed create."""
        for use in self._uses_of(name):
            top, path = chain(use, self._parent)
            var = use.value
            if path == ["choices"] and _truth_test(top, self._parent):
                # `if chunk.choices:` guards the delta read; text deltas are what it lets by.
                self.edits[top] = _replacement(f'{var}.type == "response.output_text.delta"')
                continue
            if path != ["choices", 0, "delta", "content"]:
                raise Unsafe(f"a stream chunk is used as `…{_show(path)}`")
            self.edits[top] = _replacement(
                f'({var}.delta if {var}.type == "response.output_text.delta" else None)'
            )

    def helper_stream(self, name: cst.Name) -> None:
        """The `with client.chat.completions.stream(...) as stream` variable."""
        for use in self._uses_of(name):
            up = self._parent(use)
            if isinstance(up, cst.For) and up.iter is use and isinstance(up.target, cst.Name):
                self._helper_event(up.target)
                continue
            top, path = chain(use, self._parent)
            if path != ["get_final_completion"] or not isinstance(self._parent(top), cst.Call):
                raise Unsafe(f"the stream is used as `…{_show(path)}`")
            self.edits[top] = lambda n: n.with_changes(attr=cst.Name("get_final_response"))
            final = self._parent(top)
            assert final is not None
            self.result(final)

    def _helper_event(self, name: cst.Name) -> None:
        for use in self._uses_of(name):
            top, path = chain(use, self._parent)
            if path == ["delta"]:
                continue
            compare = self._parent(top)
            if path == ["type"] and isinstance(compare, cst.Comparison):
                literal = compare.comparisons[0].comparator
                old = string_value(literal)
                if old not in HELPER_EVENTS or len(compare.comparisons) != 1:
                    raise Unsafe(f"a stream event type {old!r} this tool cannot translate")
                new = HELPER_EVENTS[old]
                self.edits[literal] = _replacement(f'"{new}"')
                continue
            raise Unsafe(f"a stream event is used as `…{_show(path)}`")

    def result(self, node: cst.CSTNode) -> None:
        """A completion bound to a name, or read directly where it is made."""
        up = self._parent(node)
        if isinstance(up, cst.Await):
            node, up = up, self._parent(up)
        name = _assigned_name(node, self._parent)
        if name is None:
            self.completion(node)
            return
        for use in self._uses_of(name):
            self.completion(use)


def _replacement(code: str) -> Edit:
    """An edit that puts the expression `code` in the node's place."""
    return lambda _node: expression(code)


def _field_of_value(field: str) -> Edit:
    """`x.a.b` → `x.<field>` (a read one level shallower)."""
    return lambda node: node.value.with_changes(attr=cst.Name(field))


def _descend(node: cst.CSTNode, depth: int) -> cst.CSTNode:
    """The node `depth` attribute/index steps down a chain (the chain's root)."""
    for _ in range(depth):
        assert isinstance(node, cst.Attribute | cst.Subscript)
        node = node.value
    return node


def _assigned_name(node: cst.CSTNode, parent: Parent) -> cst.Name | None:
    up = parent(node)
    if isinstance(up, cst.Assign) and len(up.targets) == 1 and up.value is node:
        target = up.targets[0].target
        return target if isinstance(target, cst.Name) else None
    return None


def _truth_test(node: cst.CSTNode, parent: Parent) -> bool:
    up = parent(node)
    if isinstance(up, cst.If | cst.While) and up.test is node:
        return True
    if isinstance(up, cst.UnaryOperation) and isinstance(up.operator, cst.Not):
        return True
    if isinstance(up, cst.BooleanOperation):
        return _truth_test(up, parent)
    if isinstance(up, cst.Arg):
        call = parent(up)
        return (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Name)
            and (call.func.value in ("len", "bool"))
        )
    return False


def _show(path: Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
