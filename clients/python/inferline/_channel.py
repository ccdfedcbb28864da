"""Channel settings shared by Client and AsyncClient."""

from __future__ import annotations

import ipaddress
import json

DEFAULT_ADDRESS = "127.0.0.1:50051"
# Images and audio travel as bytes: allow messages well beyond gRPC's 4 MiB default.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# Round-robin over every address a target resolves to, with gRPC's own health checking, so one
# client (the bridge, say) can front several cores given as a dns:/// name or an address list.
_SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": ""},
    }
)


def target(address: str) -> str:
    """Turn ``host:port`` or ``host:port,host:port`` into a gRPC target string."""
    if "," not in address:
        return address
    hosts = [part.strip() for part in address.split(",") if part.strip()]
    for host in hosts:
        name = host.rpartition(":")[0]
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            raise ValueError(
                f"{host!r}: an address list takes IPv4 HOST:PORT entries; "
                "for host names use one dns:///NAME:PORT target"
            ) from None
    return "ipv4:" + ",".join(hosts)


def channel_options(extra: list[tuple[str, object]] | None = None) -> list[tuple[str, object]]:
    """The channel options every inferline client uses."""
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.service_config", _SERVICE_CONFIG),
        ("grpc.enable_retries", 1),
        *(extra or []),
    ]


def call_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """Metadata sent with every call: the bearer token, when there is one."""
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()
