"""A scripted, deterministic Chat Completions server for tests and benchmarks.

Queue `Reply`s with `script()`; each POST /v1/chat/completions takes the next one (or
`default` when the queue is empty) and streams it as the OpenAI API would. Every request
body is recorded in `requests`. Run alone with `python -m bench.fake_upstream --port N`.
"""

import argparse
import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Call:
    """A tool call the fake model makes."""

    name: str
    arguments: str = "{}"
    id: str | None = None


@dataclass
class Reply:
    """One scripted answer."""

    text: str = ""
    reasoning: str = ""
    """Streamed before the text, in `reasoning_field` deltas."""
    reasoning_field: str = "reasoning_content"
    tool_calls: list[Call] = field(default_factory=list)
    refusal: str = ""
    finish_reason: str | None = None
    """Defaults to "tool_calls" when there are calls, else "stop"."""
    chunk_size: int = 8
    """Characters per streamed text or argument fragment."""
    prompt_tokens: int | None = None
    """Defaults to a deterministic count derived from the request's messages."""
    cached_tokens: int = 0
    usage: bool = True
    status: int = 200
    error: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (for timeout tests)."""
    stall_after_first: float = 0.0
    """Seconds to stall after the first chunk (for mid-stream timeout tests)."""
    chunk_delay: float = 0.0
    """Seconds to wait before each chunk after the first (a slow answer that never times
    out)."""
    raw_lines: list[str] | None = None
    """Send these `data:` payloads instead of a well-formed answer (for garbage tests)."""


def _prompt_tokens(body: dict[str, Any]) -> int:
    return len(orjson.dumps(body.get("messages", []))) // 4


class FakeUpstream:
    def __init__(
        self,
        models: tuple[str, ...] = ("fake-model",),
        default: Reply | None = None,
        responder: "Callable[[dict[str, Any]], Reply] | None" = None,
    ):
        self.models = models
        self.default = default or Reply(text="Hello from the fake upstream.")
        self.responder = responder
        """Picks the reply from the request body when nothing is scripted (benchmarks)."""
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.hang_ups = 0
        """Answers the client stopped reading before their end (it closed the connection)."""
        self.record = True
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def reset(self) -> None:
        self.replies.clear()
        self.requests.clear()
        self.hang_ups = 0

    async def _models(self, _request: Request) -> Response:
        data = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"}
            for m in self.models
        ]
        return Response(
            orjson.dumps({"object": "list", "data": data}), media_type="application/json"
        )

    async def _chat(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        if self.record:
            self.requests.append(body)
        if self.replies:
            reply = self.replies.popleft()
        else:
            reply = self.responder(body) if self.responder else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status >= 400:
            error = {"error": {"message": reply.error, "type": "fake", "code": None}}
            return Response(
                orjson.dumps(error), reply.status, reply.headers, media_type="application/json"
            )
        return StreamingResponse(self._frames(body, reply), media_type="text/event-stream")

    async def _frames(self, body: dict[str, Any], reply: Reply):
        if reply.raw_lines is not None:
            for line in reply.raw_lines:
                yield f"data: {line}\n\n".encode()
            return
        first, ended = True, False
        try:
            for chunk in _chunks(body, reply):
                if not first and reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
                yield b"data: " + orjson.dumps(chunk) + b"\n\n"
                if first and reply.stall_after_first:
                    await asyncio.sleep(reply.stall_after_first)
                first = False
            yield b"data: [DONE]\n\n"
            ended = True
        finally:
            if not ended:
                self.hang_ups += 1


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _chunks(body: dict[str, Any], reply: Reply):
    base = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": body["model"],
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    pieces = 0
    for piece in _split(reply.reasoning, reply.chunk_size):
        pieces += 1
        yield chunk({reply.reasoning_field: piece})
    for position, piece in enumerate(_split(reply.text, reply.chunk_size)):
        pieces += 1
        text = chunk({"content": piece})
        if body.get("logprobs"):
            tokens = [fake_logprob(piece, position, body.get("top_logprobs") or 0)]
            text["choices"][0]["logprobs"] = {"content": tokens, "refusal": None}
        yield text
    for piece in _split(reply.refusal, reply.chunk_size):
        pieces += 1
        yield chunk({"refusal": piece})
    for index, call in enumerate(reply.tool_calls):
        start = {
            "index": index,
            "id": call.id or f"call_fake{index}",
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield chunk({"tool_calls": [start]})
        for piece in _split(call.arguments, reply.chunk_size):
            pieces += 1
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    yield chunk({}, finish)
    if reply.usage and (body.get("stream_options") or {}).get("include_usage"):
        prompt = reply.prompt_tokens if reply.prompt_tokens is not None else _prompt_tokens(body)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": pieces,
            "total_tokens": prompt + pieces,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
            "completion_tokens_details": {
                "reasoning_tokens": len(_split(reply.reasoning, reply.chunk_size))
            },
        }
        yield {**base, "choices": [], "usage": usage}


def fake_logprob(piece: str, position: int, top: int) -> dict[str, Any]:
    """The log probability the fake model reports for its `position`th text chunk (one
    token per chunk), with `top` alternatives: the chunk itself, then "~1", "~2", …"""
    logprob = -(position + 1) / 10

    def token(text: str, value: float) -> dict[str, Any]:
        return {"token": text, "logprob": value, "bytes": list(text.encode())}

    alternatives = [token(piece if k == 0 else f"~{k}", logprob - k) for k in range(top)]
    return {**token(piece, logprob), "top_logprobs": alternatives}


SLOW_SECONDS = 30.0


LONG_ANSWER = "A longer answer, streamed a few characters at a time, as tokens come. " * 14
"""About 1,000 characters: in 4-character chunks, ~250 chunks (a long-ish answer's tokens)."""


def bench_reply(body: dict[str, Any]) -> Reply:
    """The standalone server's answers: instant, or (for a last message containing "!slow")
    a first chunk then a long stall — an idle stream, for memory and concurrency benchmarks —
    or (containing "!long") LONG_ANSWER in 4-character chunks."""
    last = (body.get("messages") or [{}])[-1].get("content")
    if isinstance(last, str) and "!slow" in last:
        return Reply(text="slow answer", stall_after_first=SLOW_SECONDS)
    if isinstance(last, str) and "!long" in last:
        return Reply(text=LONG_ANSWER, chunk_size=4)
    return Reply(text="Hello from the fake upstream.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    from bench.servers import run

    upstream = FakeUpstream(responder=bench_reply)
    upstream.record = False  # a long benchmark would keep every request body
    run(upstream.app, args.host, args.port)


if __name__ == "__main__":
    main()
