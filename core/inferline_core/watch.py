"""What one job on a model reports: its metrics and, when tracing is on, its spans.

The scheduler calls a job's watch at four moments (refused, started, each event, ended); the
watch turns them into Prometheus observations and into the ``queue``, ``prefill`` and
``generation`` spans under the RPC's span. It runs in the model's worker thread, so the RPC's
span is captured when the watch is made (in the handler) and passed to its children explicitly.
"""

from __future__ import annotations

import time

from opentelemetry import context as otel_context
from opentelemetry import trace

from inferline_core.engines.base import Finish, TextDelta, ToolCallDelta
from inferline_core.metrics import CoreMetrics

TEXT_KINDS = frozenset({"chat", "completion"})


class JobWatch:
    """One job's observations; every method is cheap and safe to call from any thread."""

    def __init__(
        self, metrics: CoreMetrics, tracer: trace.Tracer | None, model: str, kind: str
    ) -> None:
        self._metrics = metrics
        self._model, self._kind = model, kind
        self._text = kind in TEXT_KINDS
        self._queued = time.perf_counter()
        self._last: float | None = None  # when the latest token came
        self._prompt_tokens = self._generated_tokens = 0
        self._tracer = tracer
        self._parent: otel_context.Context | None = None
        self._span: trace.Span | None = None
        if tracer is not None:
            self._parent = trace.set_span_in_context(trace.get_current_span())
            self._span = tracer.start_span("queue", context=self._parent)

    def _next_span(self, name: str) -> None:
        if self._tracer is None or self._span is None:
            return
        self._span.end()
        self._span = self._tracer.start_span(name, context=self._parent)
        self._span.set_attribute("inferline.model", self._model)

    def refused(self) -> None:
        """The model's queue was full (or closing): the job never ran."""
        self._metrics.requests.labels(self._model, self._kind, "refused").inc()
        if self._span is not None:
            self._span.set_status(trace.StatusCode.ERROR, "refused")
            self._span.end()

    def started(self) -> None:
        """The model's worker took the job."""
        waited = time.perf_counter() - self._queued
        self._metrics.queue_wait.labels(self._model, self._kind).observe(waited)
        self._next_span("prefill" if self._text else self._kind)

    def event(self, event: object) -> None:
        """The job produced ``event``."""
        if isinstance(event, TextDelta | ToolCallDelta):
            now = time.perf_counter()
            if self._last is None:
                ttft = now - self._queued
                self._metrics.time_to_first_token.labels(self._model).observe(ttft)
                self._next_span("generation")
            else:
                self._metrics.inter_token.labels(self._model).observe(now - self._last)
            self._last = now
        elif isinstance(event, Finish):
            self._prompt_tokens = event.prompt_tokens  # the same prompt for every choice
            self._generated_tokens += event.completion_tokens

    def ended(self, outcome: str) -> None:
        """The job ended: ``ok``, ``cancelled`` or ``error``."""
        metrics, model = self._metrics, self._model
        metrics.requests.labels(model, self._kind, outcome).inc()
        metrics.duration.labels(model, self._kind).observe(time.perf_counter() - self._queued)
        if self._text:
            metrics.prompt_tokens.labels(model).inc(self._prompt_tokens)
            metrics.generation_tokens.labels(model).inc(self._generated_tokens)
        if self._span is not None:
            if self._text:
                self._span.set_attribute("gen_ai.usage.input_tokens", self._prompt_tokens)
                self._span.set_attribute("gen_ai.usage.output_tokens", self._generated_tokens)
            if outcome != "ok":
                self._span.set_status(trace.StatusCode.ERROR, outcome)
            self._span.end()


class Telemetry:
    """A core's metrics and (when tracing is on) its tracer, handed to the registry."""

    def __init__(self, metrics: CoreMetrics, tracer: trace.Tracer | None = None) -> None:
        self.metrics = metrics
        self.tracer = tracer

    def job(self, model: str, kind: str) -> JobWatch:
        """A watch for a new job of ``kind`` on ``model``, under the current span."""
        return JobWatch(self.metrics, self.tracer, model, kind)
