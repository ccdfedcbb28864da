"""Health endpoints, open to load balancers and orchestrators (no key, no rate limit).

``/health/live`` says the bridge process answers (restart it if not); ``/health/ready`` and
``/health`` say it can serve, that is, the core answers its health check (send it no traffic if
not: while the core is away every other route answers 503 ``core_unavailable``).
"""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency

from inferline import AsyncClient
from inferline_bridge.errors import CORE_RETRY_AFTER_S

PATHS = frozenset({"/health", "/health/live", "/health/ready"})
# Shorter than any load balancer's probe timeout: a hung core reads as not ready.
CORE_CHECK_TIMEOUT_S = 2.0


@get("/health/live")
async def live() -> dict[str, str]:
    """200 while the bridge process runs, whatever the core's state."""
    return {"status": "ok"}


@get(["/health", "/health/ready"])
async def ready(client: NamedDependency[AsyncClient]) -> Response[dict[str, str]]:
    """200 when the core answers its health check, 503 (with Retry-After) otherwise."""
    if await client.health(timeout=CORE_CHECK_TIMEOUT_S):
        return Response({"status": "ok"})
    return Response(
        {"status": "unavailable", "core": "unavailable"},
        status_code=503,
        headers={"Retry-After": str(CORE_RETRY_AFTER_S)},
    )
