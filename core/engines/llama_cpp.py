"""The llama.cpp engine: chat and raw completion on one GGUF model, token by token.

We drive llama-cpp-python's token generator ourselves instead of its OpenAI-shaped helpers, so
that the core owns exact usage counts (streaming too), stop sequences, end-of-generation
detection, incremental UTF-8 decoding and a per-token cancellation check.
"""

from __future__ import annotations

import codecs
import secrets
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt

from core.engines.base import ChatTurn, Finish, FinishReason, GenerationEvent, Sampling, TextDelta
from core.engines.chat_prompt import ChatFormatter
from core.engines.stops import StopMatcher
from core.errors import ContextLengthExceeded, InvalidArgument

# llama.cpp's own defaults, used where a request leaves a parameter unset.
_DEFAULTS = {"temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05}
_Processor = Callable[[npt.NDArray[np.intc], npt.NDArray[np.single]], npt.NDArray[np.single]]


@dataclass(frozen=True, kw_only=True)
class LlamaSettings:
    """How to load one GGUF."""

    path: str
    context_length: int | None = None
    threads: int = 1
    gpu_layers: int = 0
    chat_format: str | None = None
    default_temperature: float | None = None


class LlamaEngine:
    """One loaded GGUF. Not thread-safe: the scheduler calls it from one worker thread."""

    def __init__(self, settings: LlamaSettings) -> None:
        self._llm = llama_cpp.Llama(
            model_path=settings.path,
            n_ctx=settings.context_length or 0,
            n_threads=settings.threads,
            n_threads_batch=settings.threads,
            n_gpu_layers=settings.gpu_layers,
            verbose=False,
        )
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        self._default_temperature = settings.default_temperature
        self._formatter = ChatFormatter(
            self._llm.metadata,
            settings.chat_format,
            bos=self._piece(self._llm.token_bos()),
            eos=self._piece(self._llm.token_eos()),
        )

    @property
    def context_length(self) -> int:
        """The context window in tokens."""
        return int(self._llm.n_ctx())

    def close(self) -> None:
        """Free the model's memory."""
        self._llm.close()

    def chat(
        self, turns: Sequence[ChatTurn], sampling: Sampling, *, index: int, cancel: threading.Event
    ) -> Iterator[GenerationEvent]:
        """Generate the assistant's next message."""
        prompt = self._formatter.format(turns)
        tokens = self._llm.tokenize(prompt.text.encode(), add_bos=not prompt.has_bos, special=True)
        stops = (*sampling.stop, *prompt.stops)
        return self._generate(tokens, sampling, stops, index=index, cancel=cancel)

    def complete(
        self, prompt: str, sampling: Sampling, *, index: int, cancel: threading.Event
    ) -> Iterator[GenerationEvent]:
        """Continue a raw prompt."""
        tokens = self._llm.tokenize(prompt.encode(), add_bos=True, special=False)
        return self._generate(tokens, sampling, tuple(sampling.stop), index=index, cancel=cancel)

    def _piece(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def _check_fits(self, prompt_tokens: int, sampling: Sampling) -> int:
        room = self.context_length - prompt_tokens
        if room <= 0:
            raise ContextLengthExceeded(
                f"the prompt has {prompt_tokens} tokens but the model's context is "
                f"{self.context_length} tokens",
                param="messages",
            )
        return min(room, sampling.max_tokens) if sampling.max_tokens else room

    def _generate(
        self,
        prompt: list[int],
        sampling: Sampling,
        stops: Sequence[str],
        *,
        index: int,
        cancel: threading.Event,
    ) -> Iterator[GenerationEvent]:
        budget = self._check_fits(len(prompt), sampling)
        self._llm.set_seed(sampling.seed if sampling.seed is not None else secrets.randbelow(2**31))
        tokens = self._sample(prompt, sampling)
        matcher = StopMatcher(stops)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        produced: list[int] = []
        reason = FinishReason.LENGTH
        try:
            for token in tokens:
                if cancel.is_set():
                    return
                if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    reason = FinishReason.STOP
                    break
                piece = self._llm.detokenize([token], prev_tokens=prompt + produced)
                produced.append(token)
                text = matcher.feed(decoder.decode(piece))
                if text:
                    yield TextDelta(index, text)
                if matcher.stopped:
                    reason = FinishReason.STOP
                    break
                if len(produced) >= budget:
                    break
        finally:
            tokens.close()
        tail = matcher.feed(decoder.decode(b"", final=True)) + matcher.flush()
        if tail:
            yield TextDelta(index, tail)
        yield Finish(index, reason, len(prompt), len(produced))

    def _sample(self, prompt: list[int], sampling: Sampling) -> Generator[int, Any, None]:
        temperature = sampling.temperature
        if temperature is None:
            temperature = self._default_temperature
        processors = None
        if sampling.logit_bias:
            bias = _bias_processor(sampling.logit_bias, self._llm.n_vocab())
            processors = llama_cpp.LogitsProcessorList([bias])
        return self._llm.generate(
            prompt,
            temp=_DEFAULTS["temperature"] if temperature is None else temperature,
            top_p=_pick(sampling.top_p, _DEFAULTS["top_p"]),
            top_k=int(_pick(sampling.top_k, _DEFAULTS["top_k"])),
            min_p=_pick(sampling.min_p, _DEFAULTS["min_p"]),
            repeat_penalty=_pick(sampling.repeat_penalty, 1.0),
            presence_penalty=_pick(sampling.presence_penalty, 0.0),
            frequency_penalty=_pick(sampling.frequency_penalty, 0.0),
            logits_processor=processors,
        )


def _pick(value: float | None, default: float) -> float:
    return default if value is None else value


def _bias_processor(bias: Mapping[int, float], vocab_size: int) -> _Processor:
    for token in bias:
        if not 0 <= token < vocab_size:
            raise InvalidArgument(
                f"logit_bias: token {token} is not in the vocabulary", param="logit_bias"
            )
    ids = np.fromiter(bias.keys(), dtype=np.int64)
    values = np.fromiter(bias.values(), dtype=np.float32)

    def apply(
        input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        scores[ids] += values
        return scores

    return apply
