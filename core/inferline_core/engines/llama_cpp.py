"""The llama.cpp engine: chat and raw completion on one GGUF model, token by token.

We drive llama-cpp-python's token generator ourselves instead of its OpenAI-shaped helpers, so
that the core owns exact usage counts (streaming too), stop sequences, end-of-generation
detection, incremental UTF-8 decoding, log probabilities and a per-token cancellation check.
A forced tool call or a JSON answer is constrained by a grammar built from its JSON schema;
tool calls are cut out of the text by a shaper (``tool_calls``).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp import llama_grammar

from inferline_core.engines import json_schema, tool_calls
from inferline_core.engines.base import (
    IMAGE_MARKER,
    Alternative,
    ChatOptions,
    ChatTurn,
    Finish,
    FinishReason,
    GenerationEvent,
    Sampling,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolMode,
    ToolSpec,
)
from inferline_core.engines.chat_prompt import ChatFormatter
from inferline_core.engines.token_stream import Logprob, TokenStream
from inferline_core.engines.vision import MARKER as VISION_MARKER
from inferline_core.engines.vision import VisionEncoder
from inferline_core.exceptions import ContextLengthExceeded, InvalidArgument

# llama.cpp's own defaults, used where a request leaves a parameter unset.
DEFAULTS = {"temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05}
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
    mmproj: str | None = None


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
        self._vision: VisionEncoder | None = None
        if settings.mmproj:
            self._vision = VisionEncoder(
                self._llm, settings.mmproj, threads=settings.threads, gpu=settings.gpu_layers != 0
            )
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
        if self._vision is not None:
            self._vision.close()
        self._llm.close()

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
        prompt = self._formatter.format(turns, offered_tools(options))
        images = [image for turn in turns for image in turn.images]
        if images and self._vision is None:
            raise InvalidArgument(
                "this model does not accept images; serve a vision model (with its mmproj)",
                param="messages",
            )
        if self._vision is not None and images:
            text = prompt.text.replace(IMAGE_MARKER, VISION_MARKER)
            tokens = self._vision.evaluate(self._llm, text, images)
        else:
            tokens = self._llm.tokenize(
                prompt.text.encode(), add_bos=not prompt.has_bos, special=True
            )
        stops = (*sampling.stop, *prompt.stops)
        grammar = grammar_for(options)
        events = self._generate(
            tokens, sampling, stops, index=index, cancel=cancel, grammar=grammar
        )
        return with_tool_calls(events, options)

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

    def _generate(
        self,
        prompt: list[int],
        sampling: Sampling,
        stops: Sequence[str],
        *,
        index: int,
        cancel: threading.Event,
        grammar: str | None = None,
    ) -> Iterator[GenerationEvent]:
        budget = token_budget(len(prompt), self.context_length, sampling)
        self._llm.set_seed(sampling.seed if sampling.seed is not None else secrets.randbelow(2**31))
        stream = TokenStream(
            index=index,
            prompt=prompt,
            budget=budget,
            stops=stops,
            detokenize=lambda token: self._llm.detokenize([token]),
            is_end=lambda token: bool(llama_cpp.llama_vocab_is_eog(self._vocab, token)),
            logprob=self._logprob_of(-1, sampling.top_logprobs) if sampling.logprobs else None,
        )
        tokens = self._sample(prompt, sampling, grammar)
        try:
            for token in tokens:
                if cancel.is_set():
                    return
                yield from stream.feed(token)
                if stream.done:
                    break
        finally:
            tokens.close()
        yield from stream.finish()

    def _logprob_of(self, row: int, top: int) -> Logprob:
        """Log probabilities from logits row ``row`` of the context (-1: the last)."""
        return lambda token, piece: logprob(
            self._llm.ctx, row, self._llm.n_vocab(), token, piece, top, self._bytes
        )

    def _bytes(self, token: int) -> bytes:
        return bytes(self._llm.detokenize([token], special=True))

    def _sample(
        self, prompt: list[int], sampling: Sampling, grammar: str | None
    ) -> Generator[int, Any, None]:
        temperature = sampling.temperature
        if temperature is None:
            temperature = self._default_temperature
        processors = None
        if sampling.logit_bias:
            bias = _bias_processor(sampling.logit_bias, self._llm.n_vocab())
            processors = llama_cpp.LogitsProcessorList([bias])
        return self._llm.generate(
            prompt,
            temp=DEFAULTS["temperature"] if temperature is None else temperature,
            top_p=pick(sampling.top_p, DEFAULTS["top_p"]),
            top_k=int(pick(sampling.top_k, DEFAULTS["top_k"])),
            min_p=pick(sampling.min_p, DEFAULTS["min_p"]),
            repeat_penalty=pick(sampling.repeat_penalty, 1.0),
            presence_penalty=pick(sampling.presence_penalty, 0.0),
            frequency_penalty=pick(sampling.frequency_penalty, 0.0),
            logits_processor=processors,
            grammar=None if grammar is None else _compiled(grammar),
        )


def _compiled(grammar: str) -> llama_grammar.LlamaGrammar:
    return llama_grammar.LlamaGrammar.from_string(grammar, verbose=False)


def grammar_for(options: ChatOptions) -> str | None:
    """The grammar that constrains this answer, if any."""
    use = options.tools
    if use is not None and use.mode in (ToolMode.FUNCTION, ToolMode.REQUIRED):
        return json_schema.grammar(tool_calls.forced_schema(use), "tools")
    if options.json is not None:
        return json_schema.grammar(options.json.schema or json_schema.ANY_OBJECT, "response_format")
    return None


def offered_tools(options: ChatOptions) -> Sequence[ToolSpec]:
    """The tools the prompt presents: none when the request says the model must not call any."""
    use = options.tools
    return use.tools if use is not None and use.mode is not ToolMode.NONE else ()


def with_tool_calls(
    events: Iterator[GenerationEvent], options: ChatOptions
) -> Iterator[GenerationEvent]:
    """The events, with tool calls cut out of the text when the request has tools."""
    shaper = tool_calls.shaper(options.tools) if options.tools is not None else None
    return events if shaper is None else shaped(events, shaper)


def shaped(
    events: Iterator[GenerationEvent], shaper: tool_calls.Shaper
) -> Iterator[GenerationEvent]:
    """Pass generation events through a tool-call shaper; text that holds a call becomes
    ToolCallDelta events, and an answer with calls finishes with ``tool_calls``."""

    def pieces(
        index: int, items: list[tool_calls.Piece], logprobs: tuple[TokenLogprob, ...]
    ) -> Iterator[GenerationEvent]:
        for item in items:
            if isinstance(item, ToolCallDelta):
                yield ToolCallDelta(index, item.call, item.id, item.name, item.arguments)
            elif item:
                yield TextDelta(index, item, logprobs)
                logprobs = ()

    for event in events:
        if isinstance(event, TextDelta):
            yield from pieces(event.index, shaper.feed(event.text), event.logprobs)
        elif isinstance(event, Finish):
            yield from pieces(event.index, shaper.finish(), ())
            reason = event.reason
            if shaper.calls and reason is not FinishReason.LENGTH:
                reason = FinishReason.TOOL_CALLS
            yield Finish(event.index, reason, event.prompt_tokens, event.completion_tokens)
        else:
            yield event


def pick(value: float | None, default: float) -> float:
    """A request's value, or the default when it sets none."""
    return default if value is None else value


def token_budget(prompt_tokens: int, context: int, sampling: Sampling) -> int:
    """How many tokens a choice may generate; a prompt or max_tokens that cannot fit the
    context is refused, naming the field."""
    if sampling.max_tokens and sampling.max_tokens > context:
        raise InvalidArgument(
            f"max_tokens is {sampling.max_tokens} but the model's context is {context} tokens",
            param="max_tokens",
        )
    room = context - prompt_tokens
    if room <= 0:
        raise ContextLengthExceeded(
            f"the prompt has {prompt_tokens} tokens but the model's context is {context} tokens",
            param="messages",
        )
    return min(room, sampling.max_tokens) if sampling.max_tokens else room


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


def logprob(
    ctx: llama_cpp.llama_context_p,
    row: int,
    vocab_size: int,
    token: int,
    piece: bytes,
    top: int,
    token_bytes: Callable[[int], bytes],
) -> TokenLogprob:
    """A token's log probability under the logits it was sampled from, and the ``top`` most
    likely tokens there."""
    logits = np.ctypeslib.as_array(
        llama_cpp.llama_get_logits_ith(ctx, row), shape=(vocab_size,)
    ).astype(np.float64)
    shifted = logits - logits.max()
    logprobs = shifted - np.log(np.exp(shifted).sum())
    best = [int(t) for t in np.argsort(-logprobs)[:top]] if top else []
    alternatives = []
    for t in best:
        raw = token_bytes(t)
        alternatives.append(
            Alternative(raw.decode("utf-8", errors="replace"), float(logprobs[t]), raw)
        )
    text = piece.decode("utf-8", errors="replace")
    return TokenLogprob(text, float(logprobs[token]), piece, tuple(alternatives))
