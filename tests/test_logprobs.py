"""Output text log probabilities: `include: ["message.output_text.logprobs"]` with
`top_logprobs` on /v1/responses, `logprobs` / `top_logprobs` on /v1/chat/completions.

The scripted upstream reports one token per text chunk (`bench.fake_upstream.fake_logprob`).
"""

import orjson
import pytest

from bench.fake_upstream import Reply, fake_logprob
from responsd.providers.local_logprobs import TokenLedger
from tests.wire import check_response, stream_events

LOGPROBS = "message.output_text.logprobs"


def expected(text: str, chunk_size: int, top: int) -> list[dict]:
    pieces = [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]
    return [fake_logprob(piece, i, top) for i, piece in enumerate(pieces)]


def test_included_logprobs_come_with_the_text_and_are_stored(client, http, upstream):
    upstream.script(Reply(text="Paris is lovely", chunk_size=5))
    response = client.responses.create(
        model="fake-model", input="Capital?", include=[LOGPROBS], top_logprobs=2
    )
    sent = upstream.requests[0]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2
    assert response.top_logprobs == 2
    part = response.output[0].content[0]
    assert part.text == "Paris is lovely"
    tokens = expected("Paris is lovely", 5, 2)
    assert [t.model_dump() for t in part.logprobs] == tokens
    assert part.logprobs[0].top_logprobs[1].token == "~1"
    stored = check_response(http.get(f"/responses/{response.id}").json())
    assert stored["output"][0]["content"][0]["logprobs"] == tokens


def test_streamed_deltas_carry_their_tokens(http, upstream):
    upstream.script(Reply(text="one two three", chunk_size=4))
    events, _ = stream_events(
        http, model="fake-model", input="x", include=[LOGPROBS], top_logprobs=1
    )
    tokens = expected("one two three", 4, 1)
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert [e["delta"] for e in deltas] == ["one ", "two ", "thre", "e"]
    assert [e["logprobs"] for e in deltas] == [[t] for t in tokens]
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert done["logprobs"] == tokens
    part_done = next(e for e in events if e["type"] == "response.content_part.done")
    assert part_done["part"]["logprobs"] == tokens
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["logprobs"] == tokens


def test_the_sdks_stream_helper_keeps_them(client, upstream):
    upstream.script(Reply(text="abcdefgh", chunk_size=3))
    with client.responses.stream(model="fake-model", input="x", include=[LOGPROBS]) as stream:
        deltas = [e.logprobs for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert [len(d) for d in deltas] == [1, 1, 1]
    tokens = final.output[0].content[0].logprobs
    assert [t.token for t in tokens] == ["abc", "def", "gh"]
    assert all(t.top_logprobs == [] for t in tokens)


def test_include_without_top_logprobs_asks_for_no_alternatives(client, upstream):
    upstream.script(Reply(text="hi"))
    response = client.responses.create(model="fake-model", input="x", include=[LOGPROBS])
    # top_logprobs 0 said outright: llama-cpp-python's server gives none without it.
    assert upstream.requests[0]["logprobs"] is True and upstream.requests[0]["top_logprobs"] == 0
    assert [t.model_dump() for t in response.output[0].content[0].logprobs] == expected("hi", 8, 0)


def test_top_logprobs_alone_shows_none_as_hosted(client, upstream):
    # As the hosted API: top_logprobs sets how many alternatives; the include asks for them.
    upstream.script(Reply(text="hi"))
    response = client.responses.create(model="fake-model", input="x", top_logprobs=3)
    assert "logprobs" not in upstream.requests[0]
    assert response.top_logprobs == 3
    assert response.output[0].content[0].logprobs == []


def test_a_continued_turn_sends_the_text_only(client, upstream):
    upstream.script(Reply(text="first"), Reply(text="second"))
    first = client.responses.create(model="fake-model", input="a", include=[LOGPROBS])
    client.responses.create(model="fake-model", input="b", previous_response_id=first.id)
    assert upstream.requests[1]["messages"][1] == {"role": "assistant", "content": "first"}
    assert "logprobs" not in upstream.requests[1]


def test_tokens_get_their_bytes_and_no_more_alternatives_than_asked(client, upstream):
    # llama-cpp-python's server sends `bytes: null` (the part's shape requires them), and
    # more alternatives than asked for.
    alternatives = [{"token": "e", "logprob": -2, "bytes": None}, {"token": "a", "logprob": -3}]
    token = {"token": "é", "logprob": -0.5, "bytes": None, "top_logprobs": alternatives}
    chunk = {"choices": [{"index": 0, "delta": {"content": "é"}, "logprobs": {"content": [token]}}]}
    end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    lines = [orjson.dumps(chunk).decode(), orjson.dumps(end).decode(), "[DONE]"]
    upstream.script(Reply(raw_lines=lines))
    response = client.responses.create(
        model="fake-model", input="x", include=[LOGPROBS], top_logprobs=1
    )
    (got,) = response.output[0].content[0].logprobs
    assert got.model_dump() == {
        "token": "é",
        "logprob": -0.5,
        "bytes": [0xC3, 0xA9],
        "top_logprobs": [{"token": "e", "logprob": -2.0, "bytes": [0x65]}],
    }


def test_chat_completions_logprobs(client, upstream):
    upstream.script(Reply(text="Hello there", chunk_size=6))
    completion = client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "hi"}],
        logprobs=True,
        top_logprobs=2,
    )
    assert upstream.requests[0]["logprobs"] is True and upstream.requests[0]["top_logprobs"] == 2
    content = completion.choices[0].logprobs.content
    assert [t.model_dump() for t in content] == expected("Hello there", 6, 2)
    assert completion.choices[0].logprobs.refusal is None


def test_chat_completions_streamed_logprobs(client, upstream):
    upstream.script(Reply(text="Hello there", chunk_size=6))
    stream = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}], logprobs=True, stream=True
    )
    chunks = [c for c in stream if c.choices and c.choices[0].delta.content]
    assert [[t.token for t in c.choices[0].logprobs.content] for c in chunks] == [
        ["Hello "],
        ["there"],
    ]


def test_chat_completions_without_logprobs_shows_null(client, upstream):
    upstream.script(Reply(text="hi"))
    completion = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].logprobs is None
    assert "logprobs" not in upstream.requests[0]


@pytest.mark.parametrize("top", [-1, 21])
def test_top_logprobs_out_of_range_is_a_400(http, upstream, top):
    body = {"model": "fake-model", "input": "x", "include": [LOGPROBS], "top_logprobs": top}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "top_logprobs"


def test_the_embedded_models_tokens_go_with_the_text_they_begin_in():
    # The sampler runs ahead of what is shown (stop sequences and tool-call text are held
    # back), so its tokens wait in a ledger until their text is shown; ones never shown
    # stay there. Checked here directly: which tokens are ahead depends on timing.
    ledger = TokenLedger()
    for chars, name in [(3, "a"), (0, "b"), (2, "c"), (4, "d"), (1, "e")]:
        ledger.add(chars, {"token": name})

    def shown(chars: int) -> list[str]:
        return [token["token"] for token in ledger.take(chars)]

    assert shown(2) == ["a"]  # "a" begins at 0; "b" (no text of its own) at 3
    assert shown(2) == ["b", "c"]  # both begin at 3, inside the 4 characters shown
    assert shown(1) == []  # "d" begins at 5: not shown yet
    assert shown(1) == ["d"]  # its first character is: it is listed
    assert shown(0) == []  # "e" (at 9) never shown: a stop sequence cut it
