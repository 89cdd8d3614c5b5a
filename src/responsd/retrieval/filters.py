"""Attribute filters of vector store search and `file_search`: comparison and compound.

A comparison on a key the file does not have is false (`ne` and `nin` included): a filter
selects files that carry the attribute. Numbers compare as numbers; `in`/`nin` take a list.
"""

from typing import Any

from responsd.errors import InvalidRequestError

_COMPARISONS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"}
_SCALAR = (str, int, float, bool)


def check_filter(value: Any, param: str) -> None:
    """400 naming the first malformed part of a filter."""
    if not isinstance(value, dict):
        raise InvalidRequestError("A filter must be an object.", param=param)
    kind = value.get("type")
    if kind in ("and", "or"):
        inner = value.get("filters")
        if not isinstance(inner, list) or set(value) != {"type", "filters"}:
            raise InvalidRequestError(
                f"An '{kind}' filter takes only `filters`, a list of filters.", param=param
            )
        for i, item in enumerate(inner):
            check_filter(item, f"{param}.filters[{i}]")
        return
    if kind not in _COMPARISONS:
        raise InvalidRequestError(
            f"Unknown filter type {kind!r}; use one of {', '.join(sorted(_COMPARISONS))}, and, or.",
            param=f"{param}.type",
        )
    if set(value) != {"type", "key", "value"} or not isinstance(value.get("key"), str):
        raise InvalidRequestError(
            "A comparison filter takes `type`, `key` (a string) and `value`.", param=param
        )
    target = value["value"]
    if kind in ("in", "nin"):
        if not isinstance(target, list) or not all(isinstance(v, _SCALAR) for v in target):
            raise InvalidRequestError(
                f"The value of an '{kind}' filter is a list of strings, numbers or booleans.",
                param=f"{param}.value",
            )
    elif not isinstance(target, _SCALAR):
        raise InvalidRequestError(
            "The value of a comparison filter is a string, number or boolean.",
            param=f"{param}.value",
        )


def matches(value: dict[str, Any], attributes: dict[str, Any]) -> bool:
    kind = value["type"]
    if kind == "and":
        return all(matches(f, attributes) for f in value["filters"])
    if kind == "or":
        return any(matches(f, attributes) for f in value["filters"])
    if value["key"] not in attributes:
        return False
    have, want = attributes[value["key"]], value["value"]
    if kind == "in":
        return any(_equal(have, w) for w in want)
    if kind == "nin":
        return not any(_equal(have, w) for w in want)
    if kind == "eq":
        return _equal(have, want)
    if kind == "ne":
        return not _equal(have, want)
    if not _comparable(have, want):
        return False
    return {"gt": have > want, "gte": have >= want, "lt": have < want, "lte": have <= want}[kind]


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _equal(a: Any, b: Any) -> bool:
    if _number(a) and _number(b):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def _comparable(a: Any, b: Any) -> bool:
    return (_number(a) and _number(b)) or (isinstance(a, str) and isinstance(b, str))
