"""One `inferline serve` with the tiny chat model (and so the bundled embedding model beside
it) for the end-to-end modules, and an openai SDK client for it.

Its flash attention is off: tests compare greedy answers between calls (a stream against the
same request whole), and with flash attention on llama.cpp rounds a row with where its KV cells
lie, which the tests before have shaped; the tiny model's random logits tie often enough for
that to change a token (a CI run failed that way)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from inferline_core.config import DEFAULT_EMBEDDING_MODEL_ID, default_embedding_config
from tests.e2e.serve import Served, serve

MODEL = "tiny-chat"
EMBEDDING_MODEL = DEFAULT_EMBEDDING_MODEL_ID


@pytest.fixture(scope="session")
def served(tiny_chat_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("serve")
    model_path = workdir / f"{MODEL}.gguf"
    model_path.symlink_to(tiny_chat_gguf)
    config = workdir / "config.toml"
    config.write_text('[core]\nflash_attention = "off"\n')
    with serve([str(model_path), "--nctx", "2048", "--config", str(config)], workdir) as running:
        yield running


@pytest.fixture(scope="session")
def client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture
def minilm_folder(tmp_path: Path) -> Path:
    """The bundled MiniLM as a plain ONNX folder (model.onnx + tokenizer.json), with a
    config.toml in it that turns the bundled speech models off."""
    bundled = default_embedding_config()
    assert bundled.tokenizer is not None
    folder = tmp_path / "minilm"
    folder.mkdir()
    (folder / "model.onnx").symlink_to(bundled.path)
    (folder / "tokenizer.json").symlink_to(bundled.tokenizer)
    (folder / "config.toml").write_text("[core]\ndefault_speech_models = false\n")
    return folder
