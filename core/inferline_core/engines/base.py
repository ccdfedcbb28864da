"""What engines take and give: plain dataclasses and Protocols, no grpc, no generated code."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

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
    logprobs: bool = False
    top_logprobs: int = 0


@dataclass(frozen=True)
class ToolCall:
    """A complete call of a function, as the model asked for it or as history holds it."""

    id: str
    name: str
    arguments: str  # a JSON object, as text


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """A function the model may call; ``parameters`` is its arguments' JSON schema."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


class ToolMode(StrEnum):
    """Whether the model may, must, or must not call a tool."""

    NONE = "none"
    AUTO = "auto"
    REQUIRED = "required"
    FUNCTION = "function"  # the one function named in ToolUse.function


@dataclass(frozen=True, kw_only=True)
class ToolUse:
    """The tools of a chat request and how the model must use them."""

    tools: Sequence[ToolSpec]
    mode: ToolMode = ToolMode.AUTO
    function: str = ""
    parallel: bool = True


@dataclass(frozen=True, kw_only=True)
class JsonOutput:
    """The answer must be JSON: an object, or a value valid against ``schema``."""

    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class ChatOptions:
    """What a chat request asks beyond sampling: tools, or a JSON answer."""

    tools: ToolUse | None = None
    json: JsonOutput | None = None


@dataclass(frozen=True)
class ChatTurn:
    """One message of a conversation, as text."""

    role: str  # system | user | assistant | tool
    text: str
    name: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    # Encoded images, in order; ``text`` holds IMAGE_MARKER where each one goes.
    images: tuple[bytes, ...] = ()


IMAGE_MARKER = "<__media__>"


@dataclass(frozen=True)
class Alternative:
    """A likely token at one position, and its log probability."""

    token: str
    logprob: float
    bytes: bytes


@dataclass(frozen=True)
class TokenLogprob:
    """An output token's log probability and the most likely alternatives at its position."""

    token: str
    logprob: float
    bytes: bytes
    top: tuple[Alternative, ...] = ()


@dataclass(frozen=True)
class TextDelta:
    """New text for choice ``index``, the log probabilities of the tokens behind it, and how
    many generated tokens those are (0 for an echoed prompt)."""

    index: int
    text: str
    logprobs: tuple[TokenLogprob, ...] = ()
    tokens: int = 0


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of tool call ``call`` of choice ``index``: the first carries the id and name,
    the rest carry further text of the arguments."""

    index: int
    call: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True)
class Finish:
    """Choice ``index`` ended; token counts are for this choice alone."""

    index: int
    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # prompt tokens reused from an earlier request's KV cache


GenerationEvent = TextDelta | ToolCallDelta | Finish


class Loaded(Protocol):
    """What every loaded model's engine has, whatever it serves."""

    @property
    def placement(self) -> str:
        """Where the loaded model computes, as its engine knows it (``cpu``, ``cuda float16``)."""

    def close(self) -> None:
        """Free the model's memory."""


@runtime_checkable
class TextGenerator(Loaded, Protocol):
    """A loaded text model. Calls come from one worker thread at a time; ``cancel`` is checked
    once per token and ends the generation within one token when set."""

    @property
    def context_length(self) -> int:
        """The context window in tokens."""

    def chat(
        self,
        turns: Sequence[ChatTurn],
        sampling: Sampling,
        options: ChatOptions,
        *,
        index: int,
        cancel: threading.Event,
    ) -> Iterator[GenerationEvent]:
        """Generate the assistant's next message: text, or tool calls."""

    def complete(
        self,
        prompt: str,
        sampling: Sampling,
        *,
        index: int,
        cancel: threading.Event,
        echo: bool = False,
    ) -> Iterator[GenerationEvent]:
        """Continue a raw prompt; with ``echo`` the prompt comes first (with its tokens' log
        probabilities when ``sampling.logprobs`` asks for them)."""


@runtime_checkable
class Embedder(Loaded, Protocol):
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


@dataclass(frozen=True, kw_only=True)
class SpeechOptions:
    """How to decode one audio file; ``None`` means the engine's default."""

    translate: bool = False
    language: str = ""
    prompt: str = ""
    temperature: float | None = None
    beam_size: int | None = None
    vad_filter: bool = False
    word_timestamps: bool = False
    # faster-whisper's rule: a window whose no-speech probability is above the first and whose
    # average log probability is below the second is dropped as silence.
    no_speech_threshold: float | None = None
    log_prob_threshold: float | None = None


@dataclass(frozen=True)
class SpokenWord:
    """One word and its timing."""

    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, kw_only=True)
class SpeechSegment:
    """A decoded stretch of speech."""

    id: int
    start: float
    end: float
    text: str
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0
    words: tuple[SpokenWord, ...] = ()


@dataclass(frozen=True)
class SpeechInfo:
    """The audio as a whole: its language and length."""

    language: str
    language_probability: float
    duration: float


SpeechEvent = SpeechInfo | SpeechSegment


@runtime_checkable
class Transcriber(Loaded, Protocol):
    """A loaded speech-to-text model. Calls come from one worker thread at a time."""

    @property
    def multilingual(self) -> bool:
        """Whether the model knows languages other than English (and can translate)."""

    def transcribe(
        self, audio: bytes, options: SpeechOptions, *, cancel: threading.Event
    ) -> Iterator[SpeechEvent]:
        """The audio's info, then its segments as they are decoded."""


@dataclass(frozen=True, kw_only=True)
class ImageSpec:
    """What to paint; with ``image`` it is an edit. ``None`` means the engine's default."""

    prompt: str
    negative_prompt: str = ""
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    n: int = 1
    scheduler: str = ""
    image: bytes | None = None
    mask: bytes | None = None
    strength: float | None = None
    output_format: str = "png"  # png | jpeg | webp
    quality: int = 100  # JPEG and WebP, 0 to 100


@dataclass(frozen=True)
class ImageProgress:
    """A denoising step of image ``image_index`` is done."""

    image_index: int
    step: int
    total: int


@dataclass(frozen=True)
class MadeImage:
    """A finished image, encoded as asked (PNG by default), and the seed that made it."""

    data: bytes
    seed: int
    mime_type: str = "image/png"


ImageEvent = ImageProgress | MadeImage


@runtime_checkable
class Painter(Loaded, Protocol):
    """A loaded image model. Calls come from one worker thread at a time; ``cancel`` is
    checked between denoising steps."""

    def paint(self, spec: ImageSpec, *, cancel: threading.Event) -> Iterator[ImageEvent]:
        """Progress after every step, then each image."""


Engine = TextGenerator | Embedder | Transcriber | Painter
