"""Engine-independent embedding steps, and the bridge's reading of OpenAI's ``input``."""

from __future__ import annotations

import numpy as np
import pytest

from inferline_bridge.embeddings.translate import inputs_pb
from inferline_bridge.errors import APIError
from inferline_core.engines import vectors
from inferline_core.exceptions import ContextLengthExceeded, InvalidArgument


def _bert_like(text: str) -> list[int]:
    return [101, *(ord(c) for c in text), 102]


def test_special_suffix_is_what_every_text_ends_with() -> None:
    assert vectors.special_suffix(_bert_like) == [102]
    assert vectors.special_suffix(lambda text: [1, *(ord(c) for c in text)]) == []


def test_fit_cuts_long_inputs_but_keeps_the_closing_token() -> None:
    long = _bert_like("abcdefgh")
    assert vectors.fit([long, [5, 6]], 5, [102], truncate=True) == [[101, 97, 98, 99, 102], [5, 6]]
    assert vectors.fit([[1, 2, 3, 4, 5, 6]], 5, [102], truncate=True) == [[1, 2, 3, 4, 5]]
    with pytest.raises(ContextLengthExceeded) as raised:
        vectors.fit([[1], long], 5, [102], truncate=False)
    assert raised.value.param == "input[1]"
    with pytest.raises(InvalidArgument):
        vectors.fit([[]], 5, [], truncate=True)


def test_finish_shortens_then_normalizes() -> None:
    rows = np.array([[3.0, 4.0, 12.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    out = vectors.finish(rows, normalize=True, dimensions=2)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_array_equal(vectors.finish(rows, normalize=False, dimensions=None), rows)


def test_openai_input_shapes() -> None:
    assert [i.text for i in inputs_pb("hi")] == ["hi"]
    assert [list(i.tokens.ids) for i in inputs_pb([1, 2])] == [[1, 2]]
    mixed = inputs_pb(["a", [3, 4]])
    assert [i.WhichOneof("input") for i in mixed] == ["text", "tokens"]
    for bad, param in (([], "input"), (["a", ""], "input[1]"), ([[1], [True]], "input[1]")):
        with pytest.raises(APIError) as raised:
            inputs_pb(bad)
        assert raised.value.param == param
