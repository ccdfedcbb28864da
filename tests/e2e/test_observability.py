"""Observability of a real `inferline serve` (tiny model), driven by the official openai SDK:
both metrics endpoints, traces exported over OTLP to a collector stand-in on loopback, and one
request id in the JSON log lines of both processes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import openai
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.e2e.serve import Served, free_port, serve
from tests.integration.scrape import Samples

MODEL = "tiny-chat"
CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


@dataclass
class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP trace receiver that keeps every span with its service's name."""

    spans: list[tuple[str, trace_pb2.Span]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self.lock:
            for resource in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    self.spans += [(attributes["service.name"], span) for span in scope.spans]
        return trace_service_pb2.ExportTraceServiceResponse()

    def named(self, service: str, name: str) -> list[trace_pb2.Span]:
        with self.lock:
            return [span for owner, span in self.spans if owner == service and span.name == name]


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, str]]:
    receiver = Collector()
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield receiver, f"http://127.0.0.1:{port}"
    finally:
        server.stop(None)


@pytest.fixture(scope="module")
def observed(
    tiny_chat_gguf: Path,
    tmp_path_factory: pytest.TempPathFactory,
    collector: tuple[Collector, str],
) -> Iterator[tuple[Served, str]]:
    workdir = tmp_path_factory.mktemp("observed")
    model_path = workdir / f"{MODEL}.gguf"
    model_path.symlink_to(tiny_chat_gguf)
    metrics = f"127.0.0.1:{free_port()}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector[1])
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        env.setenv("INFERLINE_LOG_FORMAT", "json")
        args = [str(model_path), "--nctx", "1024", "--metrics-address", metrics]
        with serve(args, workdir) as running:
            yield running, f"http://{metrics}/metrics"


def _wait(found: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := found():
            return value
        time.sleep(0.1)
    raise AssertionError("not seen in time")


def test_metrics_traces_and_request_ids_end_to_end(
    observed: tuple[Served, str], collector: tuple[Collector, str]
) -> None:
    served, core_metrics = observed
    banner = served.log.read_text()
    assert f"core metrics on {core_metrics}" in banner
    client = openai.OpenAI(
        base_url=served.base_url + "/v1",
        api_key="unused",
        max_retries=0,
        default_headers={"x-request-id": "e2e-request-7"},
    )
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=HI, max_tokens=5, temperature=0
    )
    assert raw.headers["x-request-id"] == "e2e-request-7"
    assert raw.parse().usage.completion_tokens == 5  # type: ignore[union-attr]
    chunks = list(
        client.chat.completions.create(model=MODEL, messages=HI, max_tokens=3, stream=True)
    )
    assert chunks

    bridge = Samples(httpx.get(served.base_url + "/metrics").text)
    core = Samples(httpx.get(core_metrics).text)
    ok = {"route": CHAT, "model": MODEL, "status": "200"}
    assert bridge.get("inferline_http_requests_total", **ok) == 2
    assert bridge.get("inferline_http_completion_tokens_total", model=MODEL) == 8
    assert (
        bridge.get("inferline_http_time_to_first_token_seconds_count", route=CHAT, model=MODEL) == 1
    )
    assert bridge.get("inferline_core_up") == 1
    assert core.get("inferline_requests_total", model=MODEL, kind="chat", outcome="ok") == 2
    assert core.get("inferline_generation_tokens_total", model=MODEL) == 8

    receiver = collector[0]
    rest = _wait(lambda: receiver.named("inferline-bridge", f"POST {CHAT}"))
    rpc = _wait(lambda: receiver.named("inferline-core", "/inferline.v1.ChatService/Chat"))
    assert rpc[0].trace_id == rest[0].trace_id
    assert rpc[0].parent_span_id == rest[0].span_id

    def lines_of_request() -> set[str]:
        names = set()
        for line in served.log.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # llama.cpp's own lines
            if isinstance(record, dict) and record.get("request_id") == "e2e-request-7":
                names.add(record["name"].split(".")[0])
        return names if {"inferline_bridge", "inferline_core"} <= names else set()

    assert _wait(lines_of_request) == {"inferline_bridge", "inferline_core"}
