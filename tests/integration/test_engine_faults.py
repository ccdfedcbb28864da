"""No hangs inside the core: a failure injected into one llama.cpp call of the batched engine
(the real library, on the tiny model, in an in-process core) fails the request it touches with
INTERNAL (over REST a 500 with a generic message), logs its traceback once, and the next request on the same loaded model works."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import llama_cpp
import pytest
from litestar.testing import AsyncTestClient

import inferline
from inferline_bridge.app import create_app
from inferline_bridge.settings import BridgeSettings
from inferline_core.config import ModelConfig
from tests.integration.core_server import running_core, threaded_core

HI = [{"role": "user", "content": "hi"}]
QUIET: dict[str, Any] = {"default_embedding_model": False, "default_speech_models": False}
LIMIT_S = 60  # far above the tiny model's time even on a loaded machine: a hang fails, not waits


@pytest.fixture
async def client(tiny_chat_gguf: Path) -> AsyncIterator[inferline.AsyncClient]:
    models = {"tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=512, parallel=2)}
    async with running_core(models, **QUIET) as (_, address), inferline.AsyncClient(address) as sdk:
        await sdk.chat(messages=HI, max_tokens=1)  # loaded before the fault goes in
        yield sdk


def _fail_once(
    monkeypatch: pytest.MonkeyPatch, name: str, failure: Callable[[Callable[..., Any]], Any]
) -> list[int]:
    """Make the next call of ``llama_cpp.<name>`` fail as ``failure(real)`` does; later calls
    go to the library. Returns a list that counts the failed calls."""
    real = getattr(llama_cpp, name)
    failed: list[int] = []

    def patched(*args: Any) -> Any:
        if not failed:
            failed.append(1)
            return failure(real)
        return real(*args)

    monkeypatch.setattr(llama_cpp, name, patched)
    return failed


def _raise(real: Callable[..., Any]) -> Any:
    raise RuntimeError("injected failure")


async def _stream(client: inferline.AsyncClient, max_tokens: int, **sampling: Any) -> int:
    tokens = 0
    async for chunk in client.chat_stream(messages=HI, max_tokens=max_tokens, **sampling):
        if chunk.HasField("final"):
            tokens = chunk.final.usage.completion_tokens
    return tokens


async def _works_again(client: inferline.AsyncClient) -> None:
    reply = await asyncio.wait_for(client.chat(messages=HI, max_tokens=12), LIMIT_S)
    assert reply.usage.completion_tokens == 12
    assert await asyncio.wait_for(_stream(client, 9), LIMIT_S) == 9


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.exc_info]


@pytest.mark.parametrize(
    ("call", "failure", "sampling"),
    [
        ("llama_decode", lambda real: -1, {}),  # llama.cpp's own failure code
        ("llama_decode", _raise, {}),
        ("llama_sampler_sample", _raise, {"top_k": 40}),  # llama.cpp's sampler chain
        ("llama_get_logits_ith", _raise, {}),  # the plain draw over the vocabulary reads its row
    ],
    ids=["decode-returns-error", "decode-raises", "chain-sampler-raises", "plain-draw-raises"],
)
async def test_a_failed_step_fails_its_request_then_the_model_serves(
    client: inferline.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    call: str,
    failure: Callable[[Callable[..., Any]], Any],
    sampling: dict[str, Any],
) -> None:
    caplog.set_level(logging.INFO)
    failed = _fail_once(monkeypatch, call, failure)
    with pytest.raises(inferline.InternalError) as raised:
        await asyncio.wait_for(_stream(client, 50, **sampling), LIMIT_S)
    assert failed == [1]
    assert raised.value.reason == "ENGINE_FAILED"
    assert "injected" not in raised.value.message  # a generic message, the log has the rest
    tracebacks = _tracebacks(caplog)
    assert len(tracebacks) == 1, [r.getMessage() for r in tracebacks]
    await _works_again(client)


async def test_a_failure_while_ending_a_request_still_ends_it(
    client: inferline.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failed = _fail_once(monkeypatch, "llama_sampler_free", _raise)
    with pytest.raises(inferline.InternalError) as raised:  # top-k: llama.cpp's chain, freed
        await asyncio.wait_for(client.chat(messages=HI, max_tokens=5, top_k=40), LIMIT_S)
    assert failed == [1]
    assert raised.value.reason == "ENGINE_FAILED"
    assert len(_tracebacks(caplog)) == 1
    await _works_again(client)


async def test_a_failure_beside_other_requests_spares_none_and_blocks_none(
    client: inferline.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two streams share the steps; a decode that fails fails whoever was in it, and every
    stream ends (with tokens or an error) instead of waiting."""
    real = llama_cpp.llama_decode
    steps: list[int] = []

    def patched(ctx: Any, batch: Any) -> int:
        steps.append(1)
        if len(steps) == 40:
            return -1
        return int(real(ctx, batch))

    monkeypatch.setattr(llama_cpp, "llama_decode", patched)
    results = await asyncio.wait_for(
        asyncio.gather(_stream(client, 200), _stream(client, 200), return_exceptions=True),
        LIMIT_S,
    )
    assert any(isinstance(result, inferline.InternalError) for result in results), results
    assert all(isinstance(result, int | inferline.InternalError) for result in results), results
    await _works_again(client)


async def test_over_rest_the_failure_is_a_generic_500_then_the_next_chat_works(
    tiny_chat_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = {"tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=512, parallel=2)}
    with threaded_core(models, **QUIET) as address:
        app = create_app(BridgeSettings(core_address=address))
        async with AsyncTestClient(app) as http:
            body = {"messages": HI, "max_tokens": 8}
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
            _fail_once(monkeypatch, "llama_decode", _raise)
            failed = await http.post("/v1/chat/completions", json=body)
            assert failed.status_code == 500, failed.text
            error = failed.json()["error"]
            assert error["type"] == "server_error" and error["code"] == "engine_failed"
            assert "injected" not in error["message"]
            again = await http.post("/v1/chat/completions", json=body)
            assert again.status_code == 200
            assert again.json()["usage"]["completion_tokens"] == 8
