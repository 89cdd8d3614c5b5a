"""`responsd serve --model REPO[:FILE]` against a Hugging Face Hub stand-in on loopback."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.fake_hub import FakeHub, FakeRepo
from bench.servers import ServerThread, free_port, wait_healthy
from responsd.providers.local import default_model_path

GGUF = "tiny-Q4_K_M.gguf"


@pytest.fixture
def hub(tmp_path) -> Iterator[tuple[FakeHub, ServerThread]]:
    readme = tmp_path / "README.md"
    readme.write_text("a model card")
    weights = default_model_path()
    fake = FakeHub(
        {
            "org/tiny": FakeRepo({GGUF: weights, "README.md": readme}),
            "org/private": FakeRepo({GGUF: weights}, token="hf_secret"),
            "org/tampered": FakeRepo({GGUF: weights}, wrong_hash=True),
            "org/many": FakeRepo({"m-Q8_0.gguf": weights, "m-F16.gguf": weights}),
        }
    )
    thread = ServerThread(fake.app).start()
    yield fake, thread
    thread.stop()


def _env(tmp_path: Path, hub_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "RESPONSD_"))}
    return {
        **env,
        "HF_ENDPOINT": hub_url,
        "HF_HOME": str(tmp_path / "hf"),
        "RESPONSD_DATA_DIR": str(tmp_path / "data"),
        "RESPONSD_LOCAL_CONTEXT": "1024",
        **extra,
    }


def _serve(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "responsd", "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _served_models(model: str, env: dict[str, str]) -> list[str]:
    """Start `serve --model`, ask it for its models and one answer, stop it."""
    port = free_port()
    proc = _serve(["--model", model, "--port", str(port)], env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, f"{url}/healthz")
        ids = [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]]
        reply = httpx.post(
            f"{url}/v1/responses",
            json={"model": ids[0], "input": "Hi", "max_output_tokens": 16},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        return ids
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def _refusal(model: str, env: dict[str, str]) -> str:
    """Start `serve --model` expecting it to refuse: its exit message."""
    proc = _serve(["--model", model, "--port", str(free_port())], env)
    output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode not in (0, None), output
    assert "Traceback" not in output, output  # a message, not a crash
    return output


def test_a_named_model_is_downloaded_once_then_served_offline(hub, tmp_path):
    fake, thread = hub
    env = _env(tmp_path, thread.url)
    assert _served_models("org/tiny", env) == ["tiny-Q4_K_M"]  # the repo's only GGUF
    assert fake.requests["GET"] == 1
    assert _served_models(f"org/tiny:{GGUF}", env) == ["tiny-Q4_K_M"]
    assert fake.requests["GET"] == 1  # cached: not downloaded again
    thread.stop()  # the Hub is gone: the cache serves
    assert _served_models("org/tiny", {**env, "HF_HUB_OFFLINE": "1"}) == ["tiny-Q4_K_M"]


def test_a_download_that_does_not_match_its_published_hash_is_refused(hub, tmp_path):
    _, thread = hub
    output = _refusal("org/tampered", _env(tmp_path, thread.url))
    assert "does not match the SHA-256" in output and "deleted" in output
    blobs = list((tmp_path / "hf").rglob("blobs/*"))
    assert blobs == []


def test_a_private_repo_needs_hf_token(hub, tmp_path):
    _, thread = hub
    output = _refusal("org/private", _env(tmp_path, thread.url))
    assert "HF_TOKEN" in output
    env = _env(tmp_path, thread.url, HF_TOKEN="hf_secret")
    assert _served_models("org/private", env) == ["tiny-Q4_K_M"]


def test_a_repo_with_several_ggufs_needs_the_file_named(hub, tmp_path):
    _, thread = hub
    output = _refusal("org/many", _env(tmp_path, thread.url))
    assert "org/many:FILE" in output and "m-F16.gguf" in output and "m-Q8_0.gguf" in output


def test_a_named_model_with_an_upstream_is_refused(hub, tmp_path):
    _, thread = hub
    env = _env(tmp_path, thread.url, RESPONSD_UPSTREAM_URL="http://127.0.0.1:9/v1")
    assert "with an upstream" in _refusal("org/tiny", env)


def test_a_model_missing_from_the_cache_offline_says_so(hub, tmp_path):
    _, thread = hub
    output = _refusal("org/tiny", _env(tmp_path, thread.url, HF_HUB_OFFLINE="1"))
    assert "org/tiny" in output and "cache" in output
