"""The bridge's fetch of chat image URLs against real servers on 127.0.0.1, with name resolution
and the socket connect step replaced: it connects only to an address it checked (DNS rebinding,
redirect hops), keeps the URL's name for Host and TLS, ends at one total deadline, ignores
proxy variables and checks hosts before a configured proxy carries the request.

No packet leaves loopback: the replaced resolver answers only the names the test gives it, and
the replaced connect step records every address it is asked for and refuses all but 127.0.0.1.
"""

from __future__ import annotations

import io
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import pytest
from PIL import Image

from inferline_bridge import outbound
from inferline_bridge.chat.images import load
from inferline_bridge.errors import APIError
from inferline_bridge.settings import BridgeSettings, launch
from inferline_core.bridge_launch import settings_document
from inferline_core.config import ConfigError, load_config
from tests.fixtures.certs import write_certs

PARAM = "messages[0].content[1].image_url"
PUBLIC = "203.0.113.7"  # a documentation address: nothing may ever connect to it


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()


@dataclass
class Site:
    """A loopback HTTP server and the requests it saw (path, Host header)."""

    port: int
    seen: list[tuple[str, str]] = field(default_factory=list)


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    """A picture, a redirect to rebind.test, and a picture that drips one byte at a time."""
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Host", "")))
            port = self.server.server_address[1]
            if self.path == "/drip":
                self._drip()
                return
            status, headers, body = {
                "/cat.png": (200, {"Content-Type": "image/png"}, PNG),
                "/away": (302, {"Location": f"http://rebind.test:{port}/cat.png"}, b""),
            }.get(self.path, (404, {}, b""))
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
                for _ in range(300):  # far past any deadline in these tests
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass  # the client hung up

    for port in _serve(Handler):
        yield Site(port, seen)


@dataclass
class Net:
    """What the replaced resolver answers (one list per lookup, the last repeated) and what
    was looked up and connected to."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    connects: list[str] = field(default_factory=list)


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch) -> Net:
    state = Net()

    async def resolve(host: str, port: int) -> list[str]:
        state.lookups.append(host)
        if host.replace(".", "").isdigit():
            return [host]
        if host not in state.answers:
            raise OSError(f"test resolver: no answer for {host}")
        queue = state.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    real_connect = httpcore.AnyIOBackend.connect_tcp

    async def connect(self: httpcore.AnyIOBackend, host: str, port: int, **kwargs: Any) -> Any:
        state.connects.append(host)
        if host != "127.0.0.1":
            raise httpcore.ConnectError(f"test: no connection to {host}")
        return await real_connect(self, host, port, **kwargs)

    monkeypatch.setattr(outbound, "resolve", resolve)
    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect)
    return state


def _settings(*allowed: str, timeout_s: float = 10.0) -> BridgeSettings:
    return BridgeSettings(image_url_allowed=allowed, image_fetch_timeout_s=timeout_s)


async def _refusal(url: str, settings: BridgeSettings) -> APIError:
    with pytest.raises(APIError) as caught:
        await load(url, None, settings, PARAM)
    assert caught.value.param == PARAM
    return caught.value


async def test_connects_to_the_checked_address_and_keeps_the_name(site: Site, net: Net) -> None:
    net.answers["pictures.test"] = [["127.0.0.1"]]
    image = await load(
        f"http://pictures.test:{site.port}/cat.png", None, _settings("127.0.0.1/32"), PARAM
    )
    assert image == (PNG, "image/png")
    assert net.lookups == ["pictures.test"]
    assert net.connects == ["127.0.0.1"]
    assert site.seen == [("/cat.png", f"pictures.test:{site.port}")]


async def test_a_rebinding_answer_is_never_used(site: Site, net: Net) -> None:
    # Public first, loopback on any later lookup: only the first answer may be connected to.
    net.answers["rebind.test"] = [[PUBLIC], ["127.0.0.1"]]
    error = await _refusal(f"http://rebind.test:{site.port}/cat.png", _settings("203.0.113.0/24"))
    assert error.status == 400
    assert net.lookups == ["rebind.test"]
    assert net.connects == [PUBLIC]
    assert site.seen == []


async def test_every_redirect_hop_connects_to_its_checked_address(site: Site, net: Net) -> None:
    # Loopback is allowed here, so only pinning keeps the second hop off the loopback server.
    net.answers["pictures.test"] = [["127.0.0.1"]]
    net.answers["rebind.test"] = [[PUBLIC], ["127.0.0.1"]]
    settings = _settings("127.0.0.1/32", "203.0.113.0/24")
    error = await _refusal(f"http://pictures.test:{site.port}/away", settings)
    assert error.status == 400
    assert net.lookups == ["pictures.test", "rebind.test"]
    assert net.connects == ["127.0.0.1", PUBLIC]
    assert site.seen == [("/away", f"pictures.test:{site.port}")]


@pytest.mark.parametrize(
    "answer", [[PUBLIC, "127.0.0.1"], ["127.0.0.1"], ["169.254.169.254"], ["::1"], []]
)
async def test_any_answer_not_allowed_refuses_before_connecting(
    site: Site, net: Net, answer: list[str]
) -> None:
    net.answers["mixed.test"] = [answer]
    error = await _refusal(f"http://mixed.test:{site.port}/cat.png", _settings("203.0.113.0/24"))
    assert error.status == 403
    assert "127.0.0.1" not in error.message and "169.254" not in error.message
    assert net.connects == []
    assert site.seen == []


async def test_an_unknown_name_is_a_400(net: Net) -> None:
    error = await _refusal("http://nowhere.test/cat.png", _settings())
    assert error.status == 400
    assert net.connects == []


@pytest.fixture
def tls_names(tmp_path: Path) -> Iterator[tuple[int, list[str]]]:
    """A loopback TLS listener that records the server name each client asks for."""
    names: list[str] = []
    certs = write_certs(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name or "") or None
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def accept_one() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(10)
            with context.wrap_socket(conn, server_side=True):
                pass
        except OSError:
            pass  # the client refuses our test certificate, as it should

    thread = threading.Thread(target=accept_one, daemon=True)
    thread.start()
    yield listener.getsockname()[1], names
    thread.join(timeout=10)
    listener.close()


async def test_tls_server_name_is_the_urls_name(tls_names: tuple[int, list[str]], net: Net) -> None:
    port, names = tls_names
    net.answers["pictures.test"] = [["127.0.0.1"]]
    error = await _refusal(f"https://pictures.test:{port}/cat.png", _settings("127.0.0.1/32"))
    assert error.status == 400  # a certificate not issued for pictures.test is not trusted
    assert net.connects == ["127.0.0.1"]
    assert names == ["pictures.test"]


async def test_a_slow_drip_ends_at_the_deadline(site: Site, net: Net) -> None:
    # Each byte comes well within any per-read timeout; only a total deadline stops this.
    net.answers["pictures.test"] = [["127.0.0.1"]]
    started = time.monotonic()
    error = await _refusal(
        f"http://pictures.test:{site.port}/drip", _settings("127.0.0.1/32", timeout_s=1.0)
    )
    elapsed = time.monotonic() - started
    assert error.status == 400
    assert "longer than 1 s" in error.message
    assert 0.9 <= elapsed < 10  # generous: the machine is shared


async def test_proxy_variables_change_nothing(
    site: Site, net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxied: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            proxied.append(self.path)
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()

    for proxy_port in _serve(Proxy):
        proxy = f"http://127.0.0.1:{proxy_port}"
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        net.answers["pictures.test"] = [["127.0.0.1"]]
        image = await load(
            f"http://pictures.test:{site.port}/cat.png", None, _settings("127.0.0.1/32"), PARAM
        )
        assert image == (PNG, "image/png")
        assert proxied == []
        assert site.seen == [("/cat.png", f"pictures.test:{site.port}")]
        assert net.connects == ["127.0.0.1"]


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A forward proxy on 127.0.0.1 that answers every request itself (it never connects
    anywhere) and records (request target, Host header)."""
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Host", "")))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

    for port in _serve(Handler):
        yield f"http://127.0.0.1:{port}", seen


async def test_a_configured_proxy_carries_checked_fetches(
    proxy: tuple[str, list[tuple[str, str]]], net: Net
) -> None:
    proxy_url, seen = proxy
    net.answers["pictures.test"] = [[PUBLIC]]
    settings = BridgeSettings(image_url_allowed=("203.0.113.0/24",), image_fetch_proxy=proxy_url)
    image = await load("http://pictures.test:8080/cat.png", None, settings, PARAM)
    assert image == (PNG, "image/png")
    assert net.lookups == ["pictures.test"]  # checked here, even though the proxy connects
    assert net.connects == ["127.0.0.1"]  # the proxy only
    assert seen == [("http://pictures.test:8080/cat.png", "pictures.test:8080")]


@pytest.mark.parametrize("answer", [["127.0.0.1"], [PUBLIC, "10.0.0.1"]])
async def test_a_configured_proxy_never_carries_refused_hosts(
    proxy: tuple[str, list[tuple[str, str]]], net: Net, answer: list[str]
) -> None:
    proxy_url, seen = proxy
    net.answers["inside.test"] = [answer]
    settings = BridgeSettings(image_url_allowed=("203.0.113.0/24",), image_fetch_proxy=proxy_url)
    error = await _refusal("http://inside.test/cat.png", settings)
    assert error.status == 403
    assert net.connects == []
    assert seen == []


def test_the_proxy_setting_comes_from_api_and_must_be_http(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[api]\nimage_fetch_proxy = "http://egress.internal:3128"\n')
    document = settings_document(load_config(config, environ={}), "127.0.0.1:1", "127.0.0.1", 1)
    settings = launch(document).settings
    assert settings.image_fetch_proxy == "http://egress.internal:3128"
    config.write_text('[api]\nimage_fetch_proxy = "egress.internal:3128"\n')
    with pytest.raises(ConfigError, match="image_fetch_proxy"):
        load_config(config, environ={})
