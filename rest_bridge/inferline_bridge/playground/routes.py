"""``GET /`` and ``/playground/*``: the playground page and its files, shipped in the package.

The page and its assets load without a key (the page asks for one when the API refuses it);
every API call the page makes goes through the usual checks. The Content-Security-Policy keeps
the page offline (nothing but this origin) and, with Trusted Types, makes any assignment of a
string as HTML throw: model output can only ever reach the page as text.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.handlers import HTTPRouteHandler
from litestar.static_files import create_static_files_router

PAGE_PATH = "/"
ASSET_PREFIX = "/playground/"
STATIC = Path(str(resources.files(__package__) / "static"))

SECURITY_HEADERS = {
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob:",
            "media-src 'self' blob:",
            "connect-src 'self'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types 'none'",
        ]
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@get(PAGE_PATH, include_in_schema=False)
async def page() -> Response[bytes]:
    """The playground's one HTML page."""
    html = (STATIC / "index.html").read_bytes()
    return Response(html, media_type="text/html", headers=SECURITY_HEADERS)


def routes() -> list[Router | HTTPRouteHandler]:
    """The page and its assets, for ``create_app``."""
    assets = create_static_files_router(
        path=ASSET_PREFIX.rstrip("/"),
        directories=[STATIC],
        name="playground",
        cache_control=CacheControlHeader(no_cache=True),
        include_in_schema=False,
    )
    return [page, assets]
