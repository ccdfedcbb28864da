"""Prompt-cache reuse in the batched llama.cpp engine: a request takes the slot whose KV cells
share the longest prefix with its prompt and evaluates only the rest; its answer equals a cold
start's, usage counts the reused tokens, and a cancelled request leaves its slot claiming only
what it evaluated.

Greedy answers are compared exactly, so the engines run with flash attention off: with it on,
llama.cpp rounds a row with where its KV cells lie, and the tiny model's random logits nearly tie
often enough for that to change a token now and then (a CI run failed that way)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import inferline
from inferline_core.config import ModelConfig, default_model_config
from inferline_core.engines.base import ChatOptions, ChatTurn, Finish, Sampling, TextDelta
from inferline_core.engines.llama_batch import BatchedLlamaEngine
from inferline_core.engines.llama_cpp import LlamaSettings
from tests.integration.core_server import running_core

GREEDY = {"temperature": 0.0}
STORY = "once upon a time there was a small robot who liked to count the stars " * 4


@pytest.fixture
def engines(tiny_chat_gguf: Path) -> Iterator[Callable[..., BatchedLlamaEngine]]:
    made: list[BatchedLlamaEngine] = []

    def make(parallel: int = 2, threads: int = 1, **keywords: object) -> BatchedLlamaEngine:
        settings = LlamaSettings(
            path=str(tiny_chat_gguf), context_length=512, threads=threads, flash_attention="off"
        )
        made.append(BatchedLlamaEngine(settings, parallel, **keywords))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for engine in made:
        engine.close()


def _run(
    engine: BatchedLlamaEngine,
    prompt: str,
    max_tokens: int,
    cancel: threading.Event | None = None,
    seed: int | None = None,
) -> tuple[str, Finish]:
    """Complete ``prompt`` greedily, or sampled at temperature 1 under ``seed``."""
    text, finish = "", None
    if seed is None:
        sampling = Sampling(max_tokens=max_tokens, **GREEDY)
    else:
        sampling = Sampling(max_tokens=max_tokens, temperature=1.0, seed=seed)
    for event in engine.complete(prompt, sampling, index=0, cancel=cancel or threading.Event()):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Finish):
            finish = event
    assert finish is not None
    return text, finish


def _chat(engine: BatchedLlamaEngine, turns: list[ChatTurn], max_tokens: int) -> tuple[str, Finish]:
    text, finish = "", None
    sampling = Sampling(max_tokens=max_tokens, **GREEDY)
    for event in engine.chat(turns, sampling, ChatOptions(), index=0, cancel=threading.Event()):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Finish):
            finish = event
    assert finish is not None
    return text, finish


def test_a_second_turn_reuses_the_first_and_answers_as_a_cold_start(
    engines: Callable[..., BatchedLlamaEngine],
) -> None:
    warm = engines()
    first = [ChatTurn("system", "You count stars."), ChatTurn("user", STORY)]
    reply, cold_first = _chat(warm, first, 24)
    assert cold_first.cached_tokens == 0
    _run(warm, "an unrelated prompt in the other slot", 8)
    second = [*first, ChatTurn("assistant", reply), ChatTurn("user", "and then?")]
    warm_text, warm_finish = _chat(warm, second, 32)
    cold_text, cold_finish = _chat(engines(), second, 32)
    assert (warm_text, warm_finish.prompt_tokens) == (cold_text, cold_finish.prompt_tokens)
    assert cold_finish.cached_tokens == 0
    # At least the first turn's prompt came from the cache (the reply may tokenize differently).
    assert cold_first.prompt_tokens <= warm_finish.cached_tokens < warm_finish.prompt_tokens


def test_two_conversations_in_turn_keep_their_own_slots(
    engines: Callable[..., BatchedLlamaEngine],
) -> None:
    """A new conversation that shares only the chat template's first tokens with a slot takes
    the empty slot, that prefix copied over, rather than overwrite the other conversation's
    cache; a regenerated answer trims its own slot rather than take the other one: each
    conversation's next turn reuses its own history."""
    engine = engines(parallel=2)
    alice = [ChatTurn("user", STORY)]
    bob = [ChatTurn("user", "tell me about the sea and the ships on it")]
    alice_reply, alice_first = _chat(engine, alice, 16)
    bob_reply, bob_first = _chat(engine, bob, 16)
    assert 0 < bob_first.cached_tokens < 10  # the template's first tokens
    assert bob_reply == _chat(engines(parallel=1), bob, 16)[0]  # the copied cells are right
    again, regenerated = _chat(engine, bob, 16)
    assert (again, regenerated.cached_tokens) == (bob_reply, bob_first.prompt_tokens - 1)
    for history, reply, first in ((alice, alice_reply, alice_first), (bob, bob_reply, bob_first)):
        turn = [*history, ChatTurn("assistant", reply), ChatTurn("user", "and then?")]
        _, finish = _chat(engine, turn, 4)
        assert finish.cached_tokens >= first.prompt_tokens


def test_answers_repeat_whatever_ran_before_and_beside_them(
    engines: Callable[..., BatchedLlamaEngine],
) -> None:
    """With flash attention off, a greedy and a seeded answer are the same each time, whatever
    requests ran before them (so whatever the cache holds, and where) and beside them. With it
    on (llama.cpp's "auto"), about one in ten of these rounds answered differently here."""
    engine = engines(parallel=4, threads=2)

    def answer(prompt: str, max_tokens: int, seed: int | None = None) -> str:
        return _run(engine, prompt, max_tokens, seed=seed)[0]

    first = answer(STORY, 48), answer(STORY, 48, seed=7)
    draw = random.Random(0)
    with ThreadPoolExecutor(3) as pool:
        for _ in range(40):
            noise = [
                (STORY[: draw.randrange(len(STORY))] if draw.random() < 0.5 else "")
                + "word " * draw.randint(1, 30)
                for _ in range(draw.randint(0, 3))
            ]
            beside = [pool.submit(answer, prompt, draw.randint(1, 40)) for prompt in noise]
            assert (answer(STORY, 48), answer(STORY, 48, seed=7)) == first
            assert all(future.result() for future in beside)


def test_the_same_prompt_again_evaluates_only_its_last_token(
    engines: Callable[..., BatchedLlamaEngine],
) -> None:
    engine = engines(parallel=1)
    text, finish = _run(engine, STORY, 16)
    again_text, again = _run(engine, STORY, 16)
    assert again_text == text
    assert again.cached_tokens == finish.prompt_tokens - 1
    shorter_text, shorter = _run(engine, STORY[:40], 16)  # a prefix of what the slot holds
    assert 0 < shorter.cached_tokens == shorter.prompt_tokens - 1
    assert shorter_text == _run(engines(parallel=1), STORY[:40], 16)[0]


def test_a_request_cancelled_mid_decode_leaves_a_correct_cache(
    engines: Callable[..., BatchedLlamaEngine],
) -> None:
    engine = engines(parallel=1)
    cancel = threading.Event()
    events = engine.complete(STORY, Sampling(max_tokens=200, **GREEDY), index=0, cancel=cancel)
    for _ in range(10):
        next(events)
    cancel.set()
    for _ in events:  # the stream ends without a Finish of its own
        pass
    text, finish = _run(engine, STORY, 40)
    assert finish.cached_tokens == finish.prompt_tokens - 1
    assert text == _run(engines(parallel=1), STORY, 40)[0]


def test_a_request_cancelled_mid_prefill_leaves_only_what_it_evaluated(
    engines: Callable[..., BatchedLlamaEngine],
) -> None:
    """Beside a decoding sequence a prompt goes in 8-token chunks; cancelled after a few steps,
    its slot holds the chunks evaluated so far, and the next request reuses exactly those."""
    victim = threading.Event()
    steps = {"after": -1}

    def on_step(running: int) -> None:
        if steps["after"] >= 0 and running == 2:  # steps with the victim in
            steps["after"] += 1
            if steps["after"] == 3:
                victim.set()

    engine = engines(parallel=2, on_step=on_step, chunk=8)
    done = threading.Event()
    runner = engine.complete("the other one", Sampling(max_tokens=400, **GREEDY), index=0,
                             cancel=done)  # fmt: skip
    next(runner)  # decoding now; read on so that it never pauses
    reader = threading.Thread(target=lambda: [None for _ in runner])
    reader.start()
    steps["after"] = 0
    cancelled = engine.complete(STORY, Sampling(max_tokens=5, **GREEDY), index=0, cancel=victim)
    assert [e for e in cancelled if isinstance(e, Finish)] == []
    text, finish = _run(engine, STORY, 20)
    assert 0 < finish.cached_tokens < finish.prompt_tokens - 1
    assert finish.cached_tokens % 8 == 0
    assert text == _run(engines(parallel=1), STORY, 20)[0]
    done.set()
    reader.join()


async def test_usage_reports_cached_tokens_over_grpc(tiny_chat_gguf: Path) -> None:
    models = {"tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=512, parallel=2)}
    quiet = {"default_embedding_model": False, "default_speech_models": False}
    messages = [{"role": "user", "content": STORY}]
    async with running_core(models, **quiet) as (_, address), inferline.AsyncClient(address) as sdk:
        cold = await sdk.chat(messages=messages, max_tokens=4, temperature=0)
        assert cold.usage.cached_tokens == 0
        warm = await sdk.chat(messages=messages, max_tokens=4, temperature=0)
        assert warm.usage.cached_tokens == warm.usage.prompt_tokens - 1
        final = None
        async for chunk in sdk.chat_stream(messages=messages, max_tokens=4, temperature=0):
            if chunk.HasField("final"):
                final = chunk.final
        assert final is not None and final.usage.cached_tokens == warm.usage.cached_tokens


def test_an_echoed_prompt_with_logprobs_is_scored_whole_after_a_cached_one(
    engines: Callable[..., BatchedLlamaEngine],
) -> None:
    engine = engines(parallel=1)
    _run(engine, STORY, 4)
    sampling = Sampling(max_tokens=2, logprobs=True, **GREEDY)
    events = list(engine.complete(STORY, sampling, index=0, cancel=threading.Event(), echo=True))
    echo = events[0]
    finish = events[-1]
    assert isinstance(echo, TextDelta) and echo.text == STORY
    assert isinstance(finish, Finish) and finish.cached_tokens == 0
    assert len(echo.logprobs) == finish.prompt_tokens - 1  # every token after the first


@pytest.mark.default_model
@pytest.mark.parametrize("parallel", [1, 2])
def test_a_sliding_window_model_reuses_only_what_its_window_still_holds(
    tmp_path_factory: pytest.TempPathFactory, parallel: int
) -> None:
    """Gemma 3's sliding-window layers keep window + batch cells a slot (1,024; with unified
    slots, that many per slot for all): after a longer history, a prompt sharing only an early
    prefix, whose cells the window layers have overwritten, starts afresh: in the same slot, or
    with two slots in the empty one, where that prefix cannot be copied from the first, whose
    history is then still there to reuse."""
    path = default_model_config(tmp_path_factory.mktemp("store")).path
    settings = LlamaSettings(
        path=path, context_length=4096, threads=1, chat_format="gemma", flash_attention="off"
    )
    engine = BatchedLlamaEngine(settings, parallel)
    try:
        long = "the lighthouse keeper counted ships " * 540  # well past the window's cells
        _, first = _run(engine, long, 2)
        assert first.prompt_tokens > 2600
        early = long[:100] + " and then the storm came"
        text, after = _run(engine, early, 8)
        assert after.cached_tokens == 0
        _, again = _run(engine, long, 2)
        if parallel == 1:  # the early prompt took the history's place
            assert again.cached_tokens < after.prompt_tokens
        else:  # the history kept its slot
            assert again.cached_tokens == again.prompt_tokens - 1
    finally:
        engine.close()
    cold = BatchedLlamaEngine(settings, 1)
    try:
        assert text == _run(cold, early, 8)[0]
    finally:
        cold.close()
