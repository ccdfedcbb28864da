"""Stop sequences over streamed text: emit what is safe, hold back what could start a stop."""

from __future__ import annotations

from collections.abc import Sequence


class StopMatcher:
    """Feed text as it is generated; get back the text that may be shown.

    Text that could be the beginning of a stop sequence is held back until it either completes
    the stop (then it is dropped and ``stopped`` turns true) or can no longer match.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [stop for stop in stops if stop]
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add generated text; return the part that is safe to emit now."""
        if self.stopped:
            return ""
        buffer = self._held + text
        cut = min((i for i in (buffer.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return buffer[:cut]
        keep = self._longest_partial(buffer)
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """The generation ended without a stop: return whatever was held back."""
        held, self._held = self._held, ""
        return "" if self.stopped else held

    def _longest_partial(self, buffer: str) -> int:
        best = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), best, -1):
                if buffer.endswith(stop[:size]):
                    best = size
                    break
        return best
