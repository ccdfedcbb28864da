"""The playground page at ``/`` in a real browser (Debian's Chromium through Playwright) against
`inferline serve` with keys on and the tiny chat, tiny diffusion, bundled speech and bundled
embedding models. Screenshots of each state go to a folder (see tests/e2e/browser.py)."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, Route, expect, sync_playwright

import inferline
from tests.e2e.browser import Watched, launch, screenshot_folder, watched
from tests.e2e.serve import Served, serve

KEY = "sk-playground-key"
# Markup a model might write: HTML that must stay text, Markdown that may render.
MARKUP = "**bold** <img src=x onerror=alert(1)> <script>alert(2)</script> `code`"


@pytest.fixture(scope="module")
def served(
    tiny_chat_gguf: Path,
    tiny_projector: Path,
    tiny_diffusion: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("playground")
    config = workdir / "config.toml"
    # One answer at a time on the chat model: a second request is served at once only if
    # Stop really ended the first on the core.
    config.write_text(
        f'[api]\napi_key = ["{KEY}"]\noutput_folder = "{workdir / "outputs"}"\n'
        f'[api.models.tiny-chat]\npath = "{tiny_chat_gguf}"\ncontext_length = 32768\n'
        "parallel = 1\n"
        f'[api.models.tiny-sd]\npath = "{tiny_diffusion}"\ntype = "image"\n'
        'backend = "diffusers"\n'
        f'[api.models.tiny-vision]\npath = "{tiny_chat_gguf}"\ntype = "vision"\n'
        f'mmproj = "{tiny_projector}"\ncontext_length = 1024\n'
    )
    with serve(["--config", str(config)], workdir) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_folder(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture
def tab(browser: Browser, served: Served) -> Iterator[Watched]:
    """The page opened with the key already given, checked afterwards for console errors and
    for requests that left the server's origin."""
    with watched(browser, api_key=KEY) as seen:
        _open(seen.page, served)
        yield seen
        _assert_clean(seen, served)


def _open(page: Page, served: Served) -> None:
    page.goto(served.base_url + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)


def _assert_clean(seen: Watched, served: Served) -> None:
    assert seen.errors == []
    origin = urlsplit(served.base_url)
    for url in seen.urls:
        parts = urlsplit(url)
        if parts.scheme in ("blob", "data"):
            continue
        assert (parts.scheme, parts.hostname, parts.port) == ("http", "127.0.0.1", origin.port), url


def _send(page: Page, text: str, max_tokens: int) -> None:
    panel = page.locator("#panel-chat")
    panel.get_by_label("Max tokens").fill(str(max_tokens))
    panel.get_by_label("Temperature").fill("0")
    panel.get_by_label("Message").fill(text)
    panel.get_by_label("Message").press("Enter")


def _start_long_answer(page: Page) -> Locator:
    """Ask for an answer longer than any test waits for; return the Stop button."""
    _send(page, "Tell me everything.", 30_000)
    return page.locator("#panel-chat").get_by_role("button", name="Stop", exact=True)


def _answers(page: Page) -> Any:
    return page.locator("#chat-log li.assistant .body")


def test_page_loads_offline_with_labels(tab: Watched, served: Served, shots: Path) -> None:
    page = tab.page
    chat = page.locator("#panel-chat")
    for label in ("Model", "Message", "System prompt", "Temperature", "Max tokens"):
        expect(chat.get_by_label(label, exact=True)).to_be_visible()
    for name in ("Send", "Stop", "Clear"):
        expect(chat.get_by_role("button", name=name, exact=True)).to_be_visible()
    expect(chat.get_by_label("Model", exact=True)).to_have_value("tiny-chat")
    expect(page.get_by_role("status").first).to_contain_text("models served")
    # Every control of every panel has an accessible name.
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map((el) => el.id)"""
    )
    assert unnamed == []
    # A chat model without vision takes no image.
    expect(chat.get_by_text("Attach image")).to_be_hidden()
    for name in ("Images", "Speech", "Embeddings"):
        page.get_by_role("tab", name=name).click()
        expect(page.locator(f"#panel-{name.lower()}").get_by_label("Model")).to_be_enabled()
        expect(chat).to_be_hidden()
    # The tabs follow the arrow keys; Shift+Enter is a new line, not a message.
    page.get_by_role("tab", name="Embeddings").press("ArrowRight")
    expect(page.get_by_role("tab", name="Chat")).to_be_focused()
    expect(chat).to_be_visible()
    message = chat.get_by_label("Message")
    message.fill("first line")
    message.press("Shift+Enter")
    message.press_sequentially("second line")
    expect(message).to_have_value("first line\nsecond line")
    expect(page.locator("#chat-log li")).to_have_count(0)
    page.screenshot(path=shots / "playground-empty.png")
    page_response = httpx.get(served.base_url + "/", timeout=10)
    assert "require-trusted-types-for 'script'" in page_response.headers["content-security-policy"]


def test_chat_streams_into_the_page(tab: Watched, shots: Path) -> None:
    page = tab.page
    # A slow link (about 40 kB/s) spreads the events over a few seconds whatever the model's
    # speed; the page must show partial answers while Stop is still live.
    link = page.context.new_cdp_session(page)
    link.send("Network.enable")
    conditions = {"offline": False, "latency": 0, "uploadThroughput": -1}
    link.send("Network.emulateNetworkConditions", {**conditions, "downloadThroughput": 40_000})
    page.evaluate(
        """() => { window.partial = []; new MutationObserver(() => {
            const answer = document.querySelector('#chat-log li.assistant .body');
            if (answer && !document.getElementById('chat-stop').disabled)
              window.partial.push(answer.textContent.length);
          }).observe(document.getElementById('chat-log'),
                     {subtree: true, childList: true, characterData: true}); }"""
    )
    _send(page, "Write a haiku about the sea.", 400)
    expect(page.locator("#chat-stats")).to_contain_text("tokens/s", timeout=60_000)
    link.send("Network.emulateNetworkConditions", {**conditions, "downloadThroughput": -1})
    stats = page.locator("#chat-stats").inner_text()
    assert "400 tokens" in stats and "TTFT" in stats and "finish: length" in stats
    final = len(_answers(page).first.text_content() or "")
    growing = sorted({n for n in page.evaluate("window.partial") if 0 < n < final})
    assert len(growing) >= 3, (growing, final)
    expect(page.locator("#chat-log li.user")).to_have_text(re.compile("haiku about the sea"))
    page.screenshot(path=shots / "playground-chat.png")
    # The conversation stays in the page: a second turn sends both earlier messages.
    with page.expect_request("**/v1/chat/completions") as sent:
        _send(page, "And another.", 8)
    expect(page.locator("#chat-stats")).to_contain_text("8 tokens", timeout=60_000)
    roles = [m["role"] for m in json.loads(sent.value.post_data or "{}")["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


def test_stop_stays_in_reach_while_a_long_answer_streams(tab: Watched) -> None:
    """An answer taller than the window scrolls inside the conversation; the page does not
    jump to its end at each token, so the composer and Stop stay on screen, still. The user may
    scroll the conversation back; it follows the answer again from its end."""
    page = tab.page
    stop = _start_long_answer(page)
    page.wait_for_function(
        """() => { const a = document.querySelector('#chat-log li.assistant');
                   return a && a.getBoundingClientRect().height > 2 * window.innerHeight; }""",
        timeout=60_000,
    )
    frames = page.evaluate(
        """async () => { const stop = document.getElementById('chat-stop'), seen = [];
            for (let i = 0; i < 20; i++) {
              await new Promise(requestAnimationFrame);
              const box = stop.getBoundingClientRect();
              seen.push([Math.round(box.top), Math.round(box.bottom), window.innerHeight,
                         document.querySelector('#chat-log li.assistant .body').textContent.length]);
            }
            return seen; }"""
    )
    assert frames[0][3] < frames[-1][3], frames  # the answer grew meanwhile
    assert len({(top, bottom) for top, bottom, _, _ in frames}) == 1, frames
    top, bottom, height, _ = frames[0]
    assert top >= 0 and bottom <= height, frames
    # Scrolled back, the conversation stays where the reader put it ...
    log = page.locator("#chat-log")
    log.evaluate("log => { log.scrollTop = 0; }")
    page.wait_for_timeout(300)
    assert log.evaluate("log => log.scrollTop") == 0
    # ... and follows the answer again once scrolled to its end.
    log.evaluate("log => { log.scrollTop = log.scrollHeight; }")
    page.wait_for_timeout(300)
    assert log.evaluate("log => log.scrollHeight - log.scrollTop - log.clientHeight") < 4
    stop.click()
    expect(page.locator("#chat-log .note")).to_have_text("Stopped.")


def test_stop_ends_a_long_answer_and_frees_the_model(tab: Watched, served: Served) -> None:
    page = tab.page
    with inferline.Client(served.grpc_address, api_key=KEY) as core:

        def running() -> int:
            return core.get_model("tiny-chat").running_requests

        stop = _start_long_answer(page)
        expect(_answers(page).last).not_to_have_text("", timeout=30_000)
        assert running() == 1
        stop.click()
        expect(page.locator("#chat-log .note")).to_have_text("Stopped.")
        expect(stop).to_be_disabled()
        assert "finish: stopped" in page.locator("#chat-stats").inner_text()
        # The core ends the generation (tens of thousands of tokens short of its budget) ...
        deadline = time.monotonic() + 10
        while running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running() == 0
    assert len(_answers(page).last.inner_text()) < 30_000
    # ... so the next request is served at once, though the model serves one at a time.
    started = time.monotonic()
    reply = httpx.post(
        served.base_url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    assert time.monotonic() - started < 10


def test_refused_request_shows_the_servers_message(tab: Watched) -> None:
    page = tab.page
    _send(page, "Too long.", 100_000)  # more than the model's context
    alert = page.locator("#panel-chat").get_by_role("alert")
    expect(alert).to_contain_text("context", timeout=30_000)
    expect(page.locator("#panel-chat").get_by_role("button", name="Send")).to_be_enabled()
    # The failed turn is not part of the conversation: the next request sends one message.
    with page.expect_request("**/v1/chat/completions") as sent:
        _send(page, "Short.", 4)
    expect(page.locator("#chat-stats")).to_contain_text("4 tokens", timeout=60_000)
    roles = [m["role"] for m in json.loads(sent.value.post_data or "{}")["messages"]]
    assert roles == ["system", "user"]
    # Chromium logs the 400 itself; nothing else may be in the console.
    refused = [e for e in tab.errors if "status of 400" in e]
    assert len(refused) == 1
    tab.errors.remove(refused[0])


def test_image_attached_for_a_vision_model(tab: Watched, tmp_path: Path) -> None:
    page = tab.page
    picture = tmp_path / "blue.png"
    Image.new("RGB", (40, 30), (20, 120, 220)).save(picture)
    chat = page.locator("#panel-chat")
    chat.get_by_label("Model", exact=True).select_option("tiny-vision")
    chat.get_by_label("Attach image").set_input_files(picture)
    expect(chat.locator("#chat-attached")).to_have_text("blue.png")
    with page.expect_request("**/v1/chat/completions") as sent:
        _send(page, "What is in the picture?", 6)
    expect(page.locator("#chat-stats")).to_contain_text("6 tokens", timeout=60_000)
    content = json.loads(sent.value.post_data or "{}")["messages"][-1]["content"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    shown = page.locator("#chat-log li.user img")
    assert shown.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [40, 30]
    expect(chat.locator("#chat-attached")).to_have_text("")  # one image per message


def test_markup_in_model_output_is_text(tab: Watched, shots: Path) -> None:
    page = tab.page

    # The model is made to write MARKUP (a JSON schema with one constant) by adding a
    # response_format to the page's request on its way to the real server.
    def constrain(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        schema = {"name": "markup", "schema": {"const": MARKUP}}
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
        route.continue_(post_data=json.dumps(body))

    page.route("**/v1/chat/completions", constrain)
    _send(page, "Show me some HTML.", 200)
    expect(page.locator("#chat-stats")).to_contain_text("tokens", timeout=60_000)
    answer = _answers(page).last
    expect(answer).to_contain_text("<img src=x onerror=alert(1)> <script>alert(2)</script>")
    assert answer.locator("img, script").count() == 0
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator("code")).to_have_text("code")
    page.screenshot(path=shots / "playground-markup.png")


MARKDOWN = """# Title
Some *soft* and **strong** text with `a < b` and [a link](https://example.org/x).
[not a link](javascript:alert(1)) <b>raw</b>

- one
- two

1. first
2. second

> quoted

```python
if a < b:
    print("<tag>")
```
```
still open"""


def test_markdown_renderer_builds_nodes_from_text(tab: Watched) -> None:
    rendered = tab.page.evaluate(
        """async (text) => {
            const { render } = await import('/playground/markdown.js');
            const box = document.createElement('div');
            render(box, text);
            const tags = [...box.querySelectorAll('*')].map((node) => node.tagName.toLowerCase());
            const links = [...box.querySelectorAll('a')].map((a) => a.getAttribute('href'));
            const codes = [...box.querySelectorAll('pre code')].map((c) => c.textContent);
            return { tags: [...new Set(tags)].sort(), links, codes, text: box.textContent };
        }""",
        MARKDOWN,
    )
    assert rendered["tags"] == sorted(
        {"h3", "p", "em", "strong", "code", "a", "br", "ul", "ol", "li", "blockquote", "pre"}
    )
    assert rendered["links"] == ["https://example.org/x"]
    assert rendered["codes"] == ['if a < b:\n    print("<tag>")', "still open"]
    assert "[not a link](javascript:alert(1)) <b>raw</b>" in rendered["text"]


def test_image_generated_shown_and_downloadable(tab: Watched, shots: Path) -> None:
    page = tab.page
    page.get_by_role("tab", name="Images").click()
    panel = page.locator("#panel-images")
    panel.get_by_label("Prompt").fill("a red boat")
    panel.get_by_label("Size").select_option("64x64")
    panel.get_by_label("Steps").fill("2")
    panel.get_by_label("Seed").fill("3")
    panel.get_by_role("button", name="Generate").click()
    picture = panel.get_by_role("img", name="a red boat")
    expect(picture).to_be_visible(timeout=120_000)
    assert picture.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [64, 64]
    expect(panel.locator("#images-caption")).to_contain_text("seed 3")
    expect(panel.get_by_role("progressbar")).to_be_hidden()
    with page.expect_download() as download:
        panel.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "inferline-3.png"
    saved = Image.open(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert (saved.format, saved.size) == ("PNG", (64, 64))
    page.screenshot(path=shots / "playground-image.png", full_page=True)


def test_wav_transcribed_with_segments(
    tab: Watched, speech: dict[str, bytes], tmp_path: Path, shots: Path
) -> None:
    page = tab.page
    clip = tmp_path / "fox.wav"
    clip.write_bytes(speech["en"])
    page.get_by_role("tab", name="Speech").click()
    panel = page.locator("#panel-speech")
    panel.get_by_label("Audio file").set_input_files(clip)
    panel.get_by_role("button", name="Transcribe").click()
    expect(panel.locator("#speech-text")).to_contain_text("fox", timeout=120_000)
    rows = panel.locator("#speech-segments tbody tr")
    expect(rows.first).to_be_visible()
    expect(rows.first.locator("td").first).to_have_text(re.compile(r"^0:\d\d\.\d$"))
    page.screenshot(path=shots / "playground-speech.png", full_page=True)


def test_microphone_recording_transcribed(tab: Watched) -> None:
    page = tab.page
    page.get_by_role("tab", name="Speech").click()
    panel = page.locator("#panel-speech")
    record = panel.get_by_role("button", name="Record")
    record.click()
    stop = panel.get_by_role("button", name="Stop recording")
    expect(stop).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(1500)
    with page.expect_response("**/v1/audio/transcriptions", timeout=120_000) as answered:
        stop.click()
    # Chromium records WebM (Opus); the server decodes it like any uploaded file: about the
    # second and a half of (beeping) sound that was recorded.
    assert answered.value.status == 200, answered.value.text()
    assert 0.5 < answered.value.json()["duration"] < 15
    expect(panel.locator("#speech-result")).to_be_visible()
    expect(panel.locator("#speech-segments")).to_be_attached()
    expect(panel.locator("#speech-error")).to_have_text("")
    expect(record).to_have_text("Record")


def test_embeddings_heat_map(tab: Watched, shots: Path) -> None:
    page = tab.page
    page.get_by_role("tab", name="Embeddings").click()
    panel = page.locator("#panel-embeddings")
    panel.get_by_role("button", name="Compare").click()
    cells = panel.locator("#embeddings-matrix tr").nth(1).locator("td")
    expect(cells).to_have_count(4, timeout=60_000)
    values = [float(v) for v in cells.all_inner_texts()]
    assert values[0] == pytest.approx(1.0, abs=0.01)
    # The bundled MiniLM: the cat and the kitten are closer than the cat and the markets.
    assert values[1] > values[2] + 0.2
    page.screenshot(path=shots / "playground-embeddings.png", full_page=True)


def test_key_asked_once_and_a_wrong_key_shown(
    browser: Browser, served: Served, shots: Path
) -> None:
    with watched(browser) as seen:
        page = seen.page
        page.goto(served.base_url + "/")
        dialog = page.get_by_role("dialog", name="API key")
        expect(dialog).to_be_visible()
        dialog.get_by_label("API key").fill("sk-wrong")
        dialog.get_by_role("button", name="Use key").click()
        expect(dialog.get_by_role("alert")).to_have_text("the API key is not valid")
        page.screenshot(path=shots / "playground-key.png")
        dialog.get_by_label("API key").fill(KEY)
        dialog.get_by_role("button", name="Use key").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        assert page.evaluate("sessionStorage.getItem('inferline.apiKey')") == KEY
        # Once given, the key goes with every call: a chat needs no second question.
        _send(page, "hello", 4)
        expect(page.locator("#chat-stats")).to_contain_text("4 tokens", timeout=60_000)
        expect(dialog).to_be_hidden()


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_phone_layout(browser: Browser, served: Served, shots: Path, dark: bool) -> None:
    with watched(browser, api_key=KEY, phone=True, dark=dark) as seen:
        page = seen.page
        _open(page, served)
        _send(page, "Say hi in **bold**.", 24)
        expect(page.locator("#chat-stats")).to_contain_text("24 tokens", timeout=60_000)
        # Nothing wider than the phone's screen, on any tab.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for name in ("Images", "Speech", "Embeddings", "Chat"):
            page.get_by_role("tab", name=name).click()
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(21, 23, 28)") is dark
        page.screenshot(path=shots / f"playground-phone-{'dark' if dark else 'light'}.png")
        _assert_clean(seen, served)


def test_docs_page_renders_offline_without_a_key(browser: Browser, served: Served) -> None:
    """The Swagger UI page at /docs: its files come from the bridge, not a CDN, and it needs no
    key (the server has keys on) to show every operation of the OpenAPI document."""
    with watched(browser) as seen:
        seen.page.goto(served.base_url + "/docs")
        operations = seen.page.locator(".opblock")
        expect(operations.first).to_be_visible(timeout=30_000)
        assert operations.count() >= 15
        _assert_clean(seen, served)
