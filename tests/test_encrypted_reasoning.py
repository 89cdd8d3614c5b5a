"""Stateless use: reasoning sealed into encrypted_content, sent back, opened; forgeries refused."""

import openai
import pytest

from bench.fake_upstream import Reply
from responsd.sealing import KeyRing, UnsealError, new_key


def _two_stateless_turns(client, upstream, tamper=lambda s: s):
    upstream.script(
        Reply(reasoning="The hidden chain of thought.", text="first"), Reply(text="second")
    )
    first = client.responses.create(
        model="fake-model", input="a", store=False, include=["reasoning.encrypted_content"]
    )
    reasoning = first.output[0].model_dump(exclude_none=True)
    reasoning["encrypted_content"] = tamper(reasoning["encrypted_content"])
    reasoning.pop("content")  # a stateless client keeps only the sealed copy
    return first, client.responses.create(
        model="fake-model",
        store=False,
        include=["reasoning.encrypted_content"],
        input=[
            {"role": "user", "content": "a"},
            reasoning,
            first.output[1].model_dump(exclude_none=True),
            {"role": "user", "content": "b"},
        ],
    )


def test_encrypted_round_trip_across_two_stateless_turns(make_client, upstream):
    client = make_client(upstream_reasoning_history="reasoning_content")
    first, second = _two_stateless_turns(client, upstream)
    sealed = first.output[0].encrypted_content
    assert sealed.startswith("rsd1.") and "hidden" not in sealed
    assert second.output_text == "second"
    assert upstream.requests[-1]["messages"][1] == {
        "role": "assistant",
        "content": "first",
        "reasoning_content": "The hidden chain of thought.",
    }


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-6] + ("AAAAAA" if not s.endswith("AAAAAA") else "BBBBBB"),  # altered
        lambda s: s[: len(s) // 2],  # truncated
        lambda s: "rsd1.00000000." + s.split(".", 2)[2],  # a key we do not have
        lambda s: "not-even-close",
    ],
)
def test_tampered_encrypted_content_is_a_400(client, upstream, tamper):
    with pytest.raises(openai.BadRequestError) as info:
        _two_stateless_turns(client, upstream, tamper)
    assert info.value.param == "input[1].encrypted_content"
    assert info.value.code == "invalid_encrypted_content"
    assert len(upstream.requests) == 1  # the second turn never reached the model
    upstream.replies.clear()


def test_content_sealed_by_another_server_is_refused(make_client, client, upstream):
    upstream.script(Reply(reasoning="r", text="t"))
    other = make_client(encryption_keys=new_key())
    first = other.responses.create(
        model="fake-model", input="a", include=["reasoning.encrypted_content"]
    )
    sealed = first.output[0].model_dump(exclude_none=True)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(
            model="fake-model", input=[sealed, {"role": "user", "content": "b"}]
        )
    assert "key this server does not have" in info.value.message


def test_rotation_keeps_old_keys_readable():
    old, new = new_key(), new_key()
    sealed = KeyRing.load(old, None).seal("reasoning", {"text": "t"})
    rotated = KeyRing.load(f"{new},{old}", None)
    assert rotated.open("reasoning", sealed, "p") == {"text": "t"}
    assert rotated.seal("reasoning", {"text": "t"}).split(".")[1] != sealed.split(".")[1]
    with pytest.raises(UnsealError):
        KeyRing.load(new, None).open("reasoning", sealed, "p")


def test_a_sealed_value_cannot_change_purpose():
    keys = KeyRing.load(new_key(), None)
    with pytest.raises(UnsealError):
        keys.open("compaction", keys.seal("reasoning", {"text": "t"}), "p")


def test_keys_are_generated_once_in_the_data_dir(tmp_path):
    first = KeyRing.load(None, tmp_path).seal("reasoning", {"text": "t"})
    assert KeyRing.load(None, tmp_path).open("reasoning", first, "p") == {"text": "t"}
    assert (tmp_path / "encryption.keys").stat().st_mode & 0o777 == 0o600


def test_rotate_key_command_keeps_old_values_readable(tmp_path):
    import subprocess
    import sys

    sealed = KeyRing.load(None, tmp_path).seal("reasoning", {"text": "t"})
    done = subprocess.run(
        [sys.executable, "-m", "responsd", "rotate-key", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "New encryption key" in done.stdout
    rotated = KeyRing.load(None, tmp_path)
    assert rotated.open("reasoning", sealed, "p") == {"text": "t"}
    assert rotated.seal("reasoning", {}).split(".")[1] != sealed.split(".")[1]
