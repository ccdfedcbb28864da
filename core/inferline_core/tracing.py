"""OpenTelemetry for the core: an OTLP exporter when one is configured, and the gRPC
instrumentation's server interceptor, which continues the caller's trace from the W3C
``traceparent`` in the call's metadata.

Nothing is set up unless ``[core] otlp_endpoint`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its
``_TRACES_`` form) is set, so without them tracing costs nothing at all.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

log = logging.getLogger(__name__)
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
TRACER_NAME = "inferline.core"


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
    exporter = OTLPSpanExporter(endpoint=endpoint or None)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def server_interceptor(provider: TracerProvider) -> grpc.aio.ServerInterceptor:
    """The interceptor that opens a server span for every inferline RPC, under the caller's
    trace. Health and reflection are left alone: the instrumentation expects every streaming
    handler to be an async generator, and grpc's health Watch is not one (it would break)."""
    from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=provider, filter_=filters.service_prefix("inferline.")
    )
    return interceptor
