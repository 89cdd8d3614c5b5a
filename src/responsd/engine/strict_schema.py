"""Strict function schemas, as the Responses API treats them.

Functions are strict unless the client says `strict: false`:
- `strict` omitted: the schema is normalised into strict form — every object gets
  `additionalProperties: false` and lists all its properties as required (optional fields
  become mandatory; a field that may be absent should allow null) — and enforced.
- `strict: true`: the schema must already be in strict form; otherwise a 400 says what is
  missing and where.
- `strict: false`: the schema is a hint, as in Chat Completions.
"""

from typing import Any

import jsonschema
import orjson

from responsd.errors import ModelOutputError

_EMPTY = {"type": "object", "properties": {}, "additionalProperties": False, "required": []}
# Keywords whose values are subschemas (one, a list of, or a map of them).
_ONE = ("items", "not", "additionalItems", "contains", "if", "then", "else")
_LIST = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP = ("properties", "$defs", "definitions", "patternProperties")


def _is_object(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return (
        kind == "object"
        or (isinstance(kind, list) and "object" in kind)
        or (kind is None and "properties" in schema)
    )


def _children(schema: dict[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for key in _ONE:
        if isinstance(schema.get(key), dict):
            found.append(((key,), schema[key]))
    for key in _LIST:
        for n, sub in enumerate(schema.get(key) or ()):
            found.append(((key, str(n)), sub))
    for key in _MAP:
        for name, sub in (schema.get(key) or {}).items():
            found.append(((key, name), sub))
    return [(path, sub) for path, sub in found if isinstance(sub, dict)]


def normalize(schema: dict[str, Any] | None) -> dict[str, Any]:
    """A strict copy of `schema` (which is left as it was)."""
    if not schema:
        return dict(_EMPTY)
    out = dict(schema)
    for path, sub in _children(schema):
        target = out
        for step in path[:-1]:
            target[step] = (
                list(target[step]) if isinstance(target[step], list) else dict(target[step])
            )
            target = target[step]
        key = path[-1]
        if isinstance(target, list):
            target[int(key)] = normalize(sub)
        else:
            target[key] = normalize(sub)
    if _is_object(out) and out.get("additionalProperties") in (None, True):
        out["additionalProperties"] = False
        out["required"] = list(out.get("properties") or {})
    return out


def problem(schema: dict[str, Any] | None, where: tuple[str, ...] = ()) -> str | None:
    """What keeps `schema` from being strict, and where; None when it is strict."""
    if not schema:
        return "a strict function needs a `parameters` object schema"
    if _is_object(schema):
        context = f"In context={where}, " if where else ""
        if schema.get("additionalProperties") is not False:
            return f"{context}'additionalProperties' is required to be supplied and to be false."
        missing = [p for p in schema.get("properties") or {} if p not in schema.get("required", [])]
        if missing:
            return (
                f"{context}'required' is required to be supplied and to be an array including "
                f"every key in properties. Missing '{missing[0]}'."
            )
    for path, sub in _children(schema):
        if found := problem(sub, (*where, *path)):
            return found
    return None


def check_arguments(name: str, schema: dict[str, Any], arguments: str) -> None:
    """ModelOutputError unless `arguments` is JSON that follows the strict `schema`."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError as exc:
        raise ModelOutputError(
            f"The model called '{name}' with arguments that are not valid JSON ({exc})."
        ) from exc
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(value)
    )
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise ModelOutputError(
            f"The model called '{name}' with arguments that break its strict schema at "
            f"{where}: {error.message}"
        )
