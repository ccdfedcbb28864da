"""run_bridge(settings, host, port): serve the bridge with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import math

import uvicorn

from inferline_bridge.app import create_app
from inferline_bridge.logs import setup_logging
from inferline_bridge.settings import BridgeSettings


def run_bridge(settings: BridgeSettings, *, host: str, port: int) -> None:
    """Serve the bridge on ``host:port``; returns when the server has stopped."""
    setup_logging()
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        # uvicorn stops accepting, then waits for open requests and streams; after this it
        # stops waiting and the lifespan closes the gRPC channel, cancelling the calls.
        timeout_graceful_shutdown=max(1, math.ceil(settings.drain_seconds)),
        # Our handler (text or JSON, with request ids) writes uvicorn's lines too; the access
        # lines are the request-id middleware's.
        log_config=None,
        access_log=False,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
    )
    uvicorn.Server(config).run()
