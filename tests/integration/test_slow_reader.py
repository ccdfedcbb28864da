"""Bounded resources: a client that keeps its stream open but stops reading does not make the
core buffer its whole answer. Generation pauses once the request's buffer is full, and after
``[core] stalled_reader_timeout_s`` the request is cancelled and its RPC ended, which frees
the model's slot for others; the client, should it read again, gets DEADLINE_EXCEEDED
(READER_STALLED) after the bounded part it was sent. Real core, tiny GGUF, a gRPC client with a small receive window
so that flow control reaches the core as it would over a slow network."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

import grpc

import inferline
from inferline.v1 import chat_service_pb2 as chat_pb
from inferline.v1 import chat_service_pb2_grpc as chat_grpc
from inferline.v1 import common_pb2
from inferline_core.config import ModelConfig
from tests.integration.core_server import running_core

QUIET: dict[str, Any] = {"default_embedding_model": False, "default_speech_models": False}
MAX_TOKENS = 1800
STALL_S = 2.0
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]


def _request() -> chat_pb.ChatRequest:
    text = common_pb2.ContentPart(text="hi")
    return chat_pb.ChatRequest(
        messages=[chat_pb.ChatMessage(role=chat_pb.ROLE_USER, content=[text])],
        sampling=common_pb2.SamplingParams(max_tokens=MAX_TOKENS),
    )


async def _drain(call: Any) -> tuple[int, grpc.StatusCode | None]:
    """Read what is left: how many chunks came, and the status the stream ended with."""
    received = 0
    try:
        while True:
            chunk: Any = await call.read()
            if chunk is grpc.aio.EOF:
                break
            message = cast(chat_pb.ChatStreamResponse, chunk)
            assert not message.HasField("final"), "the whole answer was made"
            received += 1
    except grpc.aio.AioRpcError as error:
        return received, error.code()
    return received, None


async def test_a_reader_that_stops_pauses_then_cancels_its_request(tiny_chat_gguf: Path) -> None:
    models = {"tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=2048, parallel=1)}
    core: dict[str, Any] = {"stream_buffer": 8, "stalled_reader_timeout_s": STALL_S}
    async with (
        running_core(models, **QUIET, **core) as (server, address),
        grpc.aio.insecure_channel(address, options=SMALL_WINDOW) as channel,
        inferline.AsyncClient(address) as other,
    ):
        call = chat_grpc.ChatServiceStub(channel).ChatStream(_request())
        first: Any = await call.read()  # started; from now on nobody reads
        assert first.HasField("delta")
        entry = server.registry.entry("tiny")
        assert entry.worker is not None
        started = time.monotonic()
        await asyncio.sleep(STALL_S / 2)
        assert entry.worker.running == 1  # paused, not finished: the answer is not all made
        async with asyncio.timeout(60):  # cancelled once the reader made no room for STALL_S
            while entry.worker.running:  # noqa: ASYNC110 (the core's state, no event)
                await asyncio.sleep(0.05)
        assert time.monotonic() - started >= STALL_S * 0.9
        # The slot is free: another request runs to its end at once.
        reply = await asyncio.wait_for(
            other.chat(messages=[{"role": "user", "content": "x"}], max_tokens=5), 60
        )
        assert reply.usage.completion_tokens == 5
        # What the stalled client finds when it reads again: a bounded part, then an error.
        received, code = await _drain(call)
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert received < MAX_TOKENS // 4, received
        call.cancel()
