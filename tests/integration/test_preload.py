"""`[core] preload`: the default models load at start, and the gRPC health service says
NOT_SERVING until they have (what a Kubernetes readiness probe waits for)."""

from __future__ import annotations

from pathlib import Path

import pytest

import inferline
from inferline.v1 import model_service_pb2 as model_pb
from inferline_core.config import ModelConfig
from tests.integration.core_server import running_core


async def test_preload_loads_each_default_before_serving(
    tiny_chat_gguf: Path, tiny_bert_gguf: Path
) -> None:
    models = {
        "chat": ModelConfig(path=str(tiny_chat_gguf), context_length=512),
        "other-chat": ModelConfig(path=str(tiny_chat_gguf), context_length=512),
        "embed": ModelConfig(path=str(tiny_bert_gguf), type="embedding"),
    }
    async with (
        running_core(models, preload=True) as (_, address),
        inferline.AsyncClient(address) as client,
    ):
        assert await client.health()
        states = {m.id: m.state for m in await client.list_models()}
    loaded = model_pb.MODEL_STATE_LOADED
    # The first chat model and the first embedding model answer requests that name none.
    assert states == {"chat": loaded, "embed": loaded, "other-chat": model_pb.MODEL_STATE_AVAILABLE}


async def test_without_preload_models_load_on_first_use(tiny_chat_gguf: Path) -> None:
    models = {"chat": ModelConfig(path=str(tiny_chat_gguf), context_length=512)}
    async with running_core(models) as (_, address), inferline.AsyncClient(address) as client:
        assert await client.health()
        assert (await client.get_model("chat")).state == model_pb.MODEL_STATE_AVAILABLE


async def test_a_default_that_cannot_load_keeps_the_core_not_serving(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file at all")
    models = {"chat": ModelConfig(path=str(broken), context_length=512)}
    async with (
        running_core(models, preload=True) as (_, address),
        inferline.AsyncClient(address) as client,
    ):
        assert not await client.health()
        # The SDK checks health itself and sends nothing to a core that is not serving.
        with pytest.raises(inferline.UnavailableError):
            await client.get_model("chat", timeout=5)
