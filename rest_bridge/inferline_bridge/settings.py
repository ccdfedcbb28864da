"""The bridge's settings: which core to call, how, and the limits it enforces for itself.

The bridge reads no configuration file: whoever starts it (``inferline serve`` or
``inferline bridge``) hands it one JSON document, ``{"host", "port", "settings"}``, in the
environment variable ``INFERLINE_BRIDGE_SETTINGS``; ``launch`` decodes and checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import msgspec

from inferline import tls_credentials

SETTINGS_ENV = "INFERLINE_BRIDGE_SETTINGS"
DEFAULT_MAX_BODY_BYTES = 26 * 1024 * 1024
DEFAULT_OUTPUT_FOLDER = Path("~/.cache/inferline/outputs").expanduser()


@dataclass(frozen=True, kw_only=True)
class BridgeSettings:
    """Everything ``create_app`` needs; no globals."""

    core_address: str = "127.0.0.1:50051"
    core_api_key: str | None = None
    # TLS towards the core: the CA to trust and a client certificate (PEM paths); with none
    # of them the channel is plaintext.
    core_tls_ca: str | None = None
    core_tls_cert: str | None = None
    core_tls_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Seconds a whole request may take at the core; None means no deadline.
    request_timeout: float | None = None
    # On SIGTERM the bridge stops accepting, then lets open requests finish this long before
    # cancelling them ([core] drain_seconds).
    drain_seconds: float = 10.0
    # Client keys; with require_auth every route but /health needs one of them.
    api_keys: tuple[str, ...] = ()
    require_auth: bool = False
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    # None: no CORS headers at all.
    cors_origins: tuple[str, ...] | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    output_folder: Path = DEFAULT_OUTPUT_FOLDER
    url_ttl_s: int = 3600
    # The output folder's caps: the oldest images go first when a new one would pass either.
    output_max_files: int = 1000
    output_max_bytes: int = 1 << 30
    image_folders: tuple[Path, ...] = ()
    image_url_allowed: tuple[str, ...] = ()
    max_image_bytes: int = 20 * 1024 * 1024
    # One deadline for a whole image fetch (connect, redirects, body).
    image_fetch_timeout_s: float = 10.0
    # Image URLs go through this proxy when set; proxy variables from the environment never.
    image_fetch_proxy: str | None = None
    # /v1/responses keeps this many responses (the least recently used go first), each for
    # this long, for previous_response_id and GET; 0 keeps none.
    responses_max_stored: int = 1000
    responses_ttl_s: float = 3600.0
    # /metrics without a key even when keys are required.
    metrics_public: bool = False
    # Export traces over OTLP/gRPC here; OTEL_EXPORTER_OTLP_ENDPOINT works too.
    otlp_endpoint: str = ""

    def core_credentials(self) -> grpc.ChannelCredentials | None:
        """TLS for calling the core, or None for plaintext."""
        if self.core_tls_ca is None and self.core_tls_cert is None:
            return None
        return tls_credentials(self.core_tls_ca, self.core_tls_cert, self.core_tls_key)


@dataclass(frozen=True, kw_only=True)
class Launch:
    """Where the bridge listens, and its settings."""

    host: str
    port: int
    settings: BridgeSettings = field(default_factory=BridgeSettings)


class SettingsError(Exception):
    """The launch document cannot be used."""


def _paths(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value).expanduser()
    raise NotImplementedError


def launch(document: str) -> Launch:
    """Decode the launch document; unknown keys and wrong types are refused."""
    try:
        raw = msgspec.json.decode(document)
        _check_keys(raw)
        return msgspec.convert(raw, Launch, dec_hook=_paths)
    except msgspec.DecodeError as error:
        raise SettingsError(f"{SETTINGS_ENV}: not JSON: {error}") from None
    except msgspec.ValidationError as error:
        raise SettingsError(f"{SETTINGS_ENV}: {error}") from None


def _check_keys(raw: Any) -> None:
    """msgspec ignores unknown dataclass fields: a misspelt setting must not pass silently."""
    known = {"launch": set(Launch.__dataclass_fields__)}
    known["settings"] = set(BridgeSettings.__dataclass_fields__)
    if not isinstance(raw, dict):
        return
    unknown = set(raw) - known["launch"]
    settings = raw.get("settings")
    if isinstance(settings, dict):
        unknown |= {f"settings.{key}" for key in set(settings) - known["settings"]}
    if unknown:
        raise SettingsError(f"{SETTINGS_ENV}: unknown keys: {', '.join(sorted(unknown))}")
