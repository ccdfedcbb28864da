"""Traces in the core: a gRPC call carrying a W3C traceparent gets its core spans (the RPC, then
queue, prefill and generation with token counts) under the caller's trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from inferline.v1 import chat_service_pb2, chat_service_pb2_grpc, common_pb2
from inferline_core.config import ModelConfig
from tests.integration.core_server import QUIET, running_core

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_ID = 0x00F067AA0BA902B7


@pytest.fixture(scope="module")
async def traced(tiny_chat_gguf: Path) -> AsyncIterator[tuple[InMemorySpanExporter, str]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    models = {"tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=512)}
    async with running_core(models, tracer_provider=provider, **QUIET) as (_, address):
        yield exporter, address


def _request(max_tokens: int) -> chat_service_pb2.ChatRequest:
    message = chat_service_pb2.ChatMessage(
        role=chat_service_pb2.ROLE_USER, content=[common_pb2.ContentPart(text="hi")]
    )
    sampling = common_pb2.SamplingParams(max_tokens=max_tokens, temperature=0)
    return chat_service_pb2.ChatRequest(messages=[message], sampling=sampling)


async def test_a_grpc_call_with_a_traceparent_continues_the_callers_trace(
    traced: tuple[InMemorySpanExporter, str],
) -> None:
    exporter, address = traced
    exporter.clear()
    traceparent = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"
    async with grpc.aio.insecure_channel(address) as channel:
        stub = chat_service_pb2_grpc.ChatServiceStub(channel)
        reply = await stub.Chat(_request(6), metadata=[("traceparent", traceparent)])
    spans = {span.name: span for span in exporter.get_finished_spans()}
    rpc = spans["/inferline.v1.ChatService/Chat"]
    assert rpc.context.trace_id == TRACE_ID
    assert rpc.parent is not None and rpc.parent.span_id == PARENT_ID
    for name in ("queue", "prefill", "generation"):
        assert spans[name].context.trace_id == TRACE_ID
        assert spans[name].parent is not None
        assert spans[name].parent.span_id == rpc.context.span_id, name
    assert spans["queue"].end_time <= spans["prefill"].start_time
    assert spans["prefill"].end_time <= spans["generation"].start_time
    attributes = spans["generation"].attributes or {}
    assert attributes["gen_ai.usage.output_tokens"] == 6
    assert attributes["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens


async def test_a_call_without_a_traceparent_starts_its_own_trace(
    traced: tuple[InMemorySpanExporter, str],
) -> None:
    exporter, address = traced
    exporter.clear()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = chat_service_pb2_grpc.ChatServiceStub(channel)
        async for _ in stub.ChatStream(_request(3)):
            pass
    spans = {span.name: span for span in exporter.get_finished_spans()}
    rpc = spans["/inferline.v1.ChatService/ChatStream"]
    assert rpc.parent is None
    assert spans["generation"].context.trace_id == rpc.context.trace_id
