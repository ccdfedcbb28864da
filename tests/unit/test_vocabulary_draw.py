"""The plain draw over the whole vocabulary (numpy, OpenAI's default sampling): greedy takes
the first maximum after the bias, a draw follows softmax((logits + bias) / temperature) in
every block, a banned token never comes, seeds repeat, and llama.cpp's row is left as it was."""

from __future__ import annotations

import numpy as np
import pytest

from inferline_core.engines.vocabulary_draw import BLOCK, VocabularyDraw, first_past

VOCAB = 2 * BLOCK + 276  # the last block is shorter than the others


def _row(values: dict[int, float], rest: float = -40.0) -> np.ndarray:
    row = np.full(VOCAB, rest, dtype=np.float32)
    for token, logit in values.items():
        row[token] = logit
    return row


def _softmax(row: np.ndarray) -> np.ndarray:
    weights = np.exp(row.astype(np.float64) - row.max())
    return weights / weights.sum()


def test_greedy_takes_the_first_maximum_after_the_bias() -> None:
    row = _row({5: 3.0, 9: 3.0, 700: 2.0})
    assert VocabularyDraw(VOCAB, 0.0, {}, seed=1).pick(row) == 5
    assert VocabularyDraw(VOCAB, 0.0, {5: -100.0}, seed=1).pick(row) == 9
    assert VocabularyDraw(VOCAB, 0.0, {700: 1.5}, seed=1).pick(row) == 700


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_draws_follow_the_softmax_in_every_block(temperature: float) -> None:
    row = _row({3: 1.0, 600: 2.0, VOCAB - 1: 1.5, BLOCK - 1: 0.5, 2 * BLOCK: 0.0})
    bias = {600: -1.0}
    sampler = VocabularyDraw(VOCAB, temperature, bias, seed=7)
    draws = 20_000
    counts = np.bincount([sampler.pick(row) for _ in range(draws)], minlength=VOCAB)
    biased = row.copy()
    biased[600] += -1.0
    expected = _softmax(biased / temperature)
    for token in (3, 600, VOCAB - 1, BLOCK - 1, 2 * BLOCK):
        assert counts[token] / draws == pytest.approx(expected[token], abs=0.015), token
    assert counts.sum() == draws


def test_a_banned_token_never_comes_even_when_it_is_the_most_likely() -> None:
    row = _row({10: 9.0, 11: 1.0, VOCAB - 1: 1.0}, rest=-1e9)
    sampler = VocabularyDraw(VOCAB, 1.0, {10: -1e9}, seed=3)
    drawn = {sampler.pick(row) for _ in range(2_000)}
    assert drawn == {11, VOCAB - 1}


def test_seeds_repeat_and_differ() -> None:
    row = np.random.default_rng(0).standard_normal(VOCAB).astype(np.float32)

    def draws(seed: int) -> list[int]:
        sampler = VocabularyDraw(VOCAB, 1.0, {}, seed=seed)
        return [sampler.pick(row) for _ in range(50)]

    assert draws(42) == draws(42)
    assert draws(42) != draws(43)


def test_the_row_is_left_as_it_was() -> None:
    row = _row({1: 2.0, 2: 1.0})
    before = row.copy()
    for temperature, bias in ((1.0, {2: 5.0}), (0.0, {2: 5.0}), (0.7, {})):
        VocabularyDraw(VOCAB, temperature, bias, seed=0).pick(row)
    assert np.array_equal(row, before)


def test_first_past_never_lands_on_a_zero_weight() -> None:
    weights = np.array([0.0, 0.0, 1.0, 0.0, 2.0, 0.0], dtype=np.float32)
    assert first_past(weights, 0.0) == (2, 0.0)
    assert first_past(weights, 0.999) == (2, pytest.approx(0.999))
    assert first_past(weights, 1.0) == (4, 0.0)
    # Rounding can leave the target at or past the total: the last weighted index, not the end.
    assert first_past(weights, 3.0) == (4, 2.0)
    assert first_past(weights, 3.5) == (4, 2.5)
