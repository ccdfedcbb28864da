"""Fields shared by chat and completions requests, and their translation to proto."""

from __future__ import annotations

from typing import Any

import msgspec

from inferline.v1 import common_pb2 as pb
from inferline_bridge.errors import APIError
from inferline_bridge.numbers import Int32, Int64, fits_int32


class StreamOptions(msgspec.Struct):
    """``stream_options``."""

    include_usage: bool = False


class GenerationFields(msgspec.Struct, kw_only=True):
    """OpenAI's sampling fields, then Nexa's aliases and llama.cpp's extras (ours)."""

    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | Int32 | None = None  # chat: a bool; completions: how many alternatives
    max_tokens: Int32 | None = None
    n: Int32 | None = None
    presence_penalty: float | None = None
    seed: Int64 | None = None
    stop: str | list[str] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None
    # Nexa's names for OpenAI's fields.
    max_new_tokens: Int32 | None = None
    stop_words: list[str] | None = None
    # Extras from llama.cpp's sampler.
    top_k: Int32 | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None


_PLAIN = (
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repeat_penalty",
)


def sampling_pb(fields: GenerationFields, max_tokens: int | None) -> pb.SamplingParams:
    """The proto sampling parameters: unset fields stay unset (temperature 0 is greedy)."""
    params = pb.SamplingParams()
    for name in _PLAIN:
        value = getattr(fields, name)
        if value is not None:
            setattr(params, name, value)
    if max_tokens is None:  # 0 is a limit too: a completion that only reads its prompt
        max_tokens = fields.max_new_tokens
    if max_tokens is not None:
        params.max_tokens = max_tokens
    stop = fields.stop if fields.stop is not None else fields.stop_words
    if stop is not None:
        params.stop.extend([stop] if isinstance(stop, str) else stop)
    for token, bias in (fields.logit_bias or {}).items():
        try:
            token_id = int(token)
        except ValueError:
            token_id = None
        if token_id is None or not fits_int32(token_id):
            raise APIError(400, f"logit_bias: {token!r} is not a token id", param="logit_bias")
        params.logit_bias[token_id] = bias
    return params


def logprob_dict(item: pb.TokenLogprob) -> dict[str, Any]:
    """One token of OpenAI's ``logprobs.content``."""
    return {
        "token": item.token,
        "logprob": item.logprob,
        "bytes": list(item.bytes),
        "top_logprobs": [
            {"token": alt.token, "logprob": alt.logprob, "bytes": list(alt.bytes)}
            for alt in item.top_logprobs
        ],
    }


def include_usage(fields: GenerationFields) -> bool:
    """Whether a stream ends with a usage chunk."""
    return bool(fields.stream_options and fields.stream_options.include_usage)


def usage_dict(usage: pb.Usage) -> dict[str, Any]:
    """OpenAI's usage object, with how many prompt tokens came from the cache."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


FINISH_REASONS: dict[int, str] = {
    pb.FINISH_REASON_STOP: "stop",
    pb.FINISH_REASON_LENGTH: "length",
    pb.FINISH_REASON_TOOL_CALLS: "tool_calls",
    pb.FINISH_REASON_CONTENT_FILTER: "content_filter",
}


def finish_reason(reason: int) -> str | None:
    """OpenAI's finish_reason string."""
    return FINISH_REASONS.get(reason)
