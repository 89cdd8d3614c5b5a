"""The official OpenAPI spec, cut to what responsd serves, with its known over-strictness
relaxed narrowly (each place says why)."""

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SPEC = Path(__file__).resolve().parent / "openapi/served.json"


@functools.cache
def _spec() -> str:
    spec = json.loads(SPEC.read_text())
    # The hosted API answers `user: null` when no user was sent, `usage: null` until a
    # response has finished, `description: null` in an echoed json_schema format that had
    # none (Open Responses requires the key), and `first_id`/`last_id: null` on an empty
    # page (there is no first item); responsd does the same.
    _allow_null(spec, "ModelResponseProperties", "user")
    _allow_null(spec, "Response", "usage")
    _allow_null(spec, "TextResponseFormatJsonSchema", "description")
    pages = (
        "ResponseItemList",
        "ConversationItemList",
        "ListFilesResponse",
        "ListVectorStoresResponse",
        "ListVectorStoreFilesResponse",
        "ChatCompletionList",
        "ChatCompletionMessageList",
    )
    for page in pages:
        for field in ("first_id", "last_id"):
            _allow_null(spec, page, field)
    # A file uploaded with purpose "evals" (which the create operation accepts) is listed with
    # that purpose; the file object's enum does not name it yet.
    spec["components"]["schemas"]["OpenAIFile"]["properties"]["purpose"]["enum"].append("evals")
    _map_discriminators(spec, spec)
    return json.dumps(spec)


def _map_discriminators(spec: dict, node: object) -> None:
    # A discriminator without a `mapping` means, in OpenAPI, that the values are the
    # component names ("CompactionBody"); the spec's objects carry their `type` values
    # ("compaction") instead, so give each such discriminator the mapping it implies.
    if isinstance(node, list):
        for value in node:
            _map_discriminators(spec, value)
    if not isinstance(node, dict):
        return
    found = node.get("discriminator")
    branches = node.get("anyOf", node.get("oneOf", []))
    if isinstance(found, dict) and "mapping" not in found and all("$ref" in b for b in branches):
        mapping = {}
        for branch in branches:
            target = spec["components"]["schemas"][branch["$ref"].rsplit("/", 1)[-1]]
            for value in (
                target.get("properties", {}).get(found["propertyName"], {}).get("enum", [])
            ):
                mapping[value] = branch["$ref"]
        found["mapping"] = mapping
    for value in node.values():
        _map_discriminators(spec, value)


def load_spec() -> dict[str, Any]:
    """A fresh copy (schemathesis and validators may hold on to it)."""
    return json.loads(_spec())


def _allow_null(spec: dict, component: str, field: str) -> None:
    schema = spec["components"]["schemas"][component]
    for part in [schema, *schema.get("allOf", [])]:
        properties = part.get("properties", {})
        if field in properties:
            properties[field] = {"anyOf": [properties[field], {"type": "null"}]}
            return
    raise KeyError(f"{component}.{field}")  # the spec moved it: look again


@functools.cache
def _branch(component: str, kind: object) -> str:
    """The member of a union (such as ResponseStreamEvent) whose `type` is `kind`, so that a
    failure names the field at fault instead of "matches none of 60 schemas"."""
    schemas = json.loads(_spec())["components"]["schemas"]
    for ref in schemas[component].get("anyOf", []):
        name = ref.get("$ref", "").rsplit("/", 1)[-1]
        if kind in schemas.get(name, {}).get("properties", {}).get("type", {}).get("enum", []):
            return name
    return component


@functools.cache
def _validator(component: str) -> jsonschema.protocols.Validator:
    # The schema is a $ref into the spec document itself, so refs resolve against it.
    schema = {**load_spec(), "$ref": f"#/components/schemas/{component}"}
    return jsonschema.Draft202012Validator(schema)


def check_spec(component: str, body: dict[str, Any]) -> dict[str, Any]:
    """Validate JSON responsd produced against one of the spec's component schemas."""
    component = _branch(component, body.get("type"))
    errors = sorted(_validator(component).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{component}: {errors[0].message[:300]} at {list(errors[0].path)}"
    return body
