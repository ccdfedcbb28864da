"""OpenTelemetry for the bridge: a server span per request (Litestar's plugin over the ASGI
instrumentation, continuing a client's own ``traceparent``), whose context the SDK sends on to
the core. Set up only when a tracer provider is given, ``otlp_endpoint`` is set or
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its ``_TRACES_`` form) is: otherwise nothing runs at all."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from litestar.middleware import DefineMiddleware
from litestar.plugins.opentelemetry import OpenTelemetryConfig
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

log = logging.getLogger(__name__)
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
UNTRACED = ["/metrics", "/health"]


def otlp_provider(
    endpoint: str, service: str, environ: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """A provider exporting spans over OTLP/gRPC to ``endpoint`` (or the endpoint the
    environment names); None when neither names one or the exporter is not installed."""
    environ = os.environ if environ is None else environ
    if not endpoint and not any(environ.get(name) for name in ENDPOINT_VARIABLES):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        log.warning("an OTLP endpoint is set but opentelemetry-exporter-otlp is not installed")
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint or None)))
    return provider


def tracing_middleware(provider: TracerProvider) -> DefineMiddleware:
    """The ASGI instrumentation, spans to ``provider``; health and metrics are not traced."""
    config = OpenTelemetryConfig(
        tracer_provider=provider, exclude=UNTRACED, exclude_spans=["receive", "send"]
    )
    return config.middleware
