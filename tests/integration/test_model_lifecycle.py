"""Models load on first use, stay for their keep-alive, and make room for each other, on a real
core with tiny models (and the default model where a request must run long)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

import inferline
from inferline.v1 import model_service_pb2 as model_pb
from inferline_core.config import DEFAULT_MODEL_ID, ModelConfig, default_model_config
from tests.integration.core_server import GEMMA_NEVER_ENDS, running_core

HI = [{"role": "user", "content": "hi"}]


def _tiny(path: Path, *ids: str) -> dict[str, ModelConfig]:
    return {model_id: ModelConfig(path=str(path), context_length=512) for model_id in ids}


async def _states(client: inferline.AsyncClient) -> dict[str, int]:
    return {m.id: m.state for m in await client.list_models()}


async def _wait_state(client: inferline.AsyncClient, model_id: str, state: int) -> float:
    started = time.monotonic()
    while (await _states(client))[model_id] != state:
        assert time.monotonic() - started < 10, f"{model_id} never reached state {state}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_first_use_loads_and_max_loaded_evicts_the_least_recent(tiny_chat_gguf: Path) -> None:
    models = _tiny(tiny_chat_gguf, "a", "b", "c")
    async with (
        running_core(
            models, max_loaded_models=2, keep_alive="-1", default_embedding_model=False
        ) as (_, address),
        inferline.AsyncClient(address) as client,
    ):
        assert set((await _states(client)).values()) == {model_pb.MODEL_STATE_AVAILABLE}
        for model_id in ("a", "b", "a", "c"):  # b is now the least recently used
            await client.chat(model=model_id, messages=HI, max_tokens=2)
        states = await _states(client)
        assert states == {
            "a": model_pb.MODEL_STATE_LOADED,
            "b": model_pb.MODEL_STATE_AVAILABLE,
            "c": model_pb.MODEL_STATE_LOADED,
        }
        await client.unload_model("a")
        assert (await _states(client))["a"] == model_pb.MODEL_STATE_AVAILABLE
        assert (await client.load_model("b")).state == model_pb.MODEL_STATE_LOADED


async def test_concurrent_first_requests_load_once(
    tiny_chat_gguf: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="inferline_core.registry")
    async with (
        running_core(_tiny(tiny_chat_gguf, "shared"), default_embedding_model=False) as (
            _,
            address,
        ),
        inferline.AsyncClient(address) as client,
    ):
        replies = await asyncio.gather(
            *(client.chat(model="shared", messages=HI, max_tokens=3) for _ in range(6))
        )
        assert all(r.usage.completion_tokens == 3 for r in replies)
    loads = [r for r in caplog.records if r.getMessage() == "loaded shared"]
    assert len(loads) == 1


async def test_keep_alive_per_request_and_per_core(tiny_chat_gguf: Path) -> None:
    async with (
        running_core(
            _tiny(tiny_chat_gguf, "m"), keep_alive="1s", default_embedding_model=False
        ) as (_, address),
        inferline.AsyncClient(address) as client,
    ):
        await client.chat(model="m", messages=HI, max_tokens=2, keep_alive=0)
        assert await _wait_state(client, "m", model_pb.MODEL_STATE_AVAILABLE) < 1.0
        await client.chat(model="m", messages=HI, max_tokens=2)  # the core's 1 s
        assert (await _states(client))["m"] == model_pb.MODEL_STATE_LOADED
        waited = await _wait_state(client, "m", model_pb.MODEL_STATE_AVAILABLE)
        assert 0.5 < waited < 3
        await client.chat(model="m", messages=HI, max_tokens=2, keep_alive=-1)
        await asyncio.sleep(1.6)
        assert (await _states(client))["m"] == model_pb.MODEL_STATE_LOADED


@pytest.mark.default_model
async def test_a_running_stream_is_never_evicted(
    tiny_chat_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    models = {
        DEFAULT_MODEL_ID: default_model_config(tmp_path_factory.mktemp("store")),
        **_tiny(tiny_chat_gguf, "tiny"),
    }
    async with (
        running_core(models, max_loaded_models=1, default_embedding_model=False) as (_, address),
        inferline.AsyncClient(address) as client,
    ):
        # The stream must outlast the 41 tokens read below: Gemma may not end it.
        long = {"max_tokens": 2000, "temperature": 1.0, "seed": 3, "logit_bias": GEMMA_NEVER_ENDS}
        stream = client.chat_stream(model=DEFAULT_MODEL_ID, messages=HI, **long)
        chunks = aiter(stream)
        await anext(chunks)
        waiting = asyncio.ensure_future(client.chat(model="tiny", messages=HI, max_tokens=2))
        for _ in range(40):  # ~0.7 s of Gemma's tokens while the tiny model waits for room
            await anext(chunks)
        assert not waiting.done()
        assert (await _states(client))[DEFAULT_MODEL_ID] == model_pb.MODEL_STATE_LOADED
        stream.cancel()
        reply = await asyncio.wait_for(waiting, 30)
        assert reply.usage.completion_tokens == 2
        assert (await _states(client))[DEFAULT_MODEL_ID] == model_pb.MODEL_STATE_AVAILABLE
