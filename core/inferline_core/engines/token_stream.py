"""From sampled tokens to generation events, for one choice: end-of-generation, incremental
UTF-8, stop sequences, the token budget, log probabilities. Pure and incremental: the llama.cpp
engine keeps one per running choice, so stop handling and usage exist once."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence

from inferline_core.engines.base import (
    Finish,
    FinishReason,
    GenerationEvent,
    TextDelta,
    TokenLogprob,
)
from inferline_core.engines.stops import StopMatcher

Detokenize = Callable[[int], bytes]  # token -> its bytes
Logprob = Callable[[int, bytes], TokenLogprob]  # token, its bytes -> its log probability


class TokenStream:
    """One choice's tokens in, its events out; ``done`` once it has ended."""

    def __init__(
        self,
        *,
        index: int,
        prompt: list[int],
        budget: int,
        stops: Sequence[str],
        detokenize: Detokenize,
        is_end: Callable[[int], bool],
        logprob: Logprob | None,
    ) -> None:
        self.index = index
        self._prompt_tokens = len(prompt)
        self._budget = budget
        self._matcher = StopMatcher(stops)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._detokenize = detokenize
        self._is_end = is_end
        self._logprob = logprob
        self.produced: list[int] = []
        self.reason = FinishReason.LENGTH
        self.done = budget <= 0
        self.cached = 0  # prompt tokens whose KV cells came from an earlier request
        self._unsent = 0  # produced tokens no event has counted yet (text held back)

    def feed(self, token: int) -> list[GenerationEvent]:
        """The events for one sampled token."""
        if self._is_end(token):
            self.reason, self.done = FinishReason.STOP, True
            return []
        piece = self._detokenize(token)
        self.produced.append(token)
        self._unsent += 1
        text = self._matcher.feed(self._decoder.decode(piece))
        events: list[GenerationEvent] = []
        if self._logprob is not None:
            logprobs = (self._logprob(token, piece),)
            events.append(TextDelta(self.index, text, logprobs, self._counted()))
        elif text:
            events.append(TextDelta(self.index, text, tokens=self._counted()))
        if self._matcher.stopped:
            self.reason, self.done = FinishReason.STOP, True
        elif len(self.produced) >= self._budget:
            self.done = True
        return events

    def _counted(self) -> int:
        unsent, self._unsent = self._unsent, 0
        return unsent

    def finish(self) -> list[GenerationEvent]:
        """What was held back, then how the choice ended."""
        tail = self._matcher.feed(self._decoder.decode(b"", final=True)) + self._matcher.flush()
        events: list[GenerationEvent] = (
            [TextDelta(self.index, tail, tokens=self._counted())] if tail else []
        )
        return [
            *events,
            Finish(self.index, self.reason, self._prompt_tokens, len(self.produced), self.cached),
        ]
