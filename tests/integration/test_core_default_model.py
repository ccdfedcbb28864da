"""The core with the real default model (Gemma 3 270M, ~60 tokens/s on 2 cores), which is slow
enough to observe queueing and cancellation: a 2000-token answer would hold the model ~30 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import inferline
from inferline_core.config import DEFAULT_MODEL_ID, default_model_config
from tests.integration.core_server import GEMMA_NEVER_ENDS, running_core

pytestmark = pytest.mark.default_model
LONG = {
    "messages": [{"role": "user", "content": "Tell a long story."}],
    "max_tokens": 2000,
    "temperature": 1.0,
    "seed": 3,
    "logit_bias": GEMMA_NEVER_ENDS,  # the running stream must still run when the queue is full
}


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[inferline.AsyncClient]:
    store: Path = tmp_path_factory.mktemp("store")
    models = {DEFAULT_MODEL_ID: default_model_config(store)}
    async with (
        running_core(models, max_queue=1, parallel=1) as (_, address),
        inferline.AsyncClient(address) as sdk,
    ):
        yield sdk


async def _consume(stream: inferline.AsyncStream, started: asyncio.Event) -> None:  # type: ignore[type-arg]
    # Keep reading: leaving the loop early would cancel the call (the SDK's contract).
    async for chunk in stream:
        if chunk.HasField("delta"):
            started.set()


async def test_default_model_answers(client: inferline.AsyncClient) -> None:
    reply = await client.chat(messages=[{"role": "user", "content": "Hello"}], max_tokens=16)
    assert reply.model == DEFAULT_MODEL_ID
    # Margin: an end token comes first with probability about 0.0002 (sampled, no seed).
    assert reply.choices[0].message.content[0].text


async def test_full_queue_is_resource_exhausted_and_cancel_frees_the_model(
    client: inferline.AsyncClient,
) -> None:
    running_started, waiting_started = asyncio.Event(), asyncio.Event()
    running = client.chat_stream(**LONG)
    tasks = [asyncio.ensure_future(_consume(running, running_started))]
    await running_started.wait()  # generating now; the next one sits in the queue (max_queue=1)
    waiting = client.chat_stream(**LONG)
    tasks.append(asyncio.ensure_future(_consume(waiting, waiting_started)))
    await asyncio.sleep(0.3)
    assert not waiting_started.is_set()
    with pytest.raises(inferline.ResourceExhaustedError) as raised:
        await client.chat(**LONG)
    assert raised.value.reason == "QUEUE_FULL"
    assert raised.value.retry_after is not None
    waiting.cancel()
    running.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.1)  # the cancellations travel to the core (milliseconds)
    started = time.monotonic()
    reply = await client.chat(messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    # Had the cancelled streams run on, this request would wait ~60 s behind them.
    assert time.monotonic() - started < 5
    assert reply.usage.completion_tokens <= 4
