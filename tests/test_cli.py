"""`responsd serve` as a user runs it: a real process, configured by flags and environment."""

import os
import subprocess
import sys
from pathlib import Path

import httpx

from bench.servers import free_port, wait_healthy


def test_serve_starts_answers_and_shuts_down_cleanly(upstream_server, tmp_path):
    _, up = upstream_server
    port = free_port()
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
        wait_healthy(proc, f"http://127.0.0.1:{port}/healthz")
        health = httpx.get(f"http://127.0.0.1:{port}/healthz")
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


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def test_serve_with_several_workers(upstream_server, tmp_path):
    _, up = upstream_server
    port = free_port()
    env = {**os.environ, "RESPONSD_UPSTREAM_URL": f"{up.url}/v1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "responsd",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--data-dir",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}/healthz")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1") as c:
            for _ in range(10):
                reply = c.post("/responses", json={"model": "fake-model", "input": "x"})
                assert reply.status_code == 200
                assert c.get(f"/responses/{reply.json()['id']}").status_code == 200
        workers = [
            p for p in _children(proc.pid) if "python" in Path(f"/proc/{p}/cmdline").read_text()
        ]
        assert len(workers) >= 2
    finally:
        proc.terminate()
        proc.wait(30)
