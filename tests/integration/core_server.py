"""Start a real core in-process on a free 127.0.0.1 port, for integration tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from inferline_core.config import Config, CoreConfig, ModelConfig
from inferline_core.server import CoreServer, build_server

# A logit_bias that keeps Gemma 3 (the default model) from ending its answer: <eos> (id 1) and
# <end_of_turn> (106). Tests that need a stream to run on for a while send it. Without it, a
# story at temperature 1 met an end token within its first 40 tokens 1 to 2 times in 100
# (measured per token: mean probability 0.0003, at most 0.005), and the sampled path differs
# between machines; with it the stream runs to max_tokens.
GEMMA_NEVER_ENDS = {1: -100.0, 106: -100.0}
# [core] keywords for a core that serves only the models a test gives it (no bundled ones).
QUIET = {"default_embedding_model": False, "default_speech_models": False}


@asynccontextmanager
async def running_core(
    models: Mapping[str, ModelConfig],
    *,
    max_queue: int = 16,
    address: str = "127.0.0.1:0",
    tracer_provider: TracerProvider | None = None,
    **core: Any,
) -> AsyncIterator[tuple[CoreServer, str]]:
    """A started core serving ``models`` on the running loop, and its address; stopped on exit.
    Keywords set more of ``[core]``; spans go to ``tracer_provider`` when given."""
    config = Config(core=CoreConfig(address=address, threads=2, max_queue=max_queue, **core))
    server = build_server(config, models, tracer_provider)
    port = await server.start()
    try:
        yield server, f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=1.0)


@contextmanager
def threaded_core(
    models: Mapping[str, ModelConfig],
    *,
    max_queue: int = 16,
    tracer_provider: TracerProvider | None = None,
    **core: Any,
) -> Iterator[str]:
    """A core on its own event loop in a thread, and its address; keywords as ``running_core``.

    Litestar's test client blocks the test's loop while the app answers, so a core the app
    calls must not share that loop.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="core-loop", daemon=True)
    thread.start()
    context = running_core(models, max_queue=max_queue, tracer_provider=tracer_provider, **core)
    try:
        _, address = asyncio.run_coroutine_threadsafe(context.__aenter__(), loop).result(60)
        yield address
    finally:
        asyncio.run_coroutine_threadsafe(context.__aexit__(None, None, None), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
