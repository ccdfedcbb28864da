"""``stream_interval`` over a real core and the tiny GGUF: a stream's first token leaves alone,
the rest go out as many at a time, nothing is lost or reordered, and the metrics still see
every token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import inferline
from inferline.v1.completion_service_pb2 import CompleteStreamResponse
from inferline_core.config import ModelConfig
from inferline_core.engines import stream_interval
from inferline_core.server import CoreServer
from tests.integration.core_server import QUIET, running_core
from tests.integration.scrape import scrape

HI = [{"role": "user", "content": "hi"}]
GREEDY: dict[str, Any] = {
    "max_tokens": 12,
    "temperature": 0,
    "logprobs": True,
}  # a delta for every token


@pytest.fixture(scope="module")
async def core(tiny_chat_gguf: Path) -> AsyncIterator[tuple[CoreServer, inferline.AsyncClient]]:
    # Flash attention off: answers are compared between calls (see test_core_grpc).
    path = str(tiny_chat_gguf)
    models = {  # "tiny" follows [core] stream_interval (4)
        "tiny": ModelConfig(path=path, context_length=512, flash_attention="off"),
        "each": ModelConfig(
            path=path, context_length=512, flash_attention="off", stream_interval=1
        ),
    }
    with pytest.MonkeyPatch.context() as patch:
        # Grouped by count alone here, whatever pauses a loaded machine makes (a first request
        # paused 189 ms between two tokens on one); how the hold ends a group early on a slow
        # stream is tested with a clock in tests/unit/test_stream_interval.py.
        patch.setattr(stream_interval, "MAX_HOLD", 3600.0)
        async with (
            running_core(models, stream_interval=4, metrics_address="127.0.0.1:0", **QUIET) as (
                server,
                address,
            ),
            inferline.AsyncClient(address) as sdk,
        ):
            yield server, sdk


async def completion_chunks(
    sdk: inferline.AsyncClient, model: str, **params: Any
) -> list[CompleteStreamResponse]:
    """A greedy completion of "Once", streamed: its chunks, the final one last."""
    stream = sdk.complete_stream(model=model, prompt="Once", temperature=0, **params)
    return [chunk async for chunk in stream]


async def whole_text(sdk: inferline.AsyncClient, model: str, max_tokens: int) -> str:
    """The same completion unstreamed: its text."""
    whole = await sdk.complete(model=model, prompt="Once", max_tokens=max_tokens, temperature=0)
    return whole.choices[0].text


async def test_the_first_token_leaves_alone_then_four_at_a_time(
    core: tuple[CoreServer, inferline.AsyncClient],
) -> None:
    server, sdk = core
    before = await scrape(server)
    chunks = [c async for c in sdk.chat_stream(model="tiny", messages=HI, **GREEDY)]
    after = await scrape(server)
    deltas = [c.delta for c in chunks[:-1]]
    assert [len(d.logprobs) for d in deltas] == [1, 4, 4, 3]
    assert [d.tokens for d in deltas] == [1, 4, 4, 3]
    assert chunks[-1].final.usage.completion_tokens == 12
    whole = await sdk.chat(model="tiny", messages=HI, **GREEDY)
    assert "".join(d.content for d in deltas) == whole.choices[0].message.content[0].text
    tokens = [item.token for d in deltas for item in d.logprobs]
    assert tokens == [item.token for item in whole.choices[0].logprobs]
    # The metrics see the tokens as the model made them, not the messages.
    gaps = after.moved(before, "inferline_inter_token_latency_seconds_count", model="tiny")
    assert gaps == 11


async def test_a_model_may_send_each_token(core: tuple[CoreServer, inferline.AsyncClient]) -> None:
    _, sdk = core
    chunks = [c async for c in sdk.chat_stream(model="each", messages=HI, **GREEDY)]
    assert [len(c.delta.logprobs) for c in chunks[:-1]] == [1] * 12
    assert [c.delta.tokens for c in chunks[:-1]] == [1] * 12


async def test_deltas_count_every_token_even_where_text_waits(
    core: tuple[CoreServer, inferline.AsyncClient],
) -> None:
    _, sdk = core
    text = await whole_text(sdk, "each", 20)
    for model in ("tiny", "each"):
        plain = await completion_chunks(sdk, model, max_tokens=20)
        assert sum(c.delta.tokens for c in plain[:-1]) == 20
        # A stop sequence the answer could still become holds all its text back to the end,
        # which then counts every token.
        held = await completion_chunks(sdk, model, max_tokens=20, stop=[text + "\x00"])
        assert [(c.delta.text, c.delta.tokens) for c in held[:-1]] == [(text, 20)]


async def test_each_choice_and_each_ending_sends_what_it_holds(
    core: tuple[CoreServer, inferline.AsyncClient],
) -> None:
    _, sdk = core
    text = await whole_text(sdk, "tiny", 30)
    stop = text[10:12]
    chunks = await completion_chunks(sdk, "tiny", n=2, stop=[stop], max_tokens=30)
    tokens = chunks[-1].final.usage.completion_tokens // 2  # as many for each choice
    for index in (0, 1):
        mine = [c.delta for c in chunks[:-1] if c.delta.index == index]
        assert "".join(d.text for d in mine) == text[: text.index(stop)]
        assert len(mine) <= 1 + -(-(tokens - 1) // 4)  # the first alone, then four at a time
