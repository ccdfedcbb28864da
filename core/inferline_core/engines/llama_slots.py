"""Which tokens each slot of a batched llama.cpp context holds in its KV cache, and which free
slot a new prompt takes: the one whose cache shares the longest prefix with it, so that only
the rest of the prompt is evaluated (the next turn of a conversation, a shared system prompt),
as llama.cpp's own server does.

A new conversation goes to an empty or the least recently used slot rather than overwrite
another conversation's history for the few tokens they share; those are copied over instead
(in a unified KV cache a copied cell only gains a sequence id). A slot claims only tokens its
KV cells really hold: a finished or cancelled request leaves what it evaluated; a failed one,
or one whose prompt held images, leaves nothing. This is the only place that removes or copies
KV cells.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import llama_cpp


def common_prefix(held: Sequence[int], prompt: Sequence[int]) -> int:
    """How many leading tokens two token lists share."""
    count = 0
    for a, b in zip(held, prompt, strict=False):
        if a != b:
            break
        count += 1
    return count


class SlotCache:
    """The KV contents of ``count`` slots (sequence ids) of one context's ``memory``; ``window``
    is the model's sliding-window size (0 when it has none)."""

    def __init__(self, memory: Any, count: int, *, window: int = 0) -> None:
        self._memory = memory
        self._window = window
        self._held: list[list[int]] = [[] for _ in range(count)]
        self._used = [0] * count  # when each slot was last released, to pick among equals
        self._clock = 0

    def held(self, slot: int) -> list[int]:
        """The tokens slot ``slot``'s KV cells hold, position by position (empty while in use)."""
        return self._held[slot]

    def claim(self, prompt: Sequence[int] | None, busy: Collection[int]) -> tuple[int, int]:
        """Take a slot not in ``busy`` for ``prompt`` (``None``: a prompt that cannot reuse a
        cache, one with images); return it and how many of the prompt's first tokens its KV
        cells already hold. The count leaves at least the last token to evaluate, so that the
        prompt's last position has logits; every cell after it is removed.

        The free slot sharing the longest prefix is trimmed and taken, unless that throws away
        more cached tokens than the emptiest, least recently used slot holds: then the prompt
        goes there with the shared prefix (a system prompt, the chat template's first tokens)
        copied over. So a conversation's next turn or a regenerated answer keeps its slot, and
        a new conversation never overwrites another one's history while a slot is empty."""
        free = [slot for slot in range(len(self._held)) if slot not in busy]
        spare = min(free, key=lambda s: (len(self._held[s]) > 0, self._used[s]))
        if prompt is None:
            self.forget(spare)
            return spare, 0
        shared = {slot: common_prefix(self._held[slot], prompt) for slot in free}
        source = max(free, key=lambda s: (shared[s], -self._used[s]))
        keep = min(shared[source], len(prompt) - 1)
        if len(self._held[source]) - keep <= len(self._held[spare]):
            slot = source
        else:
            slot = spare
            self.forget(slot)
            if keep > 0:
                llama_cpp.llama_memory_seq_cp(self._memory, source, slot, 0, keep)
        keep = self._trim(slot, keep)
        self._held[slot] = []  # unknown until the request releases it
        return slot, keep

    def _trim(self, slot: int, keep: int) -> int:
        """Remove the slot's cells from position ``keep`` on; fall back to an empty slot when
        the memory cannot (a recurrent model, whose copy is all or nothing) or a sliding window
        already dropped cells that position ``keep`` attends to (in the slot, or in the slot a
        prefix was copied from)."""
        if keep > 0 and llama_cpp.llama_memory_seq_rm(self._memory, slot, keep, -1):
            oldest = llama_cpp.llama_memory_seq_pos_min(self._memory, slot)
            if not self._window or 0 <= oldest <= max(0, keep - self._window):
                return keep
        self.forget(slot)
        return 0

    def release(self, slot: int, tokens: Sequence[int]) -> None:
        """A request left the slot, its KV cells holding exactly ``tokens`` from position 0."""
        self._held[slot] = list(tokens)
        self._clock += 1
        self._used[slot] = self._clock

    def forget(self, slot: int) -> None:
        """Empty the slot: its cells are removed and it claims nothing."""
        llama_cpp.llama_memory_seq_rm(self._memory, slot, -1, -1)
        self._held[slot] = []
