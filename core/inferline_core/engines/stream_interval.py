"""Fewer, larger stream messages: a choice's text deltas gathered ``interval`` at a time.

Every message a streamed answer sends costs wake-ups in the core, the bridge and the client,
and on a machine whose cores all decode those come out of the decode. With an interval above
one, each choice's first delta still leaves at once (time to first token is unchanged); after
it, up to ``interval`` deltas (about one a token) go out as one, text joined and log
probabilities kept in order. Anything else a choice yields (a tool call fragment, its finish)
first sends what that choice holds, so nothing is lost or reordered within a choice.

A choice holds deltas only while its pace (the gap since its previous delta) says the next one
will come within ``MAX_HOLD`` of the first it holds; otherwise it sends what it holds at once.
A slow model (a large one on the CPU, a crowded batch) thus sends each token as it comes,
whatever the interval, and only fast streams are gathered. A pause nothing foretold (the
machine busy elsewhere) still holds a group until the pause ends, one gap at most.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from inferline_core.engines.base import GenerationEvent, TextDelta

MAX_HOLD = 0.25  # seconds: a reader sees a pause; a 4-token group of a 15 tok/s stream fits


def joined(deltas: list[TextDelta]) -> TextDelta:
    """One delta carrying ``deltas``' text, log probabilities and tokens, in order."""
    if len(deltas) == 1:
        return deltas[0]
    text = "".join(delta.text for delta in deltas)
    logprobs = tuple(item for delta in deltas for item in delta.logprobs)
    return TextDelta(deltas[0].index, text, logprobs, sum(delta.tokens for delta in deltas))


def coalesce(
    events: Iterable[GenerationEvent],
    interval: int,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[GenerationEvent]:
    """``events`` with each choice's text deltas after its first sent ``interval`` at a time
    (an interval of one sends each as it comes), none held past ``MAX_HOLD`` as far as the
    choice's pace foretells."""
    held: dict[int, list[TextDelta]] = {}  # per choice; a choice that has sent text is a key
    oldest: dict[int, float] = {}  # when the first delta a choice holds came
    previous: dict[int, float] = {}  # when a choice's last text delta came
    for event in events:
        pending = held.get(event.index)
        if isinstance(event, TextDelta):
            now = clock()
            if pending is None:
                held[event.index] = []
                yield event
            else:
                if not pending:
                    oldest[event.index] = now
                pending.append(event)
                next_due = now + (now - previous[event.index])
                if len(pending) >= interval or next_due - oldest[event.index] > MAX_HOLD:
                    yield joined(pending)
                    pending.clear()
            previous[event.index] = now
            continue
        if pending:
            yield joined(pending)
            pending.clear()
        yield event
    for pending in held.values():  # an engine cut short ends without its finishes
        if pending:
            yield joined(pending)
