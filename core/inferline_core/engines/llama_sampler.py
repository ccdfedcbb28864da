"""One request's llama.cpp sampler chain: the only place that sets sampling defaults, checks
logit-bias token ids and wires a grammar, for every llama.cpp text model."""

from __future__ import annotations

import secrets
from typing import Any

import llama_cpp

from inferline_core.engines.base import Sampling
from inferline_core.exceptions import InvalidArgument

# OpenAI's defaults, used where a request leaves a parameter unset (a model's
# default_temperature comes first): temperature 1, top_p 1, and neither top-k nor min-p, which
# OpenAI does not have. llama.cpp's own (0.8, 0.95, 40, 0.05) are not used.
DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0}
PENALTY_WINDOW = 64  # tokens the repeat/frequency/presence penalties look back on


def pick(value: float | None, default: float) -> float:
    """A request's value, or the default when it sets none."""
    return default if value is None else value


def check_logit_bias(sampling: Sampling, n_vocab: int) -> None:
    """Refuse a logit_bias that names a token outside the vocabulary."""
    for token in sampling.logit_bias or {}:
        if not 0 <= token < n_vocab:
            raise InvalidArgument(
                f"logit_bias: token {token} is not in the vocabulary", param="logit_bias"
            )


def sampler_chain(
    sampling: Sampling,
    *,
    vocab: Any,
    n_vocab: int,
    grammar: str | None = None,
    default_temperature: float | None = None,
) -> Any:
    """A new sampler chain for one request (free it with ``llama_sampler_free``): logit bias,
    grammar, penalties, then greedy at temperature 0, else top-k, top-p, min-p, temperature
    and a seeded draw."""
    check_logit_bias(sampling, n_vocab)
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())

    def add(sampler: Any) -> None:
        llama_cpp.llama_sampler_chain_add(chain, sampler)

    if sampling.logit_bias:
        biases = (llama_cpp.llama_logit_bias * len(sampling.logit_bias))(
            *(llama_cpp.llama_logit_bias(t, b) for t, b in sampling.logit_bias.items())
        )
        add(llama_cpp.llama_sampler_init_logit_bias(n_vocab, len(biases), biases))
    if grammar is not None:
        add(llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root"))
    penalties = (
        pick(sampling.repeat_penalty, 1.0),
        pick(sampling.frequency_penalty, 0.0),
        pick(sampling.presence_penalty, 0.0),
    )
    if penalties != (1.0, 0.0, 0.0):  # neutral penalties would still walk the vocabulary
        add(llama_cpp.llama_sampler_init_penalties(n_vocab, PENALTY_WINDOW, *penalties))
    temperature = sampling.temperature
    if temperature is None:
        temperature = default_temperature
    if temperature is None:
        temperature = DEFAULTS["temperature"]
    if temperature <= 0:
        add(llama_cpp.llama_sampler_init_greedy())
        return chain
    # Neutral filters are left out: each would still walk the whole vocabulary.
    top_k = int(pick(sampling.top_k, DEFAULTS["top_k"]))
    if top_k > 0:
        add(llama_cpp.llama_sampler_init_top_k(top_k))
    top_p = pick(sampling.top_p, DEFAULTS["top_p"])
    if top_p < 1.0:
        add(llama_cpp.llama_sampler_init_top_p(top_p, 1))
    min_p = pick(sampling.min_p, DEFAULTS["min_p"])
    if min_p > 0.0:
        add(llama_cpp.llama_sampler_init_min_p(min_p, 1))
    add(llama_cpp.llama_sampler_init_temp(temperature))
    seed = sampling.seed if sampling.seed is not None else secrets.randbelow(2**31)
    add(llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF))
    return chain
