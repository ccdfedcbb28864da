"""Engine-independent steps around an embedding model: fitting inputs to its context, and
turning pooled vectors into what the caller asked for (fewer dimensions, unit length)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from inferline_core.exceptions import ContextLengthExceeded, InvalidArgument


def special_suffix(tokenize: Callable[[str], list[int]]) -> list[int]:
    """The special tokens a tokenizer appends to every text (BERT's ``[SEP]``), found by
    comparing an empty text with a one-word one: what follows their common prefix."""
    empty, word = tokenize(""), tokenize("a")
    shared = 0
    while shared < min(len(empty), len(word)) and empty[shared] == word[shared]:
        shared += 1
    return empty[shared:]


def fit(
    inputs: Sequence[list[int]], limit: int, suffix: Sequence[int], *, truncate: bool
) -> list[list[int]]:
    """Inputs that fit ``limit`` tokens: cut (keeping the model's closing special tokens) when
    ``truncate``, else ContextLengthExceeded naming the first input that is too long."""
    fitted = []
    for index, tokens in enumerate(inputs):
        if not tokens:
            raise InvalidArgument(f"input[{index}] is empty", param=f"input[{index}]")
        if len(tokens) > limit:
            if not truncate:
                raise ContextLengthExceeded(
                    f"input[{index}] has {len(tokens)} tokens but the model takes at most "
                    f"{limit}; shorten it or allow truncation",
                    param=f"input[{index}]",
                )
            ends = list(suffix) if suffix and tokens[-len(suffix) :] == list(suffix) else []
            tokens = tokens[: limit - len(ends)] + ends
        fitted.append(tokens)
    return fitted


def finish(
    vectors: npt.NDArray[np.float32], *, normalize: bool, dimensions: int | None
) -> npt.NDArray[np.float32]:
    """Keep the first ``dimensions`` of each row (Matryoshka), then scale rows to unit length."""
    if dimensions is not None:
        vectors = vectors[:, :dimensions]
    if normalize:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-12)
    return vectors.astype(np.float32, copy=False)
