"""create_app(settings) -> Litestar: the OpenAI-compatible REST bridge in front of the core."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from opentelemetry.sdk.trace import TracerProvider

from inferline import AsyncClient, InferlineError
from inferline_bridge.access import AccessControl
from inferline_bridge.audio.controller import AudioController
from inferline_bridge.chat.controller import ChatController
from inferline_bridge.chat.function_calling import FunctionCallingController
from inferline_bridge.completions.controller import CompletionsController
from inferline_bridge.embeddings.controller import EmbeddingsController
from inferline_bridge.errors import (
    APIError,
    handle_api_error,
    handle_core_error,
    handle_http_error,
    handle_unexpected,
)
from inferline_bridge.health import live, ready
from inferline_bridge.images.controller import ImagesController
from inferline_bridge.images.files import ImageFiles
from inferline_bridge.limits import Limiter
from inferline_bridge.metrics import BridgeMetrics, MetricsMiddleware, scrape
from inferline_bridge.models.controller import ModelsController
from inferline_bridge.openapi import page as docs_page
from inferline_bridge.openapi.document import describe, schema_document
from inferline_bridge.playground.routes import routes as playground_routes
from inferline_bridge.request_ids import RequestIdMiddleware, add_request_id
from inferline_bridge.responses.controller import ResponsesController
from inferline_bridge.responses.store import ResponseStore
from inferline_bridge.settings import BridgeSettings
from inferline_bridge.tracing import otlp_provider, tracing_middleware


def _client(state: State) -> AsyncClient:
    client: AsyncClient = state.client
    return client


def _cors(settings: BridgeSettings) -> CORSConfig | None:
    if settings.cors_origins is None:
        return None
    origins = list(settings.cors_origins)
    # Browsers refuse credentials with a wildcard origin, and so do we.
    return CORSConfig(
        allow_origins=origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["authorization", "content-type", "x-api-key"],
        allow_credentials="*" not in origins,
        expose_headers=[
            "retry-after",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-remaining-tokens",
            "x-request-id",
        ],
    )


def create_app(settings: BridgeSettings, tracer_provider: TracerProvider | None = None) -> Litestar:
    """The bridge for ``settings``; its lifespan owns the one AsyncClient to the core. Spans
    go to ``tracer_provider``, else over OTLP when configured, else nowhere."""
    limiter = Limiter(settings.requests_per_minute, settings.tokens_per_minute)
    files = ImageFiles(
        settings.output_folder,
        settings.url_ttl_s,
        max_files=settings.output_max_files,
        max_bytes=settings.output_max_bytes,
    )
    responses = ResponseStore(settings.responses_max_stored, settings.responses_ttl_s)
    metrics = BridgeMetrics()
    provider = tracer_provider or otlp_provider(settings.otlp_endpoint, "inferline-bridge")
    # Outermost first: the trace's span, the request id, the metrics, then keys and limits.
    middleware = [] if provider is None else [tracing_middleware(provider)]
    middleware += [
        DefineMiddleware(RequestIdMiddleware),
        DefineMiddleware(MetricsMiddleware, metrics=metrics),
        DefineMiddleware(
            AccessControl,
            settings=settings,
            limiter=limiter,
            on_limited=metrics.rate_limited.inc,
        ),
    ]

    @asynccontextmanager
    async def core_client(app: Litestar) -> AsyncIterator[None]:
        client = AsyncClient(
            settings.core_address,
            api_key=settings.core_api_key,
            timeout=settings.request_timeout,
            credentials=settings.core_credentials(),
        )
        app.state.client = client
        sweeper = asyncio.get_running_loop().create_task(files.sweep_forever())
        try:
            yield
        finally:
            sweeper.cancel()
            await client.close()  # cancels every call still running

    handlers: dict[Any, Any] = {
        APIError: handle_api_error,
        InferlineError: handle_core_error,
        HTTPException: handle_http_error,
        Exception: handle_unexpected,
    }
    app = Litestar(
        route_handlers=[
            schema_document,
            AudioController,
            ChatController,
            CompletionsController,
            EmbeddingsController,
            FunctionCallingController,
            ImagesController,
            ModelsController,
            ResponsesController,
            live,
            ready,
            scrape,
            *playground_routes(),
            docs_page.assets(),
        ],
        lifespan=[core_client],
        dependencies={
            "client": Provide(_client, sync_to_thread=False),
            "settings": Provide(lambda: settings, sync_to_thread=False),
            "files": Provide(lambda: files, sync_to_thread=False),
            "responses": Provide(lambda: responses, sync_to_thread=False),
            "metrics": Provide(lambda: metrics, sync_to_thread=False),
        },
        exception_handlers=handlers,
        request_max_body_size=settings.max_body_bytes,
        middleware=middleware,
        before_send=[add_request_id],
        # The process sets logging up (text or JSON lines with request ids, logs.py), not Litestar.
        logging_config=None,
        cors_config=_cors(settings),
        openapi_config=OpenAPIConfig(
            title="inferline",
            version="0.1.0",
            path="/docs",  # the docs page; the document at /docs/openapi.json and /schema/openapi.json
            render_plugins=[docs_page.render_plugin()],
        ),
    )
    describe(app.openapi_schema)
    return app
