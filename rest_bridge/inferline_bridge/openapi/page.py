"""The docs page at ``/docs``: Swagger UI over the OpenAPI document, served from the bridge.

Swagger UI's files come from the swagger-ui-py package and are served under ``/docs/assets``, so
the page works on a machine with no internet access (Litestar's plugin would load them from a
CDN). The page, its files and the document need no key: they describe the API, not its data.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from litestar import Router
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

DOCS_PATH = "/docs"
ASSETS = "/docs/assets"
# The document and the page, open like the playground.
OPEN_PATHS = frozenset({DOCS_PATH, f"{DOCS_PATH}/openapi.json", "/schema/openapi.json"})


def _swagger_files() -> Path:
    # Located without importing swagger_ui, whose package imports its web-framework helpers.
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the docs page needs the swagger-ui-py package")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def render_plugin() -> SwaggerRenderPlugin:
    """Swagger UI, its scripts and styles from this bridge rather than a CDN."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
    )


def assets() -> Router:
    """Swagger UI's files."""
    return create_static_files_router(
        path=ASSETS, directories=[_swagger_files()], name="docs-assets", include_in_schema=False
    )
