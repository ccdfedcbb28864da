"""``x-request-id`` on every response, in every log line of the request, and to the core.

A client's own id is kept when it is sane (see ``inferline.sane_request_id``); otherwise the
bridge makes one. The middleware sets it for the request's handler (the SDK then sends it to the
core as metadata, and the log filter writes it) and logs one access line per request; the
``before_send`` hook puts it on every response, 404s for unknown paths included.
"""

from __future__ import annotations

import logging
import time
import uuid

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

import inferline

HEADER = b"x-request-id"
STATE_KEY = "inferline_request_id"
log = logging.getLogger("inferline_bridge.access")
# Probes and scrapes come every few seconds: their lines only at debug level.
QUIET_PATHS = frozenset({"/health", "/health/live", "/health/ready", "/metrics"})


def request_id_of(scope: Scope) -> str:
    """The request's id: the client's when sane, else a new one (made once per request)."""
    state = scope.setdefault("state", {})
    found = state.get(STATE_KEY)
    if isinstance(found, str):
        return found
    offered = next(
        (value.decode("latin-1") for key, value in scope.get("headers", []) if key == HEADER),
        None,
    )
    made = offered if inferline.sane_request_id(offered) else uuid.uuid4().hex
    state[STATE_KEY] = made
    return str(made)


async def add_request_id(message: Message, scope: Scope) -> None:
    """``before_send``: the id on the response's headers."""
    if message["type"] == "http.response.start":
        headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
        message["headers"] = [*headers, (HEADER, request_id_of(scope).encode())]


class RequestIdMiddleware:
    """Runs the request with its id set, and logs one access line for it."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with inferline.request_id(request_id_of(scope)):
            try:
                await self._app(scope, receive, watched)
            finally:
                took = time.perf_counter() - started
                method, path = scope.get("method", ""), scope["path"]
                level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
                log.log(level, "%s %s %d in %.3f s", method, path, status, took)
