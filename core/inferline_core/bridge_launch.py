"""Starting the REST bridge as a process of its own: its settings from the configuration.

The command never imports the bridge: it runs ``python -m inferline_bridge`` with one JSON
document (where to listen and the bridge's settings) in ``INFERLINE_BRIDGE_SETTINGS``. The
bridge decodes it strictly, so a key spelt differently on the two sides fails at start.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from inferline_core.config import Config

SETTINGS_ENV = "INFERLINE_BRIDGE_SETTINGS"
COMMAND = (sys.executable, "-m", "inferline_bridge")


def settings_document(config: Config, core_address: str, host: str, port: int) -> str:
    """The bridge's launch document from the file's ``[api]`` and ``[core]`` tables."""
    api, core = config.api, config.core
    tokens = config.core_tokens()
    settings = {
        "core_address": core_address,
        "core_api_key": tokens[0] if tokens else None,
        "drain_seconds": core.drain_seconds,
        "core_tls_ca": core.tls_ca,
        "core_tls_cert": core.tls_client_cert,
        "core_tls_key": core.tls_client_key,
        "max_body_bytes": int(api.max_body_mb * 1024 * 1024),
        "api_keys": api.keys(),
        "require_auth": api.auth_required,
        "requests_per_minute": api.max_requests_per_minute,
        "tokens_per_minute": api.max_tokens_per_minute,
        "cors_origins": (api.cors_origins or ["*"]) if api.cors_enabled else None,
        "tls_cert": api.tls_cert,
        "tls_key": api.tls_key,
        "output_folder": api.output_folder,
        "url_ttl_s": api.url_ttl_s,
        "output_max_files": api.output_max_files,
        "output_max_bytes": int(api.output_max_mb * 1024 * 1024),
        "image_folders": [str(Path(f).expanduser().resolve()) for f in api.image_folders],
        "image_url_allowed": api.image_url_allowed,
        "max_image_bytes": int(api.max_image_mb * 1024 * 1024),
        "image_fetch_timeout_s": api.image_fetch_timeout_s,
        "image_fetch_proxy": api.image_fetch_proxy,
        "responses_max_stored": api.responses_max_stored,
        "responses_ttl_s": api.responses_ttl_s,
        "metrics_public": api.metrics_public,
        "otlp_endpoint": api.otlp_endpoint,
    }
    return json.dumps({"host": host, "port": port, "settings": settings})


def environment(document: str) -> dict[str, str]:
    """This process's environment plus the bridge's launch document."""
    return {**os.environ, SETTINGS_ENV: document}
