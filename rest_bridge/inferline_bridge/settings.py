"""The bridge's settings: which core to call, how, and the limits it enforces for itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from inferline_core.config import Config
from inferline_core.security import client_credentials

DEFAULT_MAX_BODY_BYTES = 26 * 1024 * 1024
DEFAULT_OUTPUT_FOLDER = Path("~/.cache/inferline/outputs").expanduser()


@dataclass(frozen=True, kw_only=True)
class BridgeSettings:
    """Everything ``create_app`` needs; no globals."""

    core_address: str = "127.0.0.1:50051"
    core_api_key: str | None = None
    core_credentials: grpc.ChannelCredentials | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Seconds a whole request may take at the core; None means no deadline.
    request_timeout: float | None = None
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
    image_folders: tuple[Path, ...] = ()
    image_url_allowed: tuple[str, ...] = ()
    max_image_bytes: int = 20 * 1024 * 1024
    # One deadline for a whole image fetch (connect, redirects, body).
    image_fetch_timeout_s: float = 10.0
    # Image URLs go through this proxy when set; proxy variables from the environment never.
    image_fetch_proxy: str | None = None


def bridge_settings(config: Config, core_address: str) -> BridgeSettings:
    """The bridge's settings from the configuration file's ``[api]`` and ``[core]`` tables."""
    api, core = config.api, config.core
    return BridgeSettings(
        core_address=core_address,
        core_api_key=core.api_key[0] if core.api_key else None,
        core_credentials=client_credentials(core),
        max_body_bytes=int(api.max_body_mb * 1024 * 1024),
        api_keys=tuple(api.keys()),
        require_auth=api.auth_required,
        requests_per_minute=api.max_requests_per_minute,
        tokens_per_minute=api.max_tokens_per_minute,
        cors_origins=tuple(api.cors_origins or ["*"]) if api.cors_enabled else None,
        tls_cert=api.tls_cert,
        tls_key=api.tls_key,
        output_folder=Path(api.output_folder).expanduser(),
        url_ttl_s=api.url_ttl_s,
        image_folders=tuple(Path(f).expanduser().resolve() for f in api.image_folders),
        image_url_allowed=tuple(api.image_url_allowed),
        max_image_bytes=int(api.max_image_mb * 1024 * 1024),
        image_fetch_timeout_s=api.image_fetch_timeout_s,
        image_fetch_proxy=api.image_fetch_proxy,
    )
