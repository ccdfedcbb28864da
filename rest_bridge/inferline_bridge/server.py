"""run_bridge(settings, host, port): serve the bridge with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import uvicorn

from inferline_bridge.app import create_app
from inferline_bridge.settings import BridgeSettings

# uvicorn waits for open streams on shutdown; after this many seconds it stops waiting and
# the lifespan closes the gRPC channel, which cancels the calls (FACTS.md).
GRACEFUL_SHUTDOWN_S = 5


def run_bridge(settings: BridgeSettings, *, host: str, port: int) -> None:
    """Serve the bridge on ``host:port``; returns when the server has stopped."""
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        log_level="info",
        access_log=False,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
    )
    uvicorn.Server(config).run()
