"""Small helpers over libcst nodes: literal strings and dicts, attribute chains, new nodes."""

from collections.abc import Callable
from typing import Any

import libcst as cst


class Unsafe(Exception):
    """This call cannot be migrated safely; the message says why (shown to the user)."""


Edit = Callable[[Any], Any]
"""Builds a node's replacement (or a removal) from the node as updated by the edits inside
it. Loosely typed: each edit knows the node type it was made for."""


def string_value(node: cst.BaseExpression) -> str | None:
    """The value of a plain string literal, else None."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def dict_pairs(node: cst.BaseExpression, what: str) -> list[tuple[str, cst.BaseExpression]]:
    """(key, value) pairs of a dict literal whose keys are all plain strings."""
    if not isinstance(node, cst.Dict):
        raise Unsafe(f"{what} is not written out here as a dict literal")
    pairs = []
    for element in node.elements:
        key = string_value(element.key) if isinstance(element, cst.DictElement) else None
        if key is None:
            raise Unsafe(f"{what} has a key that is not a plain string (or a ** splat)")
        pairs.append((key, element.value))
    return pairs


def make_dict(
    pairs: list[tuple[str, cst.BaseExpression]], like: cst.Dict | None = None
) -> cst.Dict:
    """A dict literal of `pairs`, laid out like the literal it replaces (`like`): its braces,
    the separator after its first element, and the comma after its last."""
    sep: cst.Comma | cst.MaybeSentinel = cst.Comma(whitespace_after=_SPACE)
    last: cst.Comma | cst.MaybeSentinel = cst.MaybeSentinel.DEFAULT
    if like is not None and like.elements:
        first = like.elements[0].comma
        if len(like.elements) > 1 and isinstance(first, cst.Comma):
            sep = first
        last = like.elements[-1].comma
    elements = [
        cst.DictElement(
            cst.SimpleString(f'"{key}"'),
            value,
            whitespace_after_colon=_SPACE,
            comma=last if i == len(pairs) - 1 else sep,
        )
        for i, (key, value) in enumerate(pairs)
    ]
    if like is not None:
        return like.with_changes(elements=elements)
    return cst.Dict(elements)


def string(value: str) -> cst.SimpleString:
    return cst.SimpleString(f'"{value}"')


def attr(value: cst.BaseExpression, *names: str) -> cst.BaseExpression:
    for name in names:
        value = cst.Attribute(value, cst.Name(name))
    return value


def expression(code: str) -> cst.BaseExpression:
    return cst.parse_expression(code)


def keyword(name: str, value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(value, keyword=cst.Name(name), equal=_EQUAL)


_SPACE = cst.SimpleWhitespace(" ")
_EQUAL = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
