"""The bridge's settings: which core to call and the limits it enforces for itself."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class BridgeSettings:
    """Everything ``create_app`` needs; no globals."""

    core_address: str = "127.0.0.1:50051"
    core_api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Seconds a whole request may take at the core; None means no deadline.
    request_timeout: float | None = None
