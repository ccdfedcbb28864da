"""Channel settings shared by Client and AsyncClient."""

from __future__ import annotations

import json
from pathlib import Path

import grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
# Images and audio travel as bytes: allow messages well beyond gRPC's 4 MiB default.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# Round-robin over every address a target resolves to, with gRPC's own health checking: a core
# that reports NOT_SERVING (starting, draining) gets no calls. Several cores are routed by model
# in _routing, with one such channel each.
_SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": ""},
    }
)


# While the core is away (restarting under `inferline serve`, say), calls fail at once with
# UNAVAILABLE (no call waits for the channel to become ready), and the channel keeps trying to
# reconnect at most this often, so the first call after the core is back succeeds. gRPC's
# default backoff grows to two minutes, which would keep a restarted core unreachable.
RECONNECT_BACKOFF_MS = 250
MAX_RECONNECT_BACKOFF_MS = 1000


# A core that stops answering without closing its connections (frozen, paused, a wedged host)
# would leave a running call hanging forever: during calls the channel pings the core every
# KEEPALIVE_MS and drops the connection (failing its calls with UNAVAILABLE) when a ping goes
# unanswered for KEEPALIVE_TIMEOUT_MS. The core accepts pings this often (server.py).
KEEPALIVE_MS = 10_000
KEEPALIVE_TIMEOUT_MS = 5_000


def channel_options(extra: list[tuple[str, object]] | None = None) -> list[tuple[str, object]]:
    """The channel options every inferline client uses."""
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.service_config", _SERVICE_CONFIG),
        ("grpc.enable_retries", 1),
        ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
        ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
        ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.http2.ping_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.http2.max_pings_without_data", 0),
        *(extra or []),
    ]


def call_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """Metadata sent with every call: the bearer token, when there is one."""
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


def tls_credentials(
    ca: str | None = None, cert: str | None = None, key: str | None = None
) -> grpc.ChannelCredentials:
    """TLS for calling a core, from PEM files: ``ca`` to trust (default: the system's roots),
    and ``cert`` + ``key`` for a client certificate when the core asks for one."""
    if (cert is None) != (key is None):
        raise ValueError("a client certificate needs both cert and key")

    def read(path: str | None) -> bytes | None:
        return None if path is None else Path(path).expanduser().read_bytes()

    return grpc.ssl_channel_credentials(
        root_certificates=read(ca), private_key=read(key), certificate_chain=read(cert)
    )
