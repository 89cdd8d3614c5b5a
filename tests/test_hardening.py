"""Hostile and careless clients: every one gets a clear answer, and nothing is lost or stalled."""

import logging
import os
import socket
import subprocess
import sys
import time

import httpx
import openai
import orjson
import pytest
from starlette.routing import Route

from bench.fake_upstream import Reply
from bench.servers import ServerThread, free_port, wait_healthy
from responsd.api.request_ids import RequestIdFilter
from responsd.app import create_app
from responsd.config import Settings
from tests.openapi_spec import check_spec


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": [{"type": {}}]}, "input[0]"),
        ({"input": [{"type": [1], "role": "user", "content": "x"}]}, "input[0]"),
        ({"input": "x", "tools": [{"type": []}]}, "tools[0].type"),
        ({"input": "x", "tool_choice": {"type": {}}}, "tool_choice.type"),
    ],
)
def test_a_type_that_is_not_a_string_is_a_400(http, body, param):
    reply = http.post("/responses", json={"model": "fake-model", **body})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param


def test_conversation_items_with_a_bad_type_are_a_400(http):
    reply = http.post("/conversations", json={"items": [{"type": {"x": 1}}]})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "items[0]"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_unexpected_error_is_a_500_with_the_request_id_logged_once(upstream_server, tmp_path):
    _, up = upstream_server
    app = create_app(Settings(_env_file=None, upstream_url=f"{up.url}/v1", data_dir=tmp_path))

    async def broken(_request):
        raise RuntimeError("a bug")

    app.router.routes.append(Route("/broken", broken))
    logger, handler = logging.getLogger("responsd"), _Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    server = ServerThread(app).start()
    try:
        reply = httpx.get(f"{server.url}/broken")
    finally:
        server.stop()
        logger.removeHandler(handler)
        logger.setLevel(level)
    rid = reply.headers["x-request-id"]
    assert reply.status_code == 500 and reply.json()["error"]["type"] == "server_error"
    errors = [r for r in handler.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].request_id == rid and errors[0].exc_info
    access = [r for r in handler.records if r.name == "responsd.access"]
    assert len(access) == 1 and access[0].request_id == rid
    assert access[0].getMessage().startswith("GET /broken 500 ")


def test_chaining_onto_an_unfinished_response_is_a_400(client, upstream):
    upstream.script(Reply(text="slow", delay=0.5))
    queued = client.responses.create(model="fake-model", input="first", background=True)
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(model="fake-model", input="next", previous_response_id=queued.id)
    assert error.value.body["param"] == "previous_response_id"
    assert error.value.body["code"] == "previous_response_not_finished"
    with pytest.raises(openai.BadRequestError):
        client.responses.input_tokens.count(
            model="fake-model", input="next", previous_response_id=queued.id
        )
    deadline = time.monotonic() + 10
    while client.responses.retrieve(queued.id).status != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    upstream.script(Reply(text="now it works"))
    later = client.responses.create(
        model="fake-model", input="next", previous_response_id=queued.id
    )
    assert later.output_text == "now it works"
    contents = [m["content"] for m in upstream.requests[-1]["messages"]]
    assert contents == ["first", "slow", "next"]


def test_stored_items_have_the_canonical_shape(http, client, upstream):
    upstream.script(Reply(text="ok"))
    items = [
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "done", "extra": None},
        {"type": "custom_tool_call", "call_id": "c2", "name": "g", "input": "x"},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "y"},
    ]
    response = client.responses.create(model="fake-model", input=items)
    page = http.get(f"/responses/{response.id}/input_items?order=asc").json()
    listed = check_spec("ResponseItemList", page)["data"]
    assert [i["status"] for i in listed] == ["completed"] * 4
    assert all(i["id"] for i in listed) and "extra" not in listed[1]
    conversation = http.post("/conversations", json={"items": items[:2]}).json()
    page = http.get(f"/conversations/{conversation['id']}/items?order=asc").json()
    stored = check_spec("ConversationItemList", page)["data"]
    assert [i["status"] for i in stored] == ["completed", "completed"]
    assert None not in stored[1].values()


def test_nulls_the_spec_allows_are_accepted_and_echoed(http, upstream):
    upstream.script(Reply(text="a"), Reply(text="b"))
    reply = http.post(
        "/responses", json={"model": "fake-model", "input": "x", "text": {"verbosity": None}}
    )
    assert reply.status_code == 200 and reply.json()["text"]["verbosity"] is None
    image = {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": None}
    reply = http.post(
        "/responses",
        json={"model": "fake-model", "input": [{"role": "user", "content": [image]}]},
    )
    assert reply.status_code == 200
    assert upstream.requests[-1]["messages"][0]["content"][0]["image_url"]["detail"] == "auto"


def test_a_body_over_the_limit_is_a_413_without_reading_it(make_client):
    client = make_client(max_request_body=10_000)
    url = f"{client.base_url}responses"
    big = orjson.dumps({"model": "fake-model", "input": "x" * 20_000})
    reply = httpx.post(url, content=big, headers={"content-type": "application/json"})
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "request_too_large"

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b" " * 1_000

    reply = httpx.post(url, content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 413


def test_a_body_that_stops_arriving_is_a_408(make_client):
    client = make_client(request_body_timeout=0.3)
    host, port = client.base_url.host, client.base_url.port
    with socket.create_connection((host, port)) as sock:
        sock.sendall(
            b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"model'
        )
        sock.settimeout(5)
        assert sock.recv(100).startswith(b"HTTP/1.1 408")


def test_405_names_the_allowed_methods_and_models_cannot_be_deleted(http):
    reply = http.put("/responses")
    assert reply.status_code == 405 and reply.headers["allow"] == "POST"
    reply = http.delete("/models/fake-model")
    assert reply.status_code == 403 and reply.json()["error"]["param"] == "model"


@pytest.fixture
def serve(upstream_server, tmp_path):
    """`responsd serve` as a process with extra RESPONSD_* settings; its log is returned too."""
    _, up = upstream_server
    started = []

    def start(**env):
        port = free_port()
        environ = {
            **os.environ,
            "RESPONSD_UPSTREAM_URL": f"{up.url}/v1",
            "RESPONSD_DATA_DIR": str(tmp_path),
            "RESPONSD_PORT": str(port),
            **{f"RESPONSD_{k.upper()}": str(v) for k, v in env.items()},
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "responsd", "serve"],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        wait_healthy(proc, f"http://127.0.0.1:{port}/healthz")
        return proc, port

    yield start
    for proc in started:
        proc.terminate()
        proc.communicate(timeout=30)


def _log(proc) -> str:
    proc.terminate()
    return proc.communicate(timeout=30)[0].decode()


def test_slow_and_abandoned_connections(serve):
    proc, port = serve(header_timeout=0.5, max_connections=20)
    held = []
    for _ in range(15):  # connect, start the headers, never finish them
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        held.append(sock)
    extra = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
    refused = 0
    for sock in extra:
        sock.settimeout(2)
        refused += sock.recv(100).startswith(b"HTTP/1.1 503")
    assert refused >= 5  # over the cap: answered 503 at once
    for sock in held:  # all closed by the header timeout
        sock.settimeout(3)
        assert sock.recv(10) == b""
    started = time.perf_counter()
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    assert time.perf_counter() - started < 0.5
    with socket.create_connection(("127.0.0.1", port)) as sock:  # hangs up mid-body
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
    httpx.get(f"http://127.0.0.1:{port}/v1/responses/resp_x%0AINFO forged line")
    for sock in held + extra:
        sock.close()
    log = _log(proc)
    assert "Traceback" not in log
    assert "client disconnected before sending the whole request" in log
    lines = [line for line in log.splitlines() if "forged line" in line]
    assert len(lines) == 1 and "resp_x\\x0aINFO forged line" in lines[0]


def test_a_huge_input_does_not_stall_other_requests():
    # Measured by bench.big_input in processes of its own: in this one, the servers the
    # other tests keep running would compete with the poller for the interpreter. On a
    # busy 2-core machine one run can catch a stall from elsewhere, so up to 3 runs: a
    # blocked event loop (the bug: 2.5 s stalls) fails every one of them. On this machine
    # a sound tree reads 35-76 ms (the GIL handed between the loop and the parsing thread),
    # hence the bound: well above that, far below the bug.
    seen = []
    for _ in range(3):
        run = subprocess.run(
            [sys.executable, "-m", "bench.big_input", "--items", "100000"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        figures = dict(pair.split("=") for pair in run.stdout.splitlines()[-1].split())
        assert figures["status"] == "200" and int(figures["polls"]) > 50, run.stdout
        seen.append(float(figures["p99_ms"]))
        if seen[-1] < 150:
            return
    raise AssertionError(f"/healthz p99 over 150 ms in every run: {seen}")


def test_a_non_streaming_client_that_leaves_cancels_its_response(http, client, upstream):
    # An answer that would take 4 s, each chunk well within the upstream timeout.
    upstream.script(Reply(text="too late", chunk_size=1, chunk_delay=0.5))
    conversation = client.conversations.create()
    body = {"model": "fake-model", "input": "x", "conversation": conversation.id}
    with pytest.raises(httpx.ReadTimeout):
        http.post("/responses", json=body, timeout=0.3)  # gives up, closing the connection
    deadline = time.monotonic() + 3
    while not upstream.hang_ups and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.hang_ups == 1  # responsd stopped asking the model
    # Cancelled, like a stream whose client left: nothing was appended to the conversation.
    assert client.conversations.items.list(conversation.id).data == []
