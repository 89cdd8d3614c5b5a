"""Checks of the wire format against the SDK's and Open Responses' own models, and the
official OpenAPI spec's component schemas (tests/openapi/served.json)."""

from typing import Any

import httpx
import openresponses_types
import orjson
from openai.types.responses import Response as SDKResponse
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from tests.openapi_spec import check_spec

_SDK_EVENT = TypeAdapter(ResponseStreamEvent)


def check_response(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a Response JSON with the SDK's model, the Open Responses model and the spec."""
    SDKResponse.model_validate(body)
    check_spec("Response", body)
    if _within_open_responses(body):
        openresponses_types.ResponseResource.model_validate(_without_schema(body))
    return body


def _within_open_responses(body: dict[str, Any]) -> bool:
    # The Open Responses spec knows function tools and message/function_call/reasoning
    # items only; responses using custom, namespace or hosted tools are OpenAI extensions.
    tools_ok = all(tool["type"] == "function" for tool in body["tools"])
    known = {"message", "function_call", "function_call_output", "reasoning"}
    return tools_ok and all(item["type"] in known for item in body["output"])


def _without_schema(body: dict[str, Any]) -> dict[str, Any]:
    # openresponses-types 2.4.0 generates JsonSchemaResponseFormat.schema as "must be null"
    # (a generator defect: the spec allows any JSON Schema), so blank it for that check only.
    fmt = body["text"]["format"]
    if fmt.get("type") != "json_schema":
        return body
    return {**body, "text": {**body["text"], "format": {**fmt, "schema": None}}}


def stream_events(http: httpx.Client, **body: Any) -> tuple[list[dict[str, Any]], bytes]:
    """POST a streaming create; return the parsed events (each validated) and the raw bytes."""
    with http.stream("POST", "/responses", json={**body, "stream": True}) as reply:
        assert reply.status_code == 200, reply.read()
        assert reply.headers["content-type"].startswith("text/event-stream")
        raw = reply.read()
    events = []
    frames = raw.split(b"\n\n")
    assert frames[-1] == b"" and frames[-2] == b"data: [DONE]", raw[-200:]
    for frame in frames[:-2]:
        name_line, data_line = frame.split(b"\n")
        assert name_line.startswith(b"event: ") and data_line.startswith(b"data: ")
        event = orjson.loads(data_line[len(b"data: ") :])
        assert name_line[len(b"event: ") :].decode() == event["type"]
        _SDK_EVENT.validate_python(event)
        check_spec("ResponseStreamEvent", event)
        if "response" in event:
            check_response(event["response"])
        events.append(event)
    numbers = [e["sequence_number"] for e in events]
    assert numbers == list(range(len(events))), numbers
    return events, raw
