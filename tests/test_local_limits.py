"""The embedded model as a product: sensible defaults, no runaways, work stops for clients
that left, a bounded queue. Real model (SmolLM2-135M), real sockets."""

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import httpx
import openai
import pytest

from bench.servers import ServerThread
from responsd.providers.local_sampling import RepetitionGuard
from tests.conftest import embedded

MODEL = "SmolLM2-135M-Instruct.Q4_1"
LONG = {"model": MODEL, "input": "Write a very long story.", "max_output_tokens": 3000}


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory) -> Iterator[ServerThread]:
    """One context and a queue of one, so that waiting is visible."""
    path = tmp_path_factory.mktemp("one-slot")
    with embedded(path, local_max_queue=1, local_max_output_tokens=24) as server:
        yield server


def _client(server: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0)


def _post_and_leave(server: ServerThread, body: dict, linger: float) -> None:
    """Send a non-streaming create on a raw socket, wait `linger` seconds, hang up."""
    payload = json.dumps(body).encode()
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        time.sleep(linger)


def _quick_answer_seconds(server: ServerThread) -> float:
    started = time.monotonic()
    with _client(server) as c:
        reply = c.responses.create(model=MODEL, input="Hi", max_output_tokens=16)
    assert reply.status in ("completed", "incomplete")
    return time.monotonic() - started


QUESTIONS = {
    "What is the capital of France?": "paris",  # the README's example
    "What is the capital of Spain?": "madrid",
    "What is 2 + 3?": "5",
    "What color is the sky on a clear day?": "blue",
    "Which animal says 'meow'?": "cat",
}


def test_default_sampling_answers_short_and_mostly_right(local):
    # With pure sampling (temperature 1, no top-k/min-p) the README's question took minutes
    # and returned thousands of tokens of mixed-script text. A 135M model is not always
    # right, so: every answer ends by itself, quickly, and most are right.
    right = 0
    for question, answer in QUESTIONS.items():
        started = time.monotonic()
        response = local.responses.create(model=MODEL, input=question)
        assert response.status == "completed", response.output_text
        assert response.usage.output_tokens < 200
        assert time.monotonic() - started < 10
        right += answer in response.output_text.lower()
    assert right >= 3
    # The unset fields echo the API's defaults, as the hosted API does.
    assert response.temperature == 1.0 and response.top_p == 1.0


def test_unset_max_output_tokens_gets_the_servers_cap(one_slot):
    with _client(one_slot) as c:
        response = c.responses.create(model=MODEL, input="Write a long story about the sea.")
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens == 24


def test_an_explicit_max_output_tokens_beyond_the_cap_is_honoured(one_slot):
    with _client(one_slot) as c:
        response = c.responses.create(
            model=MODEL,
            input="Count from 1 to 100, separated by commas.",
            max_output_tokens=40,
            temperature=0,
        )
    assert response.usage.output_tokens > 24


def test_a_looping_reply_ends_incomplete_long_before_its_cap(local):
    # Negative penalties reward repeating: greedy decoding then loops on one phrase
    # ("unrelenting, unrelenting, …") until the guard ends it.
    response = local.responses.create(
        model=MODEL,
        input="Write a haiku about the sea.",
        temperature=0,
        max_output_tokens=2000,
        extra_body={"frequency_penalty": -1.0, "presence_penalty": -1.0},
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens < 300


def test_the_guard_lets_varied_text_and_short_refrains_through():
    def trips(tokens: list[int], texts: list[str] | None = None) -> bool:
        guard = RepetitionGuard()
        texts = texts or ["w"] * len(tokens)
        return any(guard.looping(t, x) for t, x in zip(tokens, texts, strict=True))

    assert not trips([1, 2, 3, 4] * 10)  # a 4-token refrain, 40 tokens: under 96
    assert not trips(list(range(5000)), [f"{n} " for n in range(5000)])
    assert trips(list(range(100, 120)) * 6)  # a 20-token phrase, six times
    # "+" written with tokens of varying length: no token period, but a character one.
    pluses = ["+", "++", "+++", "++++"] * 40
    assert trips(list(range(len(pluses))), pluses)
    assert not trips(list(range(60)), ["=" * 4] * 60)  # a 240-character rule: under 256


def test_a_non_streaming_client_that_leaves_stops_the_generation(one_slot):
    _post_and_leave(one_slot, LONG, linger=0.5)
    # One context: had the abandoned request kept generating its 3,000 tokens, this
    # would wait for it (tens of seconds).
    assert _quick_answer_seconds(one_slot) < 3


@contextlib.contextmanager
def _busy(server: ServerThread) -> Iterator[httpx.Response]:
    """Hold the one context with a long stream (closing it frees the context)."""
    with (
        httpx.Client(base_url=f"{server.url}/v1", timeout=30) as http,
        http.stream("POST", "/responses", json={**LONG, "stream": True}) as holder,
    ):
        assert holder.status_code == 200
        lines = holder.iter_lines()  # kept: a closed iterator would close the connection
        for line in lines:
            if "output_text.delta" in line:
                break  # generating: the context is taken
        else:
            raise AssertionError("the long request never started generating")
        yield holder


@pytest.mark.parametrize("stream", [False, True])
def test_a_queued_request_whose_client_left_never_starts(one_slot, stream):
    with _busy(one_slot):
        _post_and_leave(one_slot, {**LONG, "stream": stream}, linger=0.3)  # queued, then gone
    # The holder has hung up too; the queued request must not have taken the context.
    assert _quick_answer_seconds(one_slot) < 3


def test_a_full_queue_is_a_429_with_retry_after(one_slot):
    quick = {"model": MODEL, "input": "Hi", "max_output_tokens": 16}
    with _busy(one_slot) as holder, ThreadPoolExecutor(2) as pool:
        # Two more requests while the one context is taken: whichever comes first fills
        # the queue of one and waits, the other is refused at once.
        sent = [
            pool.submit(httpx.post, f"{one_slot.url}/v1/responses", json=quick, timeout=60)
            for _ in range(2)
        ]
        done, _ = wait(sent, timeout=10, return_when=FIRST_COMPLETED)
        assert len(done) == 1
        refused = done.pop().result()
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        # Counting tokens needs no context: it is answered while the queue is full.
        counted = httpx.post(
            f"{one_slot.url}/v1/responses/input_tokens", json={"model": MODEL, "input": "Hi"}
        )
        assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
        waiting = next(f for f in sent if not f.done())
        holder.close()  # frees the context: the waiting request runs
        assert waiting.result(timeout=30).status_code == 200


def test_by_default_several_requests_generate_at_once(tmp_path):
    with embedded(tmp_path, local_parallel=None) as server, _busy(server):
        # One long generation holds one context, and another request still starts at
        # once, on another context.
        assert _quick_answer_seconds(server) < 3


def test_with_no_queue_a_free_context_still_serves(tmp_path):
    with embedded(tmp_path, local_max_queue=0) as server:
        assert _quick_answer_seconds(server) < 3
        with _busy(server):  # now the one context is taken, and nothing may wait
            refused = httpx.post(f"{server.url}/v1/responses", json=LONG, timeout=10)
            assert refused.status_code == 429, refused.text
