"""No hangs inside the core, beyond the decode loop: unloading that fails (on the keep-alive
reaper or right after a request with keep_alive 0) leaves the model unloaded and loadable, and
a diffusion pipeline that raises on its helper thread fails its request with INTERNAL while
the loaded pipeline serves the next one. Real engines (tiny GGUF, tiny Stable Diffusion) in
an in-process core; one library call of theirs is made to fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import inferline
from inferline_core.config import ModelConfig
from inferline_core.registry import Registry, State
from tests.integration.core_server import running_core

HI = [{"role": "user", "content": "hi"}]
QUIET: dict[str, Any] = {"default_embedding_model": False, "default_speech_models": False}
LIMIT_S = 60  # a hang fails the test instead of stalling it


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.exc_info]


def _failing_close(engine: Any) -> Callable[[], None]:
    """The engine's own close, which then raises as a library might."""
    real = engine.close

    def close() -> None:
        real()
        raise RuntimeError("injected failure while unloading")

    return close


@pytest.fixture
async def chat_core(tiny_chat_gguf: Path) -> AsyncIterator[tuple[Registry, inferline.AsyncClient]]:
    models = {"tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=512, parallel=2)}
    async with (
        running_core(models, **QUIET) as (server, address),
        inferline.AsyncClient(address) as sdk,
    ):
        yield server.registry, sdk


async def _until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (state another thread changes) until it holds, within LIMIT_S."""
    async with asyncio.timeout(LIMIT_S):
        while not condition():  # noqa: ASYNC110 (no event to wait on: the core's state)
            await asyncio.sleep(0.05)


async def _until_unloaded(registry: Registry) -> None:
    await _until(lambda: registry.entry("tiny").engine is None)


async def test_unloading_that_fails_after_keep_alive_0_leaves_the_model_loadable(
    chat_core: tuple[Registry, inferline.AsyncClient],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry, client = chat_core
    await client.chat(messages=HI, max_tokens=2)
    entry = registry.entry("tiny")
    monkeypatch.setattr(entry.engine, "close", _failing_close(entry.engine))
    reply = await client.chat(messages=HI, max_tokens=3, keep_alive=0)
    assert reply.usage.completion_tokens == 3
    await _until_unloaded(registry)
    await _until(lambda: bool(_tracebacks(caplog)))  # the unloading ran and failed
    assert entry.state is State.AVAILABLE
    assert len(_tracebacks(caplog)) == 1
    again = await asyncio.wait_for(client.chat(messages=HI, max_tokens=4), LIMIT_S)
    assert again.usage.completion_tokens == 4
    assert registry.entry("tiny").state is State.LOADED  # loaded again


async def test_the_reaper_survives_a_failed_unload_and_keeps_reaping(
    chat_core: tuple[Registry, inferline.AsyncClient],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry, client = chat_core
    await client.chat(messages=HI, max_tokens=2, keep_alive=0.5)
    entry = registry.entry("tiny")
    monkeypatch.setattr(entry.engine, "close", _failing_close(entry.engine))
    await _until(lambda: bool(_tracebacks(caplog)))  # the reaper's round failed
    assert len(_tracebacks(caplog)) == 1
    # The reaper still runs: the reloaded model is reaped again after its keep-alive.
    await asyncio.wait_for(client.chat(messages=HI, max_tokens=2, keep_alive=0.5), LIMIT_S)
    assert entry.engine is not None
    await _until_unloaded(registry)
    assert entry.state is State.AVAILABLE


async def test_a_failed_worker_close_still_unloads(
    chat_core: tuple[Registry, inferline.AsyncClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry, client = chat_core
    await client.chat(messages=HI, max_tokens=2)
    entry = registry.entry("tiny")
    worker = entry.worker
    assert worker is not None
    real = worker.close

    def close(timeout: float | None = None) -> None:
        real(timeout)
        raise RuntimeError("injected failure in the worker")

    monkeypatch.setattr(worker, "close", close)
    await asyncio.wait_for(registry.unload(entry), LIMIT_S)
    assert entry.engine is None and entry.state is State.AVAILABLE
    reply = await asyncio.wait_for(client.chat(messages=HI, max_tokens=2), LIMIT_S)
    assert reply.usage.completion_tokens == 2


@pytest.fixture(scope="module")
async def image_core(tiny_diffusion: Path) -> AsyncIterator[tuple[Registry, inferline.AsyncClient]]:
    models = {"tiny-sd": ModelConfig(path=str(tiny_diffusion), type="image", backend="diffusers")}
    async with (
        running_core(models, **QUIET) as (server, address),
        inferline.AsyncClient(address) as sdk,
    ):
        await sdk.generate_image("warm up", steps=1, width=64, height=64)
        yield server.registry, sdk


def _pipeline(registry: Registry) -> Any:
    return registry.entry("tiny-sd").engine._text  # type: ignore[union-attr]


async def test_a_pipeline_that_raises_on_its_thread_fails_only_its_request(
    image_core: tuple[Registry, inferline.AsyncClient],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry, client = image_core
    unet = _pipeline(registry).unet
    real = unet.forward
    calls: list[int] = []

    def forward(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:  # the second denoising step
            raise RuntimeError("injected failure in the UNet")
        return real(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", forward)
    with pytest.raises(inferline.InternalError) as raised:
        await asyncio.wait_for(
            client.generate_image("boom", steps=3, width=64, height=64, seed=1), LIMIT_S
        )
    assert raised.value.reason == "ENGINE_FAILED"
    assert "injected" not in raised.value.message
    assert len(_tracebacks(caplog)) == 1
    again = await asyncio.wait_for(
        client.generate_image("fine", steps=2, width=64, height=64, seed=1), LIMIT_S
    )
    assert len(again.images) == 1


async def test_a_named_scheduler_serves_that_request_only(
    image_core: tuple[Registry, inferline.AsyncClient],
) -> None:
    registry, client = image_core
    shared = _pipeline(registry).scheduler
    params: dict[str, Any] = {"steps": 2, "width": 64, "height": 64, "seed": 3}
    before = await client.generate_image("a hill", **params)
    # Not Euler: on the tiny random pipeline two steps of Euler end within 2e-6 of DDIM's.
    other = await client.generate_image("a hill", scheduler="DPMSolverMultistepScheduler", **params)
    after = await client.generate_image("a hill", **params)
    assert _pipeline(registry).scheduler is shared
    assert type(shared).__name__ == "DDIMScheduler"
    assert after.images[0].image.data == before.images[0].image.data  # the default came back
    assert other.images[0].image.data != before.images[0].image.data  # DPM-Solver did run
