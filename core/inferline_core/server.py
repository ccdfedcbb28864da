"""build_server(config, models) -> CoreServer: the gRPC core with health and reflection."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as aio_health
from grpc_reflection.v1alpha import reflection
from opentelemetry.sdk.trace import TracerProvider

from inferline.v1 import (
    audio_service_pb2,
    audio_service_pb2_grpc,
    chat_service_pb2,
    chat_service_pb2_grpc,
    completion_service_pb2,
    completion_service_pb2_grpc,
    embedding_service_pb2,
    embedding_service_pb2_grpc,
    image_service_pb2,
    image_service_pb2_grpc,
    model_service_pb2,
    model_service_pb2_grpc,
)
from inferline_core.config import Config, ModelConfig, parse_duration
from inferline_core.exceptions import ModelLoadFailed
from inferline_core.loaders import engine_loader
from inferline_core.metrics import CoreMetrics, serve
from inferline_core.registry import Registry, unwatched
from inferline_core.security import TokenInterceptor, server_credentials
from inferline_core.services.audio import AudioServicer
from inferline_core.services.chat import ChatServicer
from inferline_core.services.completion import CompletionServicer
from inferline_core.services.embedding import EmbeddingServicer
from inferline_core.services.image import ImageServicer
from inferline_core.services.models import ModelServicer
from inferline_core.store import Store
from inferline_core.tracing import TRACER_NAME, otlp_provider, server_interceptor
from inferline_core.watch import Telemetry

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # images and audio travel as bytes
_SERVICE_NAMES = [
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (chat_service_pb2, "ChatService"),
        (completion_service_pb2, "CompletionService"),
        (embedding_service_pb2, "EmbeddingService"),
        (image_service_pb2, "ImageService"),
        (audio_service_pb2, "AudioService"),
        (model_service_pb2, "ModelService"),
    )
]


class CoreServer:
    """The core's gRPC server, its model registry, and their metrics and traces."""

    def __init__(
        self,
        config: Config,
        models: Mapping[str, ModelConfig],
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.config = config
        core = config.core
        self.metrics = CoreMetrics()
        self._tracer_provider = tracer_provider or otlp_provider(
            core.otlp_endpoint, "inferline-core"
        )
        provider = self._tracer_provider
        telemetry = Telemetry(self.metrics, provider.get_tracer(TRACER_NAME) if provider else None)
        load_time = self.metrics.load_duration
        # With no metrics endpoint and no tracing, requests are not watched at all.
        watched = bool(core.metrics_address) or provider is not None
        self.registry = Registry(
            models,
            engine_loader(config, on_step=self.metrics.step_observer if watched else None),
            core.max_queue,
            max_loaded=core.max_loaded_models,
            memory_budget=core.memory_budget_mb * 1024 * 1024,
            keep_alive=parse_duration(core.keep_alive),
            watch=telemetry.job if watched else unwatched,
            on_load=lambda model, seconds: load_time.labels(model).observe(seconds),
            stream_buffer=core.stream_buffer,
            stall_s=core.stalled_reader_timeout_s,
            stream_interval=core.stream_interval,
        )
        self.metrics.watch_models(self.registry.snapshot)
        self._metrics_server: WSGIServer | None = None
        self.metrics_port = 0
        interceptors: list[grpc.aio.ServerInterceptor] = []
        if provider is not None:  # first, so the token check runs inside the RPC's span
            interceptors.append(server_interceptor(provider))
        if tokens := config.core_tokens():
            interceptors.append(TokenInterceptor(tokens, check_health=config.core.auth_health))
        self._credentials = server_credentials(config.core)
        self._server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                # gRPC shares a port with any other process by default (SO_REUSEPORT): a second
                # core, or one an earlier `serve` left behind, would silently take half the calls.
                ("grpc.so_reuseport", 0),
                # Clients ping during calls to notice a frozen core (the SDK every 10 s); gRPC's
                # default would answer pings more often than every 5 minutes with GOAWAY.
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
                ("grpc.http2.max_ping_strikes", 0),
            ],
        )
        self._health_servicer = aio_health.HealthServicer()
        chat_service_pb2_grpc.add_ChatServiceServicer_to_server(
            ChatServicer(self.registry), self._server
        )
        completion_service_pb2_grpc.add_CompletionServiceServicer_to_server(
            CompletionServicer(self.registry), self._server
        )
        audio_service_pb2_grpc.add_AudioServiceServicer_to_server(
            AudioServicer(self.registry), self._server
        )
        image_service_pb2_grpc.add_ImageServiceServicer_to_server(
            ImageServicer(self.registry), self._server
        )
        embedding_service_pb2_grpc.add_EmbeddingServiceServicer_to_server(
            EmbeddingServicer(self.registry), self._server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelServicer(self.registry, Store(core.store_path), core.hub_endpoint), self._server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health_servicer, self._server)
        names = [*_SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], self._server)
        self.port = 0

    async def _set_health(
        self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType
    ) -> None:
        for name in ("", *_SERVICE_NAMES):
            await self._health_servicer.set(name, status)

    async def start(self) -> int:
        """Bind and start serving; return the bound port (useful with port 0)."""
        address = self.config.core.address
        try:
            if self._credentials is None:
                self.port = self._server.add_insecure_port(address)
            else:
                self.port = self._server.add_secure_port(address, self._credentials)
        except RuntimeError:  # gRPC's "Failed to bind"
            self.port = 0
        if not self.port:
            raise OSError(f"cannot listen on {address}: the port is in use or not local")
        # Not serving until the preloaded models are in (grpc's health servicer starts SERVING).
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.start()
        self.registry.start()
        if self.config.core.metrics_address:
            self._metrics_server = serve(self.metrics, self.config.core.metrics_address)
            self.metrics_port = self._metrics_server.server_port
            log.info("core metrics on http://%s/metrics", self.config.core.metrics_address)
        if self.config.core.preload:
            try:
                await self.registry.preload()
            except ModelLoadFailed:
                # Logged by the registry; health stays NOT_SERVING so no traffic is sent here.
                log.error("a default model failed to load: the core stays NOT_SERVING")
                return self.port
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        core = self.config.core
        log.info(
            "core listening on %s (port %d); %d CPU threads per model",
            core.address,
            self.port,
            core.thread_count,
        )
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish for ``grace`` seconds, then cancel them."""
        await self._health_servicer.enter_graceful_shutdown()
        await self._server.stop(self.config.core.drain_seconds if grace is None else grace)
        await self.registry.close()
        if self._metrics_server is not None:
            await asyncio.to_thread(self._metrics_server.shutdown)
            self._metrics_server.server_close()
        if self._tracer_provider is not None:
            self._tracer_provider.force_flush()


def build_server(
    config: Config,
    models: Mapping[str, ModelConfig],
    tracer_provider: TracerProvider | None = None,
) -> CoreServer:
    """The core for ``config`` serving ``models``, ready to ``start()``; spans go to
    ``tracer_provider``, else over OTLP when configured, else nowhere."""
    return CoreServer(config, models, tracer_provider)


async def run_core(config: Config, models: Mapping[str, ModelConfig]) -> None:
    """Serve until SIGINT or SIGTERM, then stop gracefully."""
    server = build_server(config, models)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("stopping: draining in-flight requests")
    await server.stop()
