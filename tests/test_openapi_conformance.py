"""The official OpenAPI spec as a test: generated requests against a live responsd.

The spec (`../shared/reference/openai-openapi/openapi.yaml`, beside the repository) is cut
to the operations responsd serves (`tests/openapi/served.json`, made by
`tests/openapi/cut_spec.py`); schemathesis generates requests from it (valid and invalid
ones) and checks that none gets a server error and that every answer the spec describes
matches its schema. Valid requests are first kept within what responsd documents as
supported (its model, the tools it runs or withholds, no parameters it refuses by design),
so that most of them reach the model instead of a 400.
"""

import os
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from bench.fake_upstream import FakeUpstream
from bench.servers import ServerThread
from responsd.app import create_app
from responsd.config import Settings
from responsd.types.chat import ChatCompletionRequest
from tests.openapi_spec import load_spec

EXAMPLES = 25
"""Examples per operation in the random phase (the coverage phase adds its own)."""

# Parameters responsd refuses with a 400 by design (README: "Not yet"), and inputs whose
# validity depends on state a generator cannot know (ids of stored objects).
_REFUSED = (
    "prompt",
    "context_management",  # without a threshold, it needs a model window (unknown here)
    "moderation",
    "background_options",  # needs background: true, which these bodies turn off
    "access_programs",
    "image",
    "include",  # the spec lists values this server does not honour (a 400)
    "conversation",
    "previous_response_id",
    "personality",
)


schema = schemathesis.openapi.from_dict(load_spec())
STATUSES: Counter[int] = Counter()
REASONS: Counter = Counter()


def _supported(body: dict, operation: str) -> dict:
    """A valid generated body, kept to what responsd supports (as a real client would)."""
    body = {k: v for k, v in body.items() if k not in _REFUSED}
    if isinstance(body.get("reasoning"), dict):
        body["reasoning"].pop("mode", None)  # only "standard" exists here
    if "model" in body:
        body["model"] = "fake-model"
    if operation == "POST /responses":
        body.update(stream=False, background=False)  # streams: checked in tests/wire.py
        body.pop("tool_choice", None)
        body["tools"] = [t for t in body.get("tools") or [] if _hosted(t)]
        text = body.get("text")
        if isinstance(text, dict) and isinstance(text.get("format"), dict):
            text["format"] = {"type": "text"}  # the scripted model writes plain text
    if operation == "POST /chat/completions":
        body = _chat_supported(body)
    for key in ("input", "items"):
        if isinstance(body.get(key), list):
            body[key] = [i for i in body[key] if _runnable(i)] or (
                "Hello" if key == "input" else []
            )
    return body


# Chat Completions parameters refused by design (README: "Chat Completions").
_CHAT_REFUSED = (
    "n",
    "logit_bias",
    "audio",
    "modalities",
    "prediction",
    "web_search_options",
    "functions",
    "function_call",
    "stream_options",
    "tool_choice",
    "response_format",  # the scripted model writes plain text
    "stop",  # may hold more than 4 sequences or empty ones, both 400s by the spec's own text
)


def _chat_supported(body: dict) -> dict:
    known = ChatCompletionRequest.model_fields.keys() - set(_CHAT_REFUSED)
    body = {k: v for k, v in body.items() if k in known}
    body["stream"] = False
    body["tools"] = []
    if body.get("top_logprobs") is not None:
        body["logprobs"] = True  # the spec: top_logprobs requires logprobs
    messages = [
        {"role": m["role"], "content": m["content"]}
        for m in body.get("messages") or []
        if isinstance(m, dict)
        and m.get("role") in ("user", "system", "developer")
        and isinstance(m.get("content"), str)
    ]
    body["messages"] = messages or [{"role": "user", "content": "Hello"}]
    return body


def _hosted(tool) -> bool:
    # Hosted tools are withheld (and named in a header); client tools need matching calls.
    return isinstance(tool, dict) and tool.get("type") not in (
        "mcp",
        "function",
        "custom",
        "namespace",
        "file_search",  # needs vector stores that exist (tests/test_file_search.py)
    )


def _runnable(item) -> bool:
    kind = item.get("type", "message") if isinstance(item, dict) else None
    return kind == "message" and item.get("role") in ("user", "system", "developer")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    upstream = ServerThread(FakeUpstream(models=("fake-model",)).app).start()
    config = Settings(
        _env_file=None,
        upstream_url=f"{upstream.url}/v1",
        data_dir=tmp_path_factory.mktemp("conformance"),
    )
    server = ServerThread(create_app(config)).start()
    before = _rss_mib()
    yield f"{server.url}/v1"
    print(f"\nconformance: {sum(STATUSES.values())} requests, by status: {dict(STATUSES)}")
    print(f"RSS (test process, server in-thread): {before} MiB before, {_rss_mib()} MiB after")
    for reason, count in REASONS.most_common(20):
        print(count, reason)
    server.stop()
    upstream.stop()


def _rss_mib() -> int:
    status = Path("/proc/self/status")
    if not status.exists():
        return 0
    line = next(x for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) // 1024


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_served_operations_conform(case, live):
    positive = case.meta and case.meta.generation.mode == GenerationMode.POSITIVE
    if positive and isinstance(case.body, dict) and case.method == "POST":
        case.body = _supported(case.body, case.operation.label)
    response = case.call(base_url=live)
    STATUSES[response.status_code] += 1
    checks = [not_a_server_error]
    # The spec's 404 schema is the inner error object; the hosted API (and responsd) send
    # it wrapped as {"error": {…}}, as for every other error.
    if response.status_code != 404:
        checks.append(response_schema_conformance)
    # CONFORMANCE_DEBUG=1 pytest -s: why valid requests were refused, most common first.
    if os.environ.get("CONFORMANCE_DEBUG") and positive and response.status_code == 400:
        REASONS[(case.operation.label, response.json()["error"]["message"][:100])] += 1
    case.validate_response(response, checks=checks)
