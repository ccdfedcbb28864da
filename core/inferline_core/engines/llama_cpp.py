"""What a llama.cpp text engine needs besides its decode loop (``llama_batch``): how a GGUF is
loaded, the grammar that constrains an answer, the tools a prompt offers, tool calls cut out of
the text, the token budget and log probabilities.

A forced tool call or a JSON answer is constrained by a grammar built from its JSON schema;
tool calls are cut out of the text by a shaper (``tool_calls``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import llama_cpp
import numpy as np

from inferline_core.engines import json_schema, tool_calls
from inferline_core.engines.base import (
    Alternative,
    ChatOptions,
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
from inferline_core.exceptions import ContextLengthExceeded, InvalidArgument


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
    # llama.cpp's flash attention: "auto" lets llama.cpp decide (on for the CPU). It rounds with
    # where a sequence's KV cells lie, so with it a greedy answer may change with what ran
    # before; "off" makes answers repeat exactly, at some cost in tokens/s.
    flash_attention: Literal["auto", "on", "off"] = "auto"


@functools.cache
def init_backend() -> None:
    """Initialize llama.cpp once per process, before the first model loads, and keep its
    loading chatter (every tensor, at debug level) off stderr: llama-cpp-python prints what
    reaches the level of this logger, errors only once any Llama(verbose=False) is made."""
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    llama_cpp.llama_backend_init()


def offload(model: llama_cpp.llama_model_p, gpu_layers: int) -> str:
    """Where a loaded model's layers compute: ``cpu``, or ``gpu N/M layers`` counted as
    llama.cpp counts them at load (its blocks and the output layer; a negative asks for all)."""
    layers = int(llama_cpp.llama_model_n_layer(model)) + 1
    on_gpu = layers if gpu_layers < 0 else min(gpu_layers, layers)
    if not on_gpu or not llama_cpp.llama_supports_gpu_offload():
        return "cpu"
    return f"gpu {on_gpu}/{layers} layers"


FLASH_ATTENTION = {
    "auto": llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO,
    "on": llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
    "off": llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED,
}


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
        index: int, items: list[tool_calls.Piece], event: TextDelta | None = None
    ) -> Iterator[GenerationEvent]:
        logprobs, tokens = (event.logprobs, event.tokens) if event else ((), 0)
        for item in items:
            if isinstance(item, ToolCallDelta):
                yield ToolCallDelta(index, item.call, item.id, item.name, item.arguments)
            elif item:
                yield TextDelta(index, item, logprobs, tokens)
                logprobs, tokens = (), 0

    for event in events:
        if isinstance(event, TextDelta):
            yield from pieces(event.index, shaper.feed(event.text), event)
        elif isinstance(event, Finish):
            yield from pieces(event.index, shaper.finish())
            reason = event.reason
            if shaper.calls and reason is not FinishReason.LENGTH:
                reason = FinishReason.TOOL_CALLS
            yield Finish(
                event.index,
                reason,
                event.prompt_tokens,
                event.completion_tokens,
                event.cached_tokens,
            )
        else:
            yield event


def token_budget(prompt_tokens: int, context: int, sampling: Sampling) -> int:
    """How many tokens a choice may generate; a prompt or max_tokens that cannot fit the
    context is refused, naming the field."""
    if sampling.max_tokens is not None and sampling.max_tokens > context:
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
    # max_tokens 0 generates nothing (echo with logprobs scores a prompt); unset means the room.
    return room if sampling.max_tokens is None else min(room, sampling.max_tokens)


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
