"""The playground's files as shipped in the package: everything the page refers to is there,
nothing points off the machine, no script writes HTML from strings, and the bridge serves them
without a key (no core needed)."""

from __future__ import annotations

import re

from litestar.testing import TestClient

from inferline_bridge.app import create_app
from inferline_bridge.playground.routes import ASSET_PREFIX, SECURITY_HEADERS, STATIC
from inferline_bridge.settings import BridgeSettings


def test_every_asset_the_page_and_scripts_name_is_shipped() -> None:
    named = set(
        re.findall(r'(?:src|href)="/playground/([^"]+)"', (STATIC / "index.html").read_text())
    )
    for script in STATIC.glob("*.js"):
        named |= set(re.findall(r'from "\./([^"]+)"', script.read_text()))
    assert {"main.js", "app.css", "icon.svg", "api.js", "markdown.js"} <= named
    assert all((STATIC / name).is_file() for name in named), named
    assert ASSET_PREFIX == "/playground/"


def test_offline_and_no_html_from_strings() -> None:
    for path in STATIC.iterdir():
        text = path.read_text()
        # The SVG's XML namespace is a name, not a request.
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path
        if path.suffix == ".js":
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                assert sink not in text, (path.name, sink)
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "require-trusted-types-for 'script'" in policy


def test_page_and_files_are_open_and_the_api_is_not() -> None:
    settings = BridgeSettings(api_keys=("sk-k",), require_auth=True, core_address="127.0.0.1:1")
    with TestClient(create_app(settings)) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert (
            page.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        )
        script = http.get("/playground/main.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert http.get("/v1/models").status_code == 401
        missing = http.get("/playground/nothing.js")
        assert missing.status_code == 404
        assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
