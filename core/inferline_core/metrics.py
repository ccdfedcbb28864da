"""The core's Prometheus metrics: one registry per core, served on ``[core] metrics_address``.

Counters and histograms move as requests run (the scheduler's job watches and the batched
engine's decode steps feed them); gauges (queue depth, running requests, model state, loaded
bytes) are read from the model registry when Prometheus scrapes, so keeping them costs nothing
between scrapes. Names follow Prometheus' conventions: the ``inferline_`` prefix, base units,
``_total`` counters (prometheus-client adds the suffix) and ``_seconds`` histograms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TOKEN_GAP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)
LOAD_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
MODEL_STATES = ("loaded", "loading", "unloaded", "failed")


@dataclass(frozen=True)
class ModelSnapshot:
    """One model as the gauges show it at a scrape."""

    model: str
    state: str  # one of MODEL_STATES
    queued: int
    queue_limit: int
    running: int
    loaded_bytes: int


class CoreMetrics:
    """Every metric of one core, in its own registry (no process-wide globals)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "inferline_requests",
            "Requests that reached a model, by kind (chat, completion, embedding, "
            "transcription, translation, image) and outcome (ok, cancelled, error, refused).",
            ["model", "kind", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "inferline_request_duration_seconds",
            "Time from queueing a request on its model to its last result, by kind.",
            ["model", "kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "inferline_queue_wait_seconds",
            "Time a request waited in its model's queue before it started.",
            ["model", "kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.time_to_first_token = Histogram(
            "inferline_time_to_first_token_seconds",
            "Time from queueing a text request to its first generated token.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.inter_token = Histogram(
            "inferline_inter_token_latency_seconds",
            "Time between consecutive generated tokens of one request.",
            ["model"],
            buckets=TOKEN_GAP_BUCKETS,
            registry=registry,
        )
        self.prompt_tokens = Counter(
            "inferline_prompt_tokens",
            "Prompt tokens processed (embedding inputs' tokens included).",
            ["model"],
            registry=registry,
        )
        self.generation_tokens = Counter(
            "inferline_generation_tokens", "Tokens generated.", ["model"], registry=registry
        )
        self.batch_size = Histogram(
            "inferline_batch_size",
            "Sequences decoded together in one step of a batching model.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.load_duration = Histogram(
            "inferline_model_load_duration_seconds",
            "Time to load a model.",
            ["model"],
            buckets=LOAD_BUCKETS,
            registry=registry,
        )

    def watch_models(self, snapshot: Callable[[], Iterable[ModelSnapshot]]) -> None:
        """Report the models' gauges from ``snapshot`` at every scrape."""
        self.registry.register(_ModelGauges(snapshot))

    def step_observer(self, model: str) -> Callable[[int], None]:
        """What a batching engine calls with the number of sequences in each decode step."""
        return self.batch_size.labels(model).observe


class _ModelGauges:
    """A custom collector: the models' gauges, read at scrape time."""

    def __init__(self, snapshot: Callable[[], Iterable[ModelSnapshot]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        queued = GaugeMetricFamily(
            "inferline_queue_depth", "Requests waiting for their model.", labels=["model"]
        )
        limit = GaugeMetricFamily(
            "inferline_queue_limit",
            "Requests that may wait for a model before more are refused.",
            labels=["model"],
        )
        running = GaugeMetricFamily(
            "inferline_requests_running", "Requests a model is working on.", labels=["model"]
        )
        state = GaugeMetricFamily(
            "inferline_model_state",
            "1 for the state each model is in (loaded, loading, unloaded, failed), else 0.",
            labels=["model", "state"],
        )
        loaded = GaugeMetricFamily(
            "inferline_model_loaded_bytes",
            "Size of a loaded model's files (0 when not loaded).",
            labels=["model"],
        )
        for model in self._snapshot():
            queued.add_metric([model.model], model.queued)
            limit.add_metric([model.model], model.queue_limit)
            running.add_metric([model.model], model.running)
            loaded.add_metric([model.model], model.loaded_bytes)
            for name in MODEL_STATES:
                state.add_metric([model.model, name], 1.0 if name == model.state else 0.0)
        yield from (queued, limit, running, state, loaded)

    def describe(self) -> list[Metric]:
        """Nothing: the registry then calls ``collect`` only at scrapes."""
        return []


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (IPv6 hosts in brackets) as (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{address!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def serve(metrics: CoreMetrics, address: str) -> WSGIServer:
    """Serve ``/metrics`` on ``address`` from a thread; ``shutdown()`` the result to stop."""
    host, port = split_address(address)
    server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    return server
