"""Who may call the bridge, and how much: API keys and rate limits, as ASGI middleware.

Keys come from ``Authorization: Bearer <key>`` or ``x-api-key: <key>`` and are compared in
constant time; they are never logged. ``/health``, ``/health/live`` and ``/health/ready`` are
open, so load balancers can probe them, and so are stored images' random URLs and the
playground page with its files (the page then sends a key with every API call) and the docs
page with the OpenAPI document. ``/metrics``
is never rate limited, and is open too when ``metrics_public`` is set.
Each admitted request gets a meter in ``scope["state"]`` that the handlers charge tokens to.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from inferline.keys import matches
from inferline_bridge.errors import error_body
from inferline_bridge.health import PATHS as OPEN_PATHS
from inferline_bridge.limits import Limiter
from inferline_bridge.metrics import PATH as METRICS_PATH
from inferline_bridge.openapi.page import ASSETS as DOCS_ASSETS
from inferline_bridge.openapi.page import OPEN_PATHS as DOCS_PATHS
from inferline_bridge.playground.routes import ASSET_PREFIX, PAGE_PATH
from inferline_bridge.settings import BridgeSettings

# Stored images are served by unguessable names, like pre-signed URLs: no key needed.
OPEN_PREFIXES = ("/v1/images/files/", ASSET_PREFIX, DOCS_ASSETS + "/")
METER = "inferline_meter"


@dataclass(frozen=True)
class Meter:
    """Charges one client's tokens to the limiter."""

    limiter: Limiter
    client: str

    def charge(self, tokens: int) -> None:
        self.limiter.charge(self.client, tokens)


def charge(request: Request[Any, Any, Any], tokens: int) -> None:
    """Charge ``tokens`` to the client behind ``request``, if limits are kept."""
    meter = request.scope.get("state", {}).get(METER)
    if isinstance(meter, Meter):
        meter.charge(tokens)


def _offered_key(scope: Scope) -> str:
    headers = {name.decode("latin-1").lower(): value for name, value in scope.get("headers", [])}
    authorization = headers.get("authorization", b"").decode("latin-1")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return headers.get("x-api-key", b"").decode("latin-1").strip()


async def _reply(send: Send, status: int, message: str, code: str, headers: dict[str, str]) -> None:
    body = json.dumps(error_body(status, message, None, code)).encode()
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    start: Any = {"type": "http.response.start", "status": status, "headers": raw}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


class AccessControl:
    """Checks keys and rate limits before a request reaches its handler."""

    def __init__(
        self,
        app: ASGIApp,
        settings: BridgeSettings,
        limiter: Limiter,
        on_limited: Callable[[], None] = lambda: None,
    ) -> None:
        self._app = app
        self._keys = settings.api_keys
        self._required = settings.require_auth
        self._limiter = limiter
        self._on_limited = on_limited
        self._open = (
            OPEN_PATHS | DOCS_PATHS | ({METRICS_PATH} if settings.metrics_public else set())
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method", "")
        path = scope["path"]
        if (
            scope["type"] != ScopeType.HTTP
            or method == "OPTIONS"
            or path in self._open
            or path == PAGE_PATH
            or path.startswith(OPEN_PREFIXES)
        ):
            await self._app(scope, receive, send)
            return
        offered = _offered_key(scope)
        if (offered or self._required) and self._keys and not matches(offered, self._keys):
            message = "a valid API key is required" if not offered else "the API key is not valid"
            headers = {"www-authenticate": 'Bearer realm="inferline"'}
            await _reply(send, 401, message, "invalid_api_key", headers)
            return
        if not self._limiter.enabled or path == METRICS_PATH:
            await self._app(scope, receive, send)
            return
        client = _client_id(offered, scope)
        verdict = self._limiter.admit(client)
        if not verdict.allowed:
            self._on_limited()
            headers = {**verdict.headers, "retry-after": str(max(1, round(verdict.retry_after)))}
            await _reply(
                send, 429, "rate limit reached; retry later", "rate_limit_exceeded", headers
            )
            return
        scope.setdefault("state", {})[METER] = Meter(self._limiter, client)
        extra = [(k.encode(), v.encode()) for k, v in verdict.headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self._app(scope, receive, send_with_headers)


def _client_id(key: str, scope: Scope) -> str:
    if key:  # a digest, so the limiter never holds a key itself
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"
