"""Debian's Chromium driven by Playwright, for tests of the playground page.

Playwright's own browser download cannot work on these machines: the tests launch the system's
Chromium. A ``Watched`` page records console errors and every request the page makes, so a test
can check that nothing failed and that nothing left the server's origin.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A microphone that plays a beep, allowed without a prompt.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
# Where screenshots go: a temporary folder unless this names one (to refresh docs/).
SCREENSHOTS_ENV = "INFERLINE_SCREENSHOTS"


def launch(playwright: Playwright) -> Browser:
    """Headless system Chromium."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


def screenshot_folder(default: Path) -> Path:
    """The folder screenshots go to."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Watched:
    """A page and what it did: console errors, uncaught exceptions, requested URLs."""

    page: Page
    errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _request(self, request: Request) -> None:
        self.urls.append(request.url)


@contextmanager
def watched(
    browser: Browser,
    *,
    api_key: str | None = None,
    dark: bool = False,
    phone: bool = False,
) -> Iterator[Watched]:
    """A fresh browser context and page; with ``api_key``, the key is already in the tab's
    session storage (as if asked for once), so the page never meets a 401."""
    size = {"width": 390, "height": 844} if phone else {"width": 1200, "height": 860}
    context = browser.new_context(
        viewport=size,
        color_scheme="dark" if dark else "light",
        accept_downloads=True,
        device_scale_factor=1,
    )
    if api_key is not None:
        context.add_init_script(f"sessionStorage.setItem('inferline.apiKey', {api_key!r});")
    page = context.new_page()
    seen = Watched(page)
    page.on("console", seen._console)
    page.on("pageerror", lambda error: seen.errors.append(f"uncaught: {error}"))
    page.on("request", seen._request)
    try:
        yield seen
    finally:
        context.close()
