"""StopText: stop sequences cut streamed text wherever the pieces happen to split."""

import pytest

from responsd.providers.stop_text import StopText


def _run(pieces: list[str], stops: list[str]) -> tuple[str, bool]:
    cutter = StopText(stops)
    out = "".join(cutter.feed(piece) for piece in pieces)
    if not cutter.stopped:
        out += cutter.flush()
    return out, cutter.stopped


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_text_ends_before_the_first_stop_whatever_the_split(size):
    text = "alpha be beta END gamma END"
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    assert _run(pieces, ["END", "gam"]) == ("alpha be beta ", True)


def test_a_held_back_prefix_is_released_when_it_is_not_a_stop():
    cutter = StopText(["STOP"])
    assert cutter.feed("go ST") == "go "
    assert cutter.feed("ay") == "STay"
    assert _run(["abc", "ST"], ["STOP"]) == ("abcST", False)


def test_the_earliest_of_several_stops_wins():
    assert _run(["xx b a"], ["a", "b"]) == ("xx ", True)
    assert _run(["nothing here"], ["zzz"]) == ("nothing here", False)
