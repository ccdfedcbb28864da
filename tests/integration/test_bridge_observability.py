"""The bridge's /metrics, request ids and traces over a real core (tiny models), through
Litestar's test client: counters on both sides move by exactly what was sent, and one REST
request is one trace, with the core's span under the bridge's."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from inferline_bridge.app import create_app
from inferline_bridge.settings import BridgeSettings
from inferline_core.config import ModelConfig
from tests.e2e.serve import free_port
from tests.integration.core_server import QUIET, threaded_core
from tests.integration.scrape import Samples

HI = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture(scope="module")
def core(
    tiny_chat_gguf: Path, tiny_bert_gguf: Path, provider: TracerProvider
) -> Iterator[tuple[str, str]]:
    models = {
        "tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=512),
        "bert": ModelConfig(path=str(tiny_bert_gguf), type="embedding"),
    }
    metrics = f"127.0.0.1:{free_port()}"
    with threaded_core(
        models, tracer_provider=provider, metrics_address=metrics, **QUIET
    ) as address:
        yield address, f"http://{metrics}/metrics"


@pytest.fixture
async def http(
    core: tuple[str, str], provider: TracerProvider
) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(BridgeSettings(core_address=core[0]), tracer_provider=provider)
    async with AsyncTestClient(app) as client:
        yield client


async def _scrape(http: AsyncTestClient[Any], core_metrics: str) -> tuple[Samples, Samples]:
    bridge = await http.get("/metrics")
    assert bridge.status_code == 200
    assert bridge.headers["content-type"].startswith("text/plain")
    async with httpx.AsyncClient() as plain:
        core = await plain.get(core_metrics)
    return Samples(bridge.text), Samples(core.text)


async def test_both_sides_count_exactly_what_was_sent(
    http: AsyncTestClient[Any], core: tuple[str, str]
) -> None:
    bridge_before, core_before = await _scrape(http, core[1])
    plain = await http.post(CHAT, json={"model": "tiny", "messages": HI, "max_tokens": 5})
    streamed = await http.post(
        CHAT,
        json={
            "model": "tiny",
            "messages": HI,
            "max_tokens": 4,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    embedded = await http.post("/v1/embeddings", json={"model": "bert", "input": ["a", "b c"]})
    assert {plain.status_code, streamed.status_code, embedded.status_code} == {200}
    usage = [line for line in streamed.text.splitlines() if '"usage":{' in line][-1]
    stream_prompt = int(re.search(r'"prompt_tokens":(\d+)', usage)[1])  # type: ignore[index]
    bridge, core_now = await _scrape(http, core[1])

    ok = {"route": CHAT, "model": "tiny", "status": "200"}
    assert bridge.moved(bridge_before, "inferline_http_requests_total", **ok) == 2
    counted = {"route": "/v1/embeddings", "model": "bert", "status": "200"}
    assert bridge.moved(bridge_before, "inferline_http_requests_total", **counted) == 1
    timed = {"route": CHAT, "model": "tiny"}
    assert (
        bridge.moved(bridge_before, "inferline_http_request_duration_seconds_count", **timed) == 2
    )
    ttft = "inferline_http_time_to_first_token_seconds_count"
    assert bridge.moved(bridge_before, ttft, **timed) == 1  # the stream only
    assert bridge.moved(bridge_before, "inferline_http_completion_tokens_total", model="tiny") == 9
    prompts = plain.json()["usage"]["prompt_tokens"] + stream_prompt
    assert (
        bridge.moved(bridge_before, "inferline_http_prompt_tokens_total", model="tiny") == prompts
    )
    embedded_tokens = embedded.json()["usage"]["prompt_tokens"]
    moved_bert = bridge.moved(bridge_before, "inferline_http_prompt_tokens_total", model="bert")
    assert moved_bert == embedded_tokens
    assert bridge.get("inferline_http_requests_in_flight", route=CHAT) == 0
    assert bridge.get("inferline_core_up") == 1

    chat_ok = {"model": "tiny", "kind": "chat", "outcome": "ok"}
    assert core_now.moved(core_before, "inferline_requests_total", **chat_ok) == 2
    assert core_now.moved(core_before, "inferline_generation_tokens_total", model="tiny") == 9
    embed_ok = {"model": "bert", "kind": "embedding", "outcome": "ok"}
    assert core_now.moved(core_before, "inferline_requests_total", **embed_ok) == 1


async def test_errors_are_counted_by_status(http: AsyncTestClient[Any]) -> None:
    before = Samples((await http.get("/metrics")).text)
    missing = await http.post(CHAT, json={"model": "nope", "messages": HI})
    assert missing.status_code == 404
    after = Samples((await http.get("/metrics")).text)
    assert (
        after.moved(before, "inferline_http_requests_total", route=CHAT, model="", status="404")
        == 1
    )


async def test_every_response_carries_a_request_id(http: AsyncTestClient[Any]) -> None:
    made = await http.get("/v1/models")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    kept = await http.get("/v1/models", headers={"x-request-id": "client-42.a"})
    assert kept.headers["x-request-id"] == "client-42.a"
    replaced = await http.get("/v1/models", headers={"x-request-id": "no spaces <allowed>"})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    unknown = await http.get("/no/such/path", headers={"x-request-id": "lost-1"})
    assert unknown.status_code == 404
    assert unknown.headers["x-request-id"] == "lost-1"
    failed = await http.post(CHAT, json={"messages": []}, headers={"x-request-id": "bad-1"})
    assert failed.status_code == 400
    assert failed.headers["x-request-id"] == "bad-1"


async def test_a_rest_request_is_one_trace_with_the_core_span_under_the_bridge_span(
    http: AsyncTestClient[Any], exporter: InMemorySpanExporter
) -> None:
    exporter.clear()
    response = await http.post(CHAT, json={"model": "tiny", "messages": HI, "max_tokens": 3})
    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    bridge = next(s for s in spans if s.name == f"POST {CHAT}")
    core = next(s for s in spans if s.name == "/inferline.v1.ChatService/Chat")
    assert bridge.parent is None
    assert core.context.trace_id == bridge.context.trace_id
    assert core.parent is not None and core.parent.span_id == bridge.context.span_id
    generation = next(s for s in spans if s.name == "generation")
    assert generation.parent is not None and generation.parent.span_id == core.context.span_id
    assert (generation.attributes or {})["gen_ai.usage.output_tokens"] == 3


async def test_a_clients_traceparent_is_continued_through_the_core(
    http: AsyncTestClient[Any], exporter: InMemorySpanExporter
) -> None:
    exporter.clear()
    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    response = await http.post(
        CHAT,
        json={"model": "tiny", "messages": HI, "max_tokens": 2},
        headers={"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    bridge = next(s for s in spans if s.name == f"POST {CHAT}")
    core = next(s for s in spans if s.name == "/inferline.v1.ChatService/Chat")
    assert f"{bridge.context.trace_id:032x}" == trace_id
    assert bridge.parent is not None and f"{bridge.parent.span_id:016x}" == parent
    assert core.context.trace_id == bridge.context.trace_id


async def test_metrics_need_the_key_unless_public_and_are_never_rate_limited(
    core: tuple[str, str],
) -> None:
    guarded = BridgeSettings(
        core_address=core[0], api_keys=("sekrit",), require_auth=True, requests_per_minute=1
    )
    key = {"authorization": "Bearer sekrit"}
    async with AsyncTestClient(create_app(guarded)) as client:
        assert (await client.get("/metrics")).status_code == 401
        first = await client.get("/v1/models", headers=key)
        limited = await client.get("/v1/models", headers=key)
        assert (first.status_code, limited.status_code) == (200, 429)
        scrapes = [await client.get("/metrics", headers=key) for _ in range(3)]
        assert [s.status_code for s in scrapes] == [200] * 3
        assert Samples(scrapes[-1].text).get("inferline_http_rate_limited_total") == 1
    public = BridgeSettings(
        core_address=core[0], api_keys=("sekrit",), require_auth=True, metrics_public=True
    )
    async with AsyncTestClient(create_app(public)) as client:
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/v1/models")).status_code == 401
