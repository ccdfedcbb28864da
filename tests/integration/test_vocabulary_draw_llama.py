"""The plain draw (numpy) against llama.cpp's own sampler chain on a real logits row of the
tiny model: the same greedy token, with and without a bias, and the same distribution when
sampling, which both follow as softmax((logits + bias) / temperature)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
import pytest

from inferline_core.engines.base import Sampling
from inferline_core.engines.llama_sampler import Chain, sampler_for
from inferline_core.engines.vocabulary_draw import VocabularyDraw

DRAWS = 4_000


@pytest.fixture(scope="module")
def model(tiny_chat_gguf: Path) -> Iterator[llama_cpp.Llama]:
    llama = llama_cpp.Llama(model_path=str(tiny_chat_gguf), n_ctx=128, verbose=False)
    llama.eval(llama.tokenize(b"hello there"))
    yield llama
    llama.close()


def _chain(model: llama_cpp.Llama, sampling: Sampling) -> Chain:
    """llama.cpp's own chain for what ``sampling`` asks: logit bias, then greedy, or the
    temperature and a seeded draw."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    bias = sampling.logit_bias
    if bias:
        items = (llama_cpp.llama_logit_bias * len(bias))(
            *(llama_cpp.llama_logit_bias(token, value) for token, value in bias.items())
        )
        biased = llama_cpp.llama_sampler_init_logit_bias(model.n_vocab(), len(items), items)
        llama_cpp.llama_sampler_chain_add(chain, biased)
    assert sampling.temperature is not None
    if sampling.temperature <= 0:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
    else:
        temperature = llama_cpp.llama_sampler_init_temp(sampling.temperature)
        llama_cpp.llama_sampler_chain_add(chain, temperature)
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(sampling.seed))
    return Chain(chain)


def _plain(model: llama_cpp.Llama, sampling: Sampling) -> VocabularyDraw:
    sampler = sampler_for(sampling, vocab=model._model.vocab, n_vocab=model.n_vocab())
    assert isinstance(sampler, VocabularyDraw)
    return sampler


def _ctx(model: llama_cpp.Llama) -> Any:
    return model._ctx.ctx


def _row(model: llama_cpp.Llama) -> np.ndarray:
    """A copy of the logits row both samplers draw from (the prompt's last)."""
    logits = llama_cpp.llama_get_logits_ith(_ctx(model), -1)
    return np.ctypeslib.as_array(logits, shape=(model.n_vocab(),)).copy()


@pytest.mark.parametrize("biased", [False, True], ids=["as-is", "second-raised"])
def test_greedy_picks_what_llama_cpp_picks(model: llama_cpp.Llama, biased: bool) -> None:
    row = _row(model)
    second = int(np.argsort(row)[-2])
    sampling = Sampling(temperature=0.0, logit_bias={second: 20.0} if biased else {})
    plain, chain = _plain(model, sampling), _chain(model, sampling)
    try:
        expected = second if biased else int(row.argmax())
        assert plain.draw(_ctx(model), -1) == chain.draw(_ctx(model), -1) == expected
    finally:
        chain.close()


def test_sampled_tokens_follow_the_same_distribution(model: llama_cpp.Llama) -> None:
    n_vocab = model.n_vocab()
    row = _row(model)
    top = int(row.argmax())
    sampling = Sampling(temperature=3.0, logit_bias={top: -2.0}, seed=11)
    biased = row.astype(np.float64)
    biased[top] -= 2.0
    weights = np.exp((biased - biased.max()) / 3.0)
    expected = weights / weights.sum()
    likely = np.flatnonzero(expected >= 0.03)
    assert len(likely) >= 4  # a spread worth comparing
    plain, chain = _plain(model, sampling), _chain(model, sampling)
    try:
        for sampler in (plain, chain):
            drawn = [sampler.draw(_ctx(model), -1) for _ in range(DRAWS)]
            counts = np.bincount(drawn, minlength=n_vocab) / DRAWS
            assert counts[likely] == pytest.approx(expected[likely], abs=0.03), type(sampler)
    finally:
        chain.close()
