"""Grammars that make the embedded model's output valid by construction (llama.cpp GBNF).

One grammar per turn, assembled from the request:
  - tool calls (tool_choice "required" or a named tool): the output must be one call,
      <tool_call>{"name": "<tool>", "arguments": {...}}</tool_call>                (functions)
      <custom_tool_call name="<tool>">input</custom_tool_call>                      (custom tools)
    with the arguments following that function's `parameters`;
  - "auto": a call as above, or the reply (plain text, or JSON per `text.format`);
  - text.format json_schema / json_object: the reply must be that JSON.

A grammar guarantees the shape, not that the model ever stops: a small model can repeat
one array item or one character forever. So that every reply can finish, arrays without
`maxItems` are bounded to DEFAULT_MAX_ITEMS items and strings without `maxLength` (or
`pattern`, `enum`, `const`, `format`) to DEFAULT_MAX_LENGTH characters.

JSON Schema is compiled by llama-cpp-python's converter. The keywords it enforces are
SUPPORTED_KEYWORDS (plus annotations, which are ignored); any other keyword is a 400
naming it and where it is, never a silent downgrade.
"""

import re
from typing import Any

import orjson
from llama_cpp.llama_grammar import SchemaConverter

from responsd.errors import InvalidRequestError, UnsupportedParameterError
from responsd.providers.base import ForcedTool, ToolMode, ToolSpec
from responsd.providers.chat_messages import CUSTOM_INPUT_SCHEMA
from responsd.providers.lark_gbnf import LarkError, lark_to_gbnf
from responsd.providers.tool_syntax import (
    CALL_CLOSE,
    CALL_OPEN,
    CUSTOM_CLOSE,
    CUSTOM_OPEN,
    RESPONSD,
    ToolSyntax,
)
from responsd.types.text import FormatJSONObject, FormatJSONSchema, TextFormat

SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "enum",
        "const",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
        "pattern",
        "minLength",
        "maxLength",
        "format",
    }
)
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$schema",
        "$id",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "strict",
    }
)
DEFAULT_MAX_ITEMS = 16
DEFAULT_MAX_LENGTH = 256
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def check_schema(schema: Any, param: str, where: str = "") -> None:
    """Reject any JSON Schema keyword the grammar cannot enforce, naming it and its place."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key not in SUPPORTED_KEYWORDS and key not in _ANNOTATIONS:
            raise UnsupportedParameterError(
                f"The local model enforces schemas with a grammar, which cannot express "
                f"'{key}' (at {where or '/'}). Supported keywords: "
                + ", ".join(sorted(SUPPORTED_KEYWORDS)),
                param=param,
            )
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                check_schema(sub, param, f"{where}/{key}/{name}")
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            for i, sub in enumerate(value):
                check_schema(sub, param, f"{where}/{key}/{i}")
        elif key in ("items", "additionalProperties"):
            check_schema(value, param, f"{where}/{key}")


def bounded(schema: Any) -> Any:
    """A copy of `schema` with the termination bounds above filled in where absent."""
    if isinstance(schema, list):
        return [bounded(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded(v) if k not in ("enum", "const") else v for k, v in schema.items()}
    declared = out.get("type")
    kinds: list[Any] = declared if isinstance(declared, list) else [declared]
    if "array" in kinds and "maxItems" not in out:
        out["maxItems"] = DEFAULT_MAX_ITEMS
    free_string = not {"maxLength", "pattern", "enum", "const", "format"} & out.keys()
    if "string" in kinds and free_string:
        out["maxLength"] = DEFAULT_MAX_LENGTH
    return out


# json_object: any object, nested at most two deep, with short strings and small containers
# (json_object has no schema to say how big; these keep every reply finite and quick).
_JSON_ITEMS, _JSON_CHARS = 8, 64
_JSON_CHAR = '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})'
_BOUNDED_JSON_OBJECT = {
    "reply": f'"{{" space (jmember ("," space jmember){{0,{_JSON_ITEMS - 1}}})? "}}" space',
    "jmember": 'jstring ":" space jvalue',
    "jvalue": "jscalar | jobject | jarray",
    "jobject": f'"{{" space (jleaf ("," space jleaf){{0,{_JSON_ITEMS - 1}}})? "}}" space',
    "jleaf": 'jstring ":" space jscalar',
    "jarray": f'"[" space (jscalar ("," space jscalar){{0,{_JSON_ITEMS - 1}}})? "]" space',
    "jscalar": 'jstring | jnumber | "true" space | "false" space | "null" space',
    "jstring": f'"\\"" jchar{{0,{_JSON_CHARS}}} "\\"" space',
    "jchar": _JSON_CHAR,
    "jnumber": '"-"? ([0-9] | [1-9] [0-9]{0,15}) ("." [0-9]{1,15})? space',
    "space": '" "?',
}


def _literal(text: str) -> str:
    return orjson.dumps(text).decode()  # a GBNF string literal uses JSON escaping


def _schema_rules(converter: SchemaConverter, schema: dict[str, Any], name: str) -> str:
    return converter.visit(converter.resolve_refs(bounded(schema), ""), name)


def _call_rule(
    converter: SchemaConverter, key: str, spec: ToolSpec, n: int, syntax: ToolSyntax
) -> str:
    if spec.kind == "custom" and syntax.native:
        if (spec.format or {}).get("type") == "grammar":
            raise UnsupportedParameterError(
                f"Custom tool '{key}' has a grammar, but this model calls tools in its own "
                f"syntax ({syntax.name}), which carries the input as a JSON string a grammar "
                "cannot constrain. Serve it with RESPONSD_LOCAL_TOOL_SYNTAX=responsd.",
                param="tools",
            )
    elif spec.kind == "custom":
        fmt = spec.format or {"type": "text"}
        if fmt.get("type") == "grammar" and fmt.get("syntax") == "lark":
            try:
                body, rules = lark_to_gbnf(fmt.get("definition", ""), f"custom{n}")
            except LarkError as exc:
                raise UnsupportedParameterError(
                    f"The local model cannot use the Lark grammar of custom tool '{key}': {exc}.",
                    param="tools",
                ) from exc
            converter._rules.update(rules)
        elif fmt.get("type") == "grammar":
            if fmt.get("syntax") != "regex":
                raise UnsupportedParameterError(
                    f"The local model cannot compile '{fmt.get('syntax')}' grammars for custom "
                    "tools; use syntax 'regex' or 'lark', or a text format.",
                    param="tools",
                )
            raw = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=True)
            pattern = fmt.get("definition", "")
            # The converter takes anchored patterns; a custom tool's regex matches whole input.
            pattern = "^" + pattern.removeprefix("^").removesuffix("$") + "$"
            body = raw._visit_pattern(pattern, f"custom{n}")
            converter._rules.update(raw._rules)
        else:
            body = f"custom{n}"
            converter._rules[body] = "[^<]*"
        opener = _literal(f'{CUSTOM_OPEN}{key}">')
        return f"{opener} {body} {_literal(CUSTOM_CLOSE)}"
    parameters = dict(
        CUSTOM_INPUT_SCHEMA if spec.kind == "custom" else spec.parameters or {"type": "object"}
    )
    parameters.pop("strict", None)
    schema = {
        "type": "object",
        "properties": {"name": {"const": key}, syntax.arguments_key: parameters},
        "required": ["name", syntax.arguments_key],
        "additionalProperties": False,
    }
    rule = _schema_rules(converter, schema, f"call{n}")
    parts = [_literal(syntax.opener)] if syntax.opener else []
    parts.append(f'"[" {rule} "]"' if syntax.as_list else rule)
    if syntax.closer:
        parts.append(_literal(syntax.closer))
    return " ".join(parts)


def build_grammar(
    tools: dict[str, ToolSpec],
    mode: ToolMode,
    fmt: TextFormat | None,
    syntax: ToolSyntax = RESPONSD,
) -> str | None:
    """The GBNF for this turn, or None when the output is unconstrained text."""
    converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    alternatives: list[str] = []
    if tools and mode != "none":
        chosen = tools
        if isinstance(mode, ForcedTool):
            wanted = (mode.name, mode.namespace)
            chosen = {k: s for k, s in tools.items() if (s.name, s.namespace) == wanted}
        alternatives += [
            _call_rule(converter, key, spec, n, syntax)
            for n, (key, spec) in enumerate(chosen.items())
        ]
    if not alternatives or mode == "auto":
        if isinstance(fmt, FormatJSONSchema):
            check_schema(fmt.schema_, "text.format.schema")
            alternatives.append(_schema_rules(converter, fmt.schema_, "reply"))
        elif isinstance(fmt, FormatJSONObject):
            converter._rules.update(_BOUNDED_JSON_OBJECT)
            alternatives.append("reply")
        elif alternatives:
            # Free text that cannot be mistaken for a call: it does not start like one.
            converter._rules["reply"] = f"[^\\x{ord(syntax.marker[0]):02X}] [^\\x00]*"
            alternatives.append("reply")
        else:
            return None
    if "char" in converter._rules:
        # llama-cpp-python's converter lets a JSON string hold raw control characters (a
        # newline, a tab), which no JSON parser accepts: use the JSON spec's character.
        converter._rules["char"] = _JSON_CHAR
    root = "root ::= " + " | ".join(f"({a})" for a in alternatives)
    return root + "\n" + converter.format_grammar()


_CALL = re.compile(re.escape(CALL_OPEN) + r"(.*)" + re.escape(CALL_CLOSE) + r"\s*$", re.S)
_CUSTOM = re.compile(
    re.escape(CUSTOM_OPEN) + r'([^"]+)">(.*)' + re.escape(CUSTOM_CLOSE) + r"\s*$", re.S
)


def parse_call(
    text: str, tools: dict[str, ToolSpec], syntax: ToolSyntax = RESPONSD
) -> tuple[ToolSpec, str] | None:
    """(tool, arguments JSON or custom input) when `text` is a call, else None."""
    text = text.strip()
    if syntax.native:
        opener, closer = syntax.opener.strip(), syntax.closer.strip()
        if not (text.startswith(opener) and text.endswith(closer) and text[len(opener) :]):
            return None
        call = _call_json(text[len(opener) : len(text) - len(closer)])
        if syntax.as_list:
            call = call[0] if isinstance(call, list) and call else {}
        spec = tools.get(call.get("name", "")) if isinstance(call, dict) else None
        if spec is None:
            return None
        arguments = call.get(syntax.arguments_key, {})
        if spec.kind == "custom":
            return spec, str(arguments.get("input", ""))
        return spec, orjson.dumps(arguments).decode()
    if match := _CALL.match(text):
        call = _call_json(match.group(1))
        spec = tools.get(call.get("name", ""))
        if spec is not None:
            return spec, orjson.dumps(call.get("arguments", {})).decode()
    elif match := _CUSTOM.match(text):
        spec = tools.get(match.group(1))
        if spec is not None:
            return spec, match.group(2)
    return None


def _call_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"The model wrote a malformed tool call: {exc}") from exc


def could_be_call(text: str, syntax: ToolSyntax = RESPONSD) -> bool:
    """Whether `text` may still grow into a call opener (so it must not be shown yet)."""
    stripped = text.lstrip()
    openers = (syntax.marker,) if syntax.native else (CALL_OPEN, CUSTOM_OPEN)
    return any(opener.startswith(stripped) or stripped.startswith(opener) for opener in openers)
