"""The playground's files as shipped in the package: everything the page refers to is there,
nothing points off the machine, and no script writes HTML from strings."""

from __future__ import annotations

import re

from inferline_bridge.playground.routes import ASSET_PREFIX, SECURITY_HEADERS, STATIC


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
