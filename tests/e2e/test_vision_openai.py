"""Images in `/v1/chat/completions` on `inferline serve` with the tiny chat model and a tiny
projector: data URIs, URLs from a test server on 127.0.0.1, allowed local paths, and every
refusal, after each of which the server keeps serving."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from tests.e2e.serve import Served, serve


def _png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 220)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()


@pytest.fixture(scope="module")
def pictures() -> Iterator[str]:
    """An HTTP server on 127.0.0.1: a picture, a text page, a huge picture, redirects out, and
    a picture that drips a byte at a time."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            port = self.server.server_address[1]
            if self.path == "/drip":
                self._drip()
                return
            routes: dict[str, tuple[int, dict[str, str], bytes]] = {
                "/cat.png": (200, {"Content-Type": "image/png"}, PNG),
                "/page": (200, {"Content-Type": "text/html"}, b"<html></html>"),
                "/huge.png": (
                    200,
                    {"Content-Type": "image/png"},
                    b"\x89PNG" + b"\0" * (21 * 1024 * 1024),
                ),
                "/away": (302, {"Location": f"http://127.0.0.2:{port}/cat.png"}, b""),
                "/metadata": (302, {"Location": "http://169.254.169.254/latest"}, b""),
            }
            status, headers, body = routes.get(self.path, (404, {}, b""))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _drip(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(300):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass  # the bridge hung up

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def allowed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pictures")
    (folder / "cat.png").write_bytes(PNG)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 200)
    outside = folder.parent / "secret.png"
    outside.write_bytes(PNG)
    (folder / "link.png").symlink_to(outside)
    return folder


@pytest.fixture(scope="module")
def seeing(
    tiny_chat_gguf: Path,
    tiny_projector: Path,
    allowed: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("vision")
    config = workdir / "config.toml"
    config.write_text(
        f'[api]\nimage_folders = ["{allowed}"]\nimage_url_allowed = ["127.0.0.1/32"]\n'
        "image_fetch_timeout_s = 3\n"
        "[core]\ndefault_embedding_model = false\ndefault_speech_models = false\n"
    )
    args = [
        str(tiny_chat_gguf),
        "--mmproj",
        str(tiny_projector),
        "--nctx",
        "1024",
        "--config",
        str(config),
    ]
    with serve(args, workdir) as running:
        yield running


def _ask(served: Served, image_url: dict[str, Any]) -> httpx.Response:
    content = [
        {"type": "text", "text": "Describe it."},
        {"type": "image_url", "image_url": image_url},
    ]
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 3}
    return httpx.post(served.base_url + "/v1/chat/completions", json=body, timeout=60)


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["usage"]["completion_tokens"] == 3
    return body


def test_data_uri_through_the_openai_sdk(seeing: Served) -> None:
    sdk = openai.OpenAI(base_url=seeing.base_url + "/v1", api_key="unused", max_retries=0)
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content: Any = [
        {"type": "text", "text": "Describe it."},
        {"type": "image_url", "image_url": {"url": uri, "detail": "low"}},
    ]
    with_image = sdk.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": content}], max_tokens=3
    )
    text_only = sdk.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "Describe it."}], max_tokens=3
    )
    assert with_image.usage and text_only.usage
    assert with_image.usage.prompt_tokens >= text_only.usage.prompt_tokens + 4  # the image's tokens
    chunks = list(
        sdk.chat.completions.create(
            model="tiny-chat",
            messages=[{"role": "user", "content": content}],
            max_tokens=3,
            stream=True,
        )
    )
    assert chunks[-1].choices[0].finish_reason == "length"


def test_url_and_allowed_paths(seeing: Served, pictures: str, allowed: Path) -> None:
    _ok(_ask(seeing, {"url": f"{pictures}/cat.png"}))
    _ok(_ask(seeing, {"url": str(allowed / "cat.png")}))
    _ok(_ask(seeing, {"url": f"file://{allowed / 'cat.png'}"}))
    _ok(_ask(seeing, {"path": str(allowed / "cat.png")}))  # Nexa's form


@pytest.mark.parametrize(
    ("image_url", "status"),
    [
        ({"url": "/etc/passwd"}, 403),
        ({"path": "ALLOWED/../secret.png"}, 403),
        ({"path": "ALLOWED/link.png"}, 403),
        ({"url": "PICTURES/away"}, 403),
        ({"url": "PICTURES/metadata"}, 403),
        ({"url": "http://10.1.2.3/cat.png"}, 403),
        ({"url": "PICTURES/page"}, 400),
        ({"url": "PICTURES/missing.png"}, 400),
        ({"url": "PICTURES/huge.png"}, 413),
        ({"url": "PICTURES/drip"}, 400),
        ({"path": "ALLOWED/broken.png"}, 400),
        ({"url": "data:image/png;base64,@@@"}, 400),
        ({"url": "ftp://example.com/cat.png"}, 400),
    ],
)
def test_refusals_leave_the_server_serving(
    seeing: Served, pictures: str, allowed: Path, image_url: dict[str, str], status: int
) -> None:
    image_url = {
        k: v.replace("ALLOWED", str(allowed)).replace("PICTURES", pictures)
        for k, v in image_url.items()
    }
    response = _ask(seeing, image_url)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == "messages[0].content[1].image_url"
    assert "root:" not in error["message"] and "10.1.2.3" not in error["message"]
    assert "127.0.0.2" not in error["message"] and "169.254" not in error["message"]
    _ok(_ask(seeing, {"url": str(allowed / "cat.png")}))


def test_a_50_mb_body_is_413(seeing: Served) -> None:
    uri = "data:image/png;base64," + "A" * (50 * 1024 * 1024)
    assert _ask(seeing, {"url": uri}).status_code == 413
    assert httpx.get(seeing.base_url + "/health").status_code == 200
