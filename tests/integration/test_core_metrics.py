"""The core's Prometheus endpoint ([core] metrics_address) over a real core and tiny models:
counters and histograms move by exactly what was sent; gauges follow the queue."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import inferline
from inferline_core.config import ModelConfig
from inferline_core.server import CoreServer
from tests.integration.core_server import QUIET, running_core
from tests.integration.scrape import scrape

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
async def core(
    tiny_chat_gguf: Path, tiny_bert_gguf: Path
) -> AsyncIterator[tuple[CoreServer, inferline.AsyncClient]]:
    models = {
        "tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=512, parallel=4),
        "bert": ModelConfig(path=str(tiny_bert_gguf), type="embedding"),
    }
    async with (
        running_core(models, metrics_address="127.0.0.1:0", **QUIET) as (server, address),
        inferline.AsyncClient(address) as sdk,
    ):
        yield server, sdk


async def test_counters_move_by_exactly_what_was_sent(
    core: tuple[CoreServer, inferline.AsyncClient], tiny_chat_gguf: Path
) -> None:
    server, sdk = core
    size = await asyncio.to_thread(os.path.getsize, tiny_chat_gguf)
    before = await scrape(server)
    reply = await sdk.chat(messages=HI, max_tokens=5, temperature=0)
    final = None
    async for chunk in sdk.chat_stream(messages=HI, max_tokens=7, temperature=0):
        if chunk.HasField("final"):
            final = chunk.final
    assert final is not None
    await sdk.embed(["one sentence", "another one"], model="bert")
    after = await scrape(server)

    ok = {"model": "tiny", "kind": "chat", "outcome": "ok"}
    assert after.moved(before, "inferline_requests_total", **ok) == 2
    assert (
        after.moved(before, "inferline_request_duration_seconds_count", model="tiny", kind="chat")
        == 2
    )
    assert after.moved(before, "inferline_generation_tokens_total", model="tiny") == 12
    prompts = reply.usage.prompt_tokens + final.usage.prompt_tokens
    assert after.moved(before, "inferline_prompt_tokens_total", model="tiny") == prompts
    assert after.moved(before, "inferline_time_to_first_token_seconds_count", model="tiny") == 2
    gaps = after.moved(before, "inferline_inter_token_latency_seconds_count", model="tiny")
    assert 1 <= gaps <= 10  # at most one per token after the first; held-back text merges
    # Every generated token came out of a batched decode step of one or more sequences.
    assert after.moved(before, "inferline_batch_size_count", model="tiny") >= 12
    embedded = {"model": "bert", "kind": "embedding", "outcome": "ok"}
    assert after.moved(before, "inferline_requests_total", **embedded) == 1
    assert (
        after.moved(
            before, "inferline_request_duration_seconds_count", model="bert", kind="embedding"
        )
        == 1
    )

    assert after.get("inferline_model_state", model="tiny", state="loaded") == 1
    assert after.get("inferline_model_state", model="tiny", state="unloaded") == 0
    assert after.get("inferline_model_loaded_bytes", model="tiny") == size
    assert after.get("inferline_queue_limit", model="tiny") == 16
    assert after.get("inferline_model_load_duration_seconds_count", model="tiny") == 1
    assert after.get("inferline_queue_depth", model="tiny") == 0
    assert after.get("inferline_requests_running", model="tiny") == 0


async def test_a_cancelled_stream_counts_as_cancelled(
    core: tuple[CoreServer, inferline.AsyncClient],
) -> None:
    server, sdk = core
    before = await scrape(server)
    stream = sdk.chat_stream(messages=HI, max_tokens=400, temperature=0)
    async for _ in stream:
        break  # leaving the loop cancels the call
    labels = {"model": "tiny", "kind": "chat", "outcome": "cancelled"}
    for _ in range(100):
        after = await scrape(server)
        if after.moved(before, "inferline_requests_total", **labels) == 1:
            break
        await asyncio.sleep(0.05)
    assert after.moved(before, "inferline_requests_total", **labels) == 1
    assert (
        after.moved(before, "inferline_requests_total", model="tiny", kind="chat", outcome="ok")
        == 0
    )


async def test_queue_depth_rises_under_load_and_full_queues_count_refusals(
    tiny_chat_gguf: Path,
) -> None:
    models = {"one": ModelConfig(path=str(tiny_chat_gguf), context_length=512, parallel=1)}
    async with (
        running_core(models, max_queue=3, metrics_address="127.0.0.1:0", **QUIET) as (
            server,
            address,
        ),
        inferline.AsyncClient(address) as sdk,
    ):
        await sdk.load_model("one")
        before = await scrape(server)

        async def one() -> str:
            try:
                await sdk.chat(messages=HI, max_tokens=300, temperature=0)
            except inferline.ResourceExhaustedError:
                return "refused"
            return "ok"

        calls = [asyncio.ensure_future(one()) for _ in range(6)]
        depths = []
        while not all(call.done() for call in calls):
            now = await scrape(server)
            depths.append(now.get("inferline_queue_depth", model="one"))
            assert now.get("inferline_requests_running", model="one") <= 1
            await asyncio.sleep(0.01)
        outcomes = [call.result() for call in calls]
        after = await scrape(server)
    assert max(depths) >= 2, depths
    assert after.get("inferline_queue_depth", model="one") == 0
    refused = outcomes.count("refused")
    assert refused >= 1  # six at once: one runs, three wait, the rest are turned away
    moved = {
        o: after.moved(before, "inferline_requests_total", model="one", kind="chat", outcome=o)
        for o in ("ok", "refused")
    }
    assert moved == {"ok": outcomes.count("ok"), "refused": refused}
