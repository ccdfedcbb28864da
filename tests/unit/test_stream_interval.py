"""engines.stream_interval: which deltas go out together, and that nothing moves within a
choice."""

from __future__ import annotations

from collections.abc import Callable

from inferline_core.engines.base import (
    Finish,
    FinishReason,
    GenerationEvent,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
)
from inferline_core.engines.stream_interval import MAX_HOLD, coalesce


def token(index: int, text: str) -> TextDelta:
    return TextDelta(index, text, (TokenLogprob(text, -1.0, text.encode()),))


def finish(index: int, tokens: int) -> Finish:
    return Finish(index, FinishReason.STOP, 3, tokens)


def test_an_interval_of_one_changes_nothing() -> None:
    events: list[GenerationEvent] = [token(0, "a"), token(0, "b"), finish(0, 2)]
    assert list(coalesce(events, 1)) == events


def test_the_first_goes_alone_and_the_rest_in_threes() -> None:
    events: list[GenerationEvent] = [token(0, c) for c in "abcdefg"]
    sent = list(coalesce([*events, finish(0, 7)], 3))
    assert [e.text for e in sent if isinstance(e, TextDelta)] == ["a", "bcd", "efg"]
    assert [len(e.logprobs) for e in sent if isinstance(e, TextDelta)] == [1, 3, 3]
    assert sent[-1] == finish(0, 7)


def test_what_a_choice_holds_goes_before_its_next_other_event() -> None:
    call = ToolCallDelta(0, 0, "call_1", "lookup")
    events: list[GenerationEvent] = [token(0, "a"), token(0, "b"), call, token(0, "c")]
    sent = list(coalesce([*events, finish(0, 3)], 4))
    assert sent == [token(0, "a"), token(0, "b"), call, token(0, "c"), finish(0, 3)]


def test_choices_gather_apart_when_their_tokens_interleave() -> None:
    events: list[GenerationEvent] = []
    for c in "abcde":
        events += [token(0, c), token(1, c.upper())]
    sent = list(coalesce([*events, finish(0, 5), finish(1, 5)], 2))
    texts = {i: [e.text for e in sent if isinstance(e, TextDelta) and e.index == i] for i in (0, 1)}
    assert texts == {0: ["a", "bc", "de"], 1: ["A", "BC", "DE"]}
    assert sent[-2:] == [finish(0, 5), finish(1, 5)]


def test_an_end_without_finishes_still_sends_what_is_held() -> None:
    sent = list(coalesce([token(0, "a"), token(0, "b"), token(0, "c")], 4))
    assert [e.text for e in sent if isinstance(e, TextDelta)] == ["a", "bc"]


def paced(gaps: list[float]) -> tuple[list[GenerationEvent], Callable[[], float]]:
    """Tokens a, b, c, ... and a clock that reads, at each, the time it came: 0 for the
    first, then after each gap in turn."""
    times = [0.0]
    for gap in gaps:
        times.append(times[-1] + gap)
    return [token(0, chr(ord("a") + i)) for i in range(len(times))], iter(times).__next__


def sent_texts(gaps: list[float], interval: int) -> list[str]:
    events, clock = paced(gaps)
    return [e.text for e in coalesce(events, interval, clock) if isinstance(e, TextDelta)]


def test_a_fast_stream_gathers_full_groups() -> None:
    assert sent_texts([MAX_HOLD / 10] * 8, 4) == ["a", "bcde", "fghi"]


def test_a_slow_stream_sends_each_token_as_it_comes() -> None:
    assert sent_texts([MAX_HOLD * 1.2] * 4, 4) == ["a", "b", "c", "d", "e"]


def test_no_token_waits_past_the_hold_at_a_middling_pace() -> None:
    # One gap fits in the hold, two do not: what is held goes when the next would come too late.
    assert sent_texts([MAX_HOLD * 0.8] * 4, 4) == ["a", "bc", "de"]


def test_a_stream_that_slows_down_stops_gathering() -> None:
    # b and c wait out the first long gap, which nothing foretold; after it each goes alone.
    fast, slow = MAX_HOLD / 20, MAX_HOLD * 1.2
    assert sent_texts([fast, fast, slow, slow, slow], 4) == ["a", "bcd", "e", "f"]
