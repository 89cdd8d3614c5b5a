"""`responsd serve` as a user runs it: a real process, configured by flags and environment."""

import os
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_answers_and_shuts_down_cleanly(upstream_server, tmp_path):
    _, up = upstream_server
    port = _free_port()
    env = {
        **os.environ,
        "RESPONSD_UPSTREAM_URL": f"{up.url}/v1",
        "RESPONSD_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "responsd", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert health.json() == {"status": "ok"}
        assert health.headers["x-request-id"].startswith("req_")
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models").json()
        assert [m["id"] for m in models["data"]] == ["fake-model", "other-model"]
        assert (tmp_path / "responsd.db").exists()
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode()
    # uvicorn finishes its shutdown, then re-raises SIGTERM so the exit status tells why.
    assert proc.returncode in (0, -15), output
    assert "Application shutdown complete" in output
    assert "GET /v1/models 200" in output and "[req_" in output  # access log with request ids
