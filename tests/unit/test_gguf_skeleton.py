"""The benchmarks' GGUF skeleton: a grown file has the original's header, size and layout, each
tensor repeating its first blocks, and llama.cpp loads and decodes it."""

from __future__ import annotations

from pathlib import Path

import gguf
import llama_cpp
import numpy as np

from tests.bench.gguf_skeleton import grow, shrink


def test_a_grown_file_keeps_the_layout_and_repeats_each_tensors_first_blocks(
    tiny_chat_gguf: Path, tmp_path: Path
) -> None:
    shrink(tiny_chat_gguf, tmp_path / "skeleton", keep_bytes=256)
    grow(tmp_path / "skeleton", tmp_path / "grown.gguf")
    original, grown = gguf.GGUFReader(tiny_chat_gguf), gguf.GGUFReader(tmp_path / "grown.gguf")
    assert (tmp_path / "skeleton").stat().st_size < tiny_chat_gguf.stat().st_size / 4
    assert (tmp_path / "grown.gguf").stat().st_size == tiny_chat_gguf.stat().st_size
    assert (
        grown.data[: grown.data_offset].tobytes() == original.data[: original.data_offset].tobytes()
    )
    repeated = 0
    for before, after in zip(original.tensors, grown.tensors, strict=True):
        assert (after.name, after.tensor_type, after.data_offset) == (
            before.name, before.tensor_type, before.data_offset,
        )  # fmt: skip
        block = gguf.GGML_QUANT_SIZES[before.tensor_type][1]
        first = max(256 // block, 1) * block
        data = after.data.tobytes()
        assert data[:first] == before.data.tobytes()[:first]
        assert data == (data[:first] * (len(data) // first + 1))[: len(data)]
        repeated += len(data) > first
    assert repeated  # the tiny model's larger tensors were cut and grown back

    llm = llama_cpp.Llama(str(tmp_path / "grown.gguf"), n_ctx=64, logits_all=True, verbose=False)
    llm.eval(llm.tokenize(b"hello"))
    assert np.isfinite(llm.scores[: llm.n_tokens]).all()
    llm.close()
