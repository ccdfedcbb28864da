"""engines.llama_cpp.offload: where a loaded model's layers compute, counted as llama.cpp counts
them when it loads (every block and the output layer). This machine's llama.cpp has no GPU, so
the GPU answers are read with llama.cpp's own check turned to yes; the model is the real tiny one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import pytest

from inferline_core.engines.llama_cpp import init_backend, offload


@pytest.fixture(scope="module")
def model(tiny_chat_gguf: Path) -> Iterator[llama_cpp.llama_model_p]:
    init_backend()
    params = llama_cpp.llama_model_default_params()
    params.n_gpu_layers = 0
    loaded = llama_cpp.llama_model_load_from_file(str(tiny_chat_gguf).encode(), params)
    assert loaded
    yield loaded
    llama_cpp.llama_model_free(loaded)


def test_a_build_that_cannot_offload_computes_on_the_cpu(
    model: llama_cpp.llama_model_p, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: False)
    assert offload(model, -1) == "cpu"


@pytest.mark.parametrize(
    ("asked", "where"),
    [(-1, "gpu 3/3 layers"), (99, "gpu 3/3 layers"), (2, "gpu 2/3 layers"), (0, "cpu")],
)
def test_layers_count_the_blocks_and_the_output_layer(
    model: llama_cpp.llama_model_p, monkeypatch: pytest.MonkeyPatch, asked: int, where: str
) -> None:
    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: True)
    assert offload(model, asked) == where  # the tiny model has 2 blocks
