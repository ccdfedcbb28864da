"""Continuous batching on one model: many requests share each decode step (tiny model, with
flash attention off, for exactness: with it on llama.cpp rounds a row with what shares its batch;
the default model where a request must run long enough to cancel). The tiny model stays on the
CPU where a GPU is present: on CUDA llama.cpp picks its matrix kernels by a step's number of rows,
so a seeded answer computed beside others parted from its lone answer (an H200, 2026-12-04)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import inferline
from inferline_core.config import DEFAULT_MODEL_ID, ModelConfig, default_model_config
from tests.integration.core_server import GEMMA_NEVER_ENDS, QUIET, running_core

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
async def client(tiny_chat_gguf: Path) -> AsyncIterator[inferline.AsyncClient]:
    tiny = ModelConfig(
        path=str(tiny_chat_gguf), context_length=512, parallel=4, flash_attention="off"
    )
    async with (
        running_core({"tiny": tiny}, device="cpu", **QUIET) as (_, address),
        inferline.AsyncClient(address) as sdk,
    ):
        yield sdk


async def _stream(client: inferline.AsyncClient, prompt: str, max_tokens: int) -> tuple[str, int]:
    text, usage = "", 0
    messages = [{"role": "user", "content": prompt}]
    async for chunk in client.chat_stream(messages=messages, max_tokens=max_tokens, temperature=0):
        if chunk.HasField("delta"):
            text += chunk.delta.content
        else:
            usage = chunk.final.usage.completion_tokens
    return text, usage


async def test_eight_concurrent_streams_complete_exactly(client: inferline.AsyncClient) -> None:
    lengths = [5, 17, 40, 64, 8, 100, 33, 71]
    results = await asyncio.gather(
        *(_stream(client, f"request {i}", n) for i, n in enumerate(lengths))
    )
    assert [usage for _, usage in results] == lengths
    assert all(text for text, _ in results)


async def test_greedy_text_is_the_same_alone_and_in_a_batch(client: inferline.AsyncClient) -> None:
    alone = await _stream(client, "tell me", 48)
    crowd = await asyncio.gather(
        _stream(client, "tell me", 48),
        *(_stream(client, f"noise {i} " * (i + 1), 60) for i in range(5)),
    )
    assert crowd[0] == alone


async def test_each_sequence_draws_with_its_own_sampler(client: inferline.AsyncClient) -> None:
    """A step's sequences draw their tokens on parallel threads (threads = 2 here), each from its
    own logits row with its own sampler: a greedy request and sampled ones of the same prompt
    answer in one batch as each does alone, and each sampled one draws from its own seed."""

    async def sampled(seed: int) -> tuple[str, int]:
        reply = await client.chat(
            messages=[{"role": "user", "content": "tell me"}], max_tokens=40, seed=seed,
            temperature=1.5,
        )  # fmt: skip
        return reply.choices[0].message.content[0].text, reply.usage.completion_tokens

    alone = [await _stream(client, "tell me", 40), *[await sampled(s) for s in range(3)]]
    crowd = await asyncio.gather(_stream(client, "tell me", 40), *(sampled(s) for s in range(3)))
    assert crowd == alone
    assert len(set(crowd)) == len(crowd)


async def test_a_prompt_longer_than_a_slot_is_refused(client: inferline.AsyncClient) -> None:
    with pytest.raises(inferline.InvalidArgumentError) as raised:
        await client.complete(prompt="the " * 700, max_tokens=2)
    assert raised.value.reason == "CONTEXT_LENGTH_EXCEEDED"
    assert (await client.complete(prompt="the", max_tokens=2)).usage.completion_tokens == 2


async def test_n_choices_seeds_and_grammars_in_the_batch(client: inferline.AsyncClient) -> None:
    first = await client.chat(messages=HI, max_tokens=6, n=3, seed=5, temperature=1.0)
    again = await client.chat(messages=HI, max_tokens=6, n=3, seed=5, temperature=1.0)
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert first.choices[0].message.content[0].text == again.choices[0].message.content[0].text


@pytest.mark.default_model
async def test_a_cancelled_stream_frees_its_slot(tmp_path_factory: pytest.TempPathFactory) -> None:
    models = {DEFAULT_MODEL_ID: default_model_config(tmp_path_factory.mktemp("store"))}
    long = {
        "messages": [{"role": "user", "content": "Tell a long story."}],
        "max_tokens": 2000,
        "temperature": 1.0,
        "logit_bias": GEMMA_NEVER_ENDS,  # both streams must outlast the 21 tokens read below
    }
    async with (
        running_core(models, parallel=2, **QUIET) as (_, address),
        inferline.AsyncClient(address) as client,
    ):
        streams = [client.chat_stream(**long, seed=s) for s in (1, 2)]
        readers = [aiter(s) for s in streams]
        for reader in readers:
            await anext(reader)  # both slots are generating
        waiting = asyncio.ensure_future(client.chat(messages=HI, max_tokens=3))
        for _ in range(20):
            await anext(readers[0])
            await anext(readers[1])
        assert not waiting.done()  # no slot free
        streams[0].cancel()
        started = time.monotonic()
        reply = await asyncio.wait_for(waiting, 20)
        assert reply.usage.completion_tokens == 3
        assert time.monotonic() - started < 3  # it started at once, beside the other stream
        streams[1].cancel()
