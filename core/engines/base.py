"""What engines take and give: plain dataclasses and Protocols, no grpc, no generated code."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


class FinishReason(StrEnum):
    """Why a choice ended."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"


@dataclass(frozen=True, kw_only=True)
class Sampling:
    """Sampling settings for one request; ``None`` means the engine's default."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repeat_penalty: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    stop: Sequence[str] = ()
    logit_bias: Mapping[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatTurn:
    """One message of a conversation, as text."""

    role: str  # system | user | assistant | tool
    text: str
    name: str = ""


@dataclass(frozen=True)
class TextDelta:
    """New text for choice ``index``."""

    index: int
    text: str


@dataclass(frozen=True)
class Finish:
    """Choice ``index`` ended; token counts are for this choice alone."""

    index: int
    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


GenerationEvent = TextDelta | Finish


@runtime_checkable
class TextGenerator(Protocol):
    """A loaded text model. Calls come from one worker thread at a time; ``cancel`` is checked
    once per token and ends the generation within one token when set."""

    @property
    def context_length(self) -> int:
        """The context window in tokens."""

    def chat(
        self, turns: Sequence[ChatTurn], sampling: Sampling, *, index: int, cancel: threading.Event
    ) -> Iterator[GenerationEvent]:
        """Generate the assistant's next message."""

    def complete(
        self, prompt: str, sampling: Sampling, *, index: int, cancel: threading.Event
    ) -> Iterator[GenerationEvent]:
        """Continue a raw prompt."""

    def close(self) -> None:
        """Free the model's memory."""


@runtime_checkable
class Embedder(Protocol):
    """A loaded embedding model. Calls come from one worker thread at a time."""

    @property
    def context_length(self) -> int:
        """The most tokens one input may have, special tokens included."""

    @property
    def dimensions(self) -> int:
        """The length of each vector."""

    @property
    def vocab_size(self) -> int:
        """How many token ids the model knows (valid ids are below this)."""

    def tokenize(self, text: str) -> list[int]:
        """The model's tokens for ``text``, with its special tokens, never truncated."""

    def embed(self, inputs: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]:
        """One pooled, unnormalised vector per input, in order, as rows; batched inside."""

    def close(self) -> None:
        """Free the model's memory."""


Engine = TextGenerator | Embedder
