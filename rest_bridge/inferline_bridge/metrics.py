"""The bridge's Prometheus metrics, served at ``GET /metrics`` on the REST port.

A middleware times every routed request and counts it by route (the path template), model and
status; the call helpers (``calls``) note on the request which model answered, its token usage
and when a stream's first message came. The core's availability is checked at each scrape.
One registry per app: no process-wide globals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from inferline import AsyncClient

PATH = "/metrics"
OBSERVED = "inferline_observed"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
CORE_CHECK_TIMEOUT_S = 1.0


@dataclass
class Observed:
    """What one request's handler learnt for the metrics."""

    started: float = field(default_factory=time.perf_counter)
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_message: float | None = None  # a stream's first message from the core


def observed(request: Request[Any, Any, Any]) -> Observed | None:
    """The request's notes, when the metrics middleware watches it."""
    found = request.scope.get("state", {}).get(OBSERVED)
    return found if isinstance(found, Observed) else None


def note_reply(request: Request[Any, Any, Any], reply: Any) -> None:
    """Note the model and the usage of a reply (or of a stream's final chunk)."""
    notes = observed(request)
    if notes is None:
        return
    notes.model = getattr(reply, "model", "") or notes.model
    usage = getattr(reply, "usage", None)
    if usage is not None:
        notes.prompt_tokens = usage.prompt_tokens
        notes.completion_tokens = usage.completion_tokens


def note_first_message(request: Request[Any, Any, Any], message: Any) -> None:
    """Note a stream's first message: its time (time to first token) and its model."""
    notes = observed(request)
    if notes is not None:
        notes.first_message = time.perf_counter()
        notes.model = getattr(message, "model", "") or notes.model


class BridgeMetrics:
    """Every metric of one bridge app."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "inferline_http_requests",
            "REST requests by route, model and HTTP status.",
            ["route", "model", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "inferline_http_request_duration_seconds",
            "Time to answer a REST request (a stream: until its last byte).",
            ["route", "model"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.time_to_first_token = Histogram(
            "inferline_http_time_to_first_token_seconds",
            "Time from a streamed request's arrival to its first message from the core.",
            ["route", "model"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "inferline_http_requests_in_flight",
            "REST requests being answered.",
            ["route"],
            registry=registry,
        )
        self.prompt_tokens = Counter(
            "inferline_http_prompt_tokens",
            "Prompt tokens of answered requests.",
            ["model"],
            registry=registry,
        )
        self.completion_tokens = Counter(
            "inferline_http_completion_tokens",
            "Completion tokens of answered requests.",
            ["model"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "inferline_http_rate_limited",
            "Requests refused with 429 by the bridge's own rate limits.",
            registry=registry,
        )
        self.core_up = Gauge(
            "inferline_core_up",
            "1 when the core answered its health check with SERVING at the last scrape, else 0.",
            registry=registry,
        )

    def record(self, route: str, status: int, notes: Observed) -> None:
        """Count a finished request."""
        model = notes.model
        self.requests.labels(route, model, str(status)).inc()
        self.duration.labels(route, model).observe(time.perf_counter() - notes.started)
        if notes.first_message is not None:
            ttft = notes.first_message - notes.started
            self.time_to_first_token.labels(route, model).observe(ttft)
        if notes.prompt_tokens:
            self.prompt_tokens.labels(model).inc(notes.prompt_tokens)
        if notes.completion_tokens:
            self.completion_tokens.labels(model).inc(notes.completion_tokens)


class MetricsMiddleware:
    """Times and counts every routed HTTP request but the scrapes themselves."""

    def __init__(self, app: ASGIApp, metrics: BridgeMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] == PATH:
            await self._app(scope, receive, send)
            return
        notes = Observed()
        scope.setdefault("state", {})[OBSERVED] = notes
        route = str(scope.get("path_template") or "unmatched")
        status = 500  # a response that never started is the server's failure

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        in_flight = self._metrics.in_flight.labels(route)
        in_flight.inc()
        try:
            await self._app(scope, receive, watched)
        finally:
            in_flight.dec()
            self._metrics.record(route, status, notes)


@get(PATH, include_in_schema=False)
async def scrape(
    metrics: NamedDependency[BridgeMetrics], client: NamedDependency[AsyncClient]
) -> Response[bytes]:
    """The bridge's metrics in Prometheus' text format."""
    up = await client.health(timeout=CORE_CHECK_TIMEOUT_S)
    metrics.core_up.set(1 if up else 0)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
