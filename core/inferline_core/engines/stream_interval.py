"""Fewer, larger stream messages: a choice's text deltas gathered ``interval`` at a time.

Every message a streamed answer sends costs wake-ups in the core, the bridge and the client,
and on a machine whose cores all decode those come out of the decode. With an interval above
one, each choice's first delta still leaves at once (time to first token is unchanged); after
it, up to ``interval`` deltas (about one a token) go out as one, text joined and log
probabilities kept in order. Anything else a choice yields (a tool call fragment, its finish)
first sends what that choice holds, so nothing is lost or reordered within a choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from inferline_core.engines.base import GenerationEvent, TextDelta


def joined(deltas: list[TextDelta]) -> TextDelta:
    """One delta carrying ``deltas``' text, log probabilities and tokens, in order."""
    if len(deltas) == 1:
        return deltas[0]
    text = "".join(delta.text for delta in deltas)
    logprobs = tuple(item for delta in deltas for item in delta.logprobs)
    return TextDelta(deltas[0].index, text, logprobs, sum(delta.tokens for delta in deltas))


def coalesce(events: Iterable[GenerationEvent], interval: int) -> Iterator[GenerationEvent]:
    """``events`` with each choice's text deltas after its first sent ``interval`` at a time
    (an interval of one sends each as it comes)."""
    held: dict[int, list[TextDelta]] = {}  # per choice; a choice that has sent text is a key
    for event in events:
        pending = held.get(event.index)
        if isinstance(event, TextDelta):
            if pending is None:
                held[event.index] = []
                yield event
            else:
                pending.append(event)
                if len(pending) >= interval:
                    yield joined(pending)
                    pending.clear()
            continue
        if pending:
            yield joined(pending)
            pending.clear()
        yield event
    for pending in held.values():  # an engine cut short ends without its finishes
        if pending:
            yield joined(pending)
