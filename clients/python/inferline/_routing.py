"""Model-aware routing over several cores.

Given an address list (``a:50051,b:50051``) or a ``dns:///NAME:PORT`` target, a client keeps one
gRPC channel per core (gRPC's own connection management and health checking on each) and sends
each request to a core that serves its model: one that has the model loaded if any does, else any
that serves it, taking turns among them. Which core serves which model is learned from each
core's ModelService and health service by a background thread every ``refresh_s`` seconds, never
per request; a DNS name is resolved again on every refresh, so cores that come and go (a
Kubernetes headless Service) are followed.
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inferline.v1 import audio_service_pb2_grpc as audio_grpc
from inferline.v1 import chat_service_pb2_grpc as chat_grpc
from inferline.v1 import completion_service_pb2_grpc as completion_grpc
from inferline.v1 import embedding_service_pb2_grpc as embedding_grpc
from inferline.v1 import image_service_pb2_grpc as image_grpc
from inferline.v1 import model_service_pb2 as model_pb
from inferline.v1 import model_service_pb2_grpc as model_grpc

DEFAULT_PORT = 50051
REFRESH_S = 1.0
# How long the first request waits for the first look at the cores.
FIRST_LOOK_S = 3.0
_POLL_TIMEOUT_S = 2.0
# A channel in these states sends nothing: the router passes its core over.
FAILING = (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN)


@dataclass(frozen=True)
class Stubs:
    """Every service's stub on one channel. Typed Any: the generated stubs are one type on a
    sync channel and another on an asyncio one, and the clients annotate what each call returns."""

    chat: Any
    completion: Any
    embedding: Any
    audio: Any
    image: Any
    models: Any
    health: Any

    @classmethod
    def on(cls, channel: Any) -> Stubs:
        """The stubs for ``channel``."""
        return cls(
            chat_grpc.ChatServiceStub(channel),
            completion_grpc.CompletionServiceStub(channel),
            embedding_grpc.EmbeddingServiceStub(channel),
            audio_grpc.AudioServiceStub(channel),
            image_grpc.ImageServiceStub(channel),
            model_grpc.ModelServiceStub(channel),
            health_pb2_grpc.HealthStub(channel),
        )


def routed(address: str) -> bool:
    """Whether ``address`` names several cores (a list, or a DNS name that may resolve to many)."""
    return "," in address or address.startswith("dns:")


def _split(host_port: str) -> tuple[str, int]:
    host, sep, port = host_port.strip().rpartition(":")
    if not sep or port.startswith("]") or not port.isdigit():
        return host_port.strip().strip("[]"), DEFAULT_PORT
    return host.strip("[]"), int(port)


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def resolve(address: str) -> tuple[list[str], str | None]:
    """The cores' ``host:port`` addresses now, and the DNS name TLS should check (if any)."""
    if address.startswith("dns:"):
        rest = address.removeprefix("dns:")
        if rest.startswith("//"):  # dns://[AUTHORITY]/NAME:PORT; the authority is not ours to use
            rest = rest[2:].partition("/")[2]
        name, port = _split(rest)
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except OSError:
            return [], name
        return sorted({_join(str(info[4][0]), port) for info in infos}), name
    parts = address.removeprefix("ipv4:").removeprefix("ipv6:").split(",")
    return [_join(*_split(part)) for part in parts if part.strip()], None


@dataclass
class _Core:
    serving: bool = False
    # Model id -> whether it is loaded there.
    models: dict[str, bool] = field(default_factory=dict)


class Router:
    """Which cores exist, which models each serves, and which core takes the next request."""

    def __init__(
        self,
        address: str,
        *,
        metadata: Sequence[tuple[str, str]] = (),
        credentials: grpc.ChannelCredentials | None = None,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self._address = address
        self._metadata = tuple(metadata)
        self._credentials = credentials
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._cores: dict[str, _Core] = {}
        self._tls_name: str | None = None
        self._polls: dict[str, Any] = {}  # address -> (channel, Stubs) used by the poller only
        self._turn = itertools.count()
        self._looked = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inferline-router", daemon=True)
        self._thread.start()

    def channel_options(self) -> list[tuple[str, object]]:
        """Options for a channel to one core: TLS checks the DNS name, not the address."""
        self._looked.wait(FIRST_LOOK_S)
        if self._credentials is not None and self._tls_name:
            return [("grpc.ssl_target_name_override", self._tls_name)]
        return []

    def addresses(self) -> list[str]:
        """Every core known now, reachable or not."""
        self._looked.wait(FIRST_LOOK_S)
        with self._lock:
            return sorted(self._cores)

    def pick(self, model: str, usable: Callable[[str], bool] = lambda _: True) -> str | None:
        """The core for a request on ``model`` ("" for a kind's default), or None if none is up.

        ``usable`` says whether the caller's own channel to a core is not failing right now,
        which notices a dead core before the next refresh does.
        """
        self._looked.wait(FIRST_LOOK_S)
        with self._lock:
            cores = dict(self._cores)
        up = [a for a, core in sorted(cores.items()) if core.serving and usable(a)]
        pool = up
        if model and any(model in core.models for core in cores.values()):
            serving = [a for a in up if model in cores[a].models]
            pool = [a for a in serving if cores[a].models[model]] or serving
        # A model no core lists (just pulled, say) goes to any core that is up: it answers, if
        # only with NOT_FOUND. A model whose cores are all away gets None: unavailable.
        if not pool:
            return None
        return pool[next(self._turn) % len(pool)]

    def close(self) -> None:
        """Stop refreshing and close the poller's channels."""
        self._stop.set()
        self._thread.join(5)
        for channel, _ in self._polls.values():
            channel.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._looked.set()
            self._stop.wait(self._refresh_s)

    def refresh(self) -> None:
        """Look at every core once: resolve the target, ask each for health and models."""
        addresses, tls_name = resolve(self._address)
        self._tls_name = tls_name
        with self._lock:
            known = dict(self._cores)
        cores = {address: self._look(address, known.get(address)) for address in addresses}
        for gone in set(self._polls) - set(addresses):
            self._polls.pop(gone)[0].close()
        with self._lock:
            self._cores = cores

    def _look(self, address: str, known: _Core | None) -> _Core:
        """One core's health and models; one that does not answer keeps the models it had, so
        their requests wait for it (UNAVAILABLE) instead of going to a core without them."""
        away = _Core(False, known.models if known else {})
        if address not in self._polls:
            options = [("grpc.ssl_target_name_override", self._tls_name)] if self._tls_name else []
            if self._credentials is None:
                channel = grpc.insecure_channel(address)
            else:
                channel = grpc.secure_channel(address, self._credentials, options=options)
            self._polls[address] = (channel, Stubs.on(channel))
        stubs: Stubs = self._polls[address][1]
        try:
            health = stubs.health.Check(
                health_pb2.HealthCheckRequest(), metadata=self._metadata, timeout=_POLL_TIMEOUT_S
            )
            if health.status != health_pb2.HealthCheckResponse.SERVING:
                return away
            listed = stubs.models.ListModels(
                model_pb.ListModelsRequest(), metadata=self._metadata, timeout=_POLL_TIMEOUT_S
            )
        except grpc.RpcError:
            return away
        loaded = model_pb.MODEL_STATE_LOADED
        return _Core(True, {m.id: m.state == loaded for m in listed.models})


def merge_models(lists: Sequence[Sequence[model_pb.Model]]) -> list[model_pb.Model]:
    """The union of several cores' models by id; a model loaded anywhere shows as loaded."""
    merged: dict[str, model_pb.Model] = {}
    for models in lists:
        for model in models:
            seen = merged.get(model.id)
            if seen is None or (
                model.state == model_pb.MODEL_STATE_LOADED
                and seen.state != model_pb.MODEL_STATE_LOADED
            ):
                merged[model.id] = model
    return [merged[key] for key in sorted(merged)]
