"""One request's sampler for a llama.cpp text model: the only place that sets sampling
defaults, checks logit-bias token ids and wires a grammar."""

from __future__ import annotations

import secrets
from typing import Any, Protocol

import llama_cpp

from inferline_core.engines.base import Sampling
from inferline_core.engines.vocabulary_draw import VocabularyDraw
from inferline_core.exceptions import InvalidArgument

# OpenAI's defaults, used where a request leaves a parameter unset (a model's
# default_temperature comes first): temperature 1, top_p 1, and neither top-k nor min-p, which
# OpenAI does not have. llama.cpp's own (0.8, 0.95, 40, 0.05) are not used.
DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0}
PENALTY_WINDOW = 64  # tokens the repeat/frequency/presence penalties look back on
NEUTRAL_PENALTIES = (1.0, 0.0, 0.0)  # repeat, frequency, presence
NO_FILTERS = (0, 1.0, 0.0)  # top-k, top-p, min-p


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


class Sampler(Protocol):
    """What the batched engine draws a sequence's tokens with."""

    def draw(self, ctx: Any, row: int) -> int:
        """The next token from the logits of output ``row`` of ``ctx``."""
        ...

    def close(self) -> None:
        """Free what the sampler holds; called once, when its sequence ends."""
        ...


class Chain:
    """llama.cpp's sampler chain: the filters, penalties and grammars the plain draw lacks."""

    def __init__(self, chain: Any) -> None:
        self._chain = chain

    def draw(self, ctx: Any, row: int) -> int:
        return int(llama_cpp.llama_sampler_sample(self._chain, ctx, row))

    def close(self) -> None:
        llama_cpp.llama_sampler_free(self._chain)


def sampler_for(
    sampling: Sampling,
    *,
    vocab: Any,
    n_vocab: int,
    grammar: str | None = None,
    default_temperature: float | None = None,
) -> Sampler:
    """A new sampler for one request: logit bias, grammar, penalties, then greedy at
    temperature 0, else top-k, top-p, min-p, temperature and a seeded draw. Where nothing
    but the bias and the temperature applies (OpenAI's defaults), numpy draws from the whole
    vocabulary (``vocabulary_draw``); otherwise llama.cpp's chain does."""
    check_logit_bias(sampling, n_vocab)
    penalties = (
        pick(sampling.repeat_penalty, 1.0),
        pick(sampling.frequency_penalty, 0.0),
        pick(sampling.presence_penalty, 0.0),
    )
    temperature = sampling.temperature
    if temperature is None:
        temperature = default_temperature
    if temperature is None:
        temperature = DEFAULTS["temperature"]
    top_k = int(pick(sampling.top_k, DEFAULTS["top_k"]))
    top_p = pick(sampling.top_p, DEFAULTS["top_p"])
    min_p = pick(sampling.min_p, DEFAULTS["min_p"])
    seed = sampling.seed if sampling.seed is not None else secrets.randbelow(2**31)
    filters = (top_k, top_p, min_p)
    plain = grammar is None and penalties == NEUTRAL_PENALTIES
    if plain and (temperature <= 0 or filters == NO_FILTERS):
        return VocabularyDraw(n_vocab, temperature, sampling.logit_bias or {}, seed)
    return Chain(_chain(sampling, vocab, n_vocab, grammar, penalties, temperature, filters, seed))


def _chain(
    sampling: Sampling,
    vocab: Any,
    n_vocab: int,
    grammar: str | None,
    penalties: tuple[float, float, float],
    temperature: float,
    filters: tuple[int, float, float],
    seed: int,
) -> Any:
    """llama.cpp's chain for what the plain draw cannot do; each neutral step is left out, as
    each would still walk the whole vocabulary."""
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
    if penalties != NEUTRAL_PENALTIES:
        add(llama_cpp.llama_sampler_init_penalties(n_vocab, PENALTY_WINDOW, *penalties))
    if temperature <= 0:
        add(llama_cpp.llama_sampler_init_greedy())
        return chain
    top_k, top_p, min_p = filters
    if top_k > 0:
        add(llama_cpp.llama_sampler_init_top_k(top_k))
    if top_p < 1.0:
        add(llama_cpp.llama_sampler_init_top_p(top_p, 1))
    if min_p > 0.0:
        add(llama_cpp.llama_sampler_init_min_p(min_p, 1))
    add(llama_cpp.llama_sampler_init_temp(temperature))
    add(llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF))
    return chain
