"""Keys, rate limits, CORS, body limits and TLS, on real `inferline serve` / core processes
started with configs written here."""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import openai
import pytest

import inferline
from tests.e2e.serve import Served, free_port, serve
from tests.fixtures.certs import Certs, write_certs

KEYS = ["sk-first-key", "sk-second-key"]
CORE_TOKEN = "core-token-not-for-logs"
HI = [{"role": "user", "content": "hi"}]
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/models", None),
    ("POST", "/v1/chat/completions", {"messages": HI, "max_tokens": 2}),
    ("POST", "/v1/completions", {"prompt": "the", "max_tokens": 2}),
    ("POST", "/v1/embeddings", {"input": "hello"}),
    (
        "POST",
        "/v1/function-calling",
        {
            "messages": HI,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "max_tokens": 2,
        },
    ),
]


def _config(tmp: Path, body: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(body)
    return path


def _serve_with(tiny_chat_gguf: Path, workdir: Path, body: str) -> Any:
    model = workdir / "tiny-chat.gguf"
    if not model.exists():
        model.symlink_to(tiny_chat_gguf)
    config = _config(workdir, body)
    return serve([str(model), "--nctx", "512", "--config", str(config)], workdir)


@pytest.fixture(scope="module")
def locked(tiny_chat_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    keys = ", ".join(f'"{k}"' for k in KEYS)
    body = f'[api]\napi_key = [{keys}]\n[core]\napi_key = ["{CORE_TOKEN}"]\n'
    with _serve_with(tiny_chat_gguf, tmp_path_factory.mktemp("locked"), body) as running:
        yield running


def _call(
    served: Served, method: str, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    return httpx.request(method, served.base_url + path, json=body, headers=headers, timeout=60)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_needs_a_key(locked: Served, method: str, path: str, body: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"x-api-key": "sk-wrong"}):
        refused = _call(locked, method, path, body, headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer")
        error = refused.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == "invalid_api_key"
    for headers in ({"Authorization": f"Bearer {KEYS[0]}"}, {"x-api-key": KEYS[1]}):
        assert _call(locked, method, path, body, headers).status_code == 200


def test_health_is_open_and_keys_stay_out_of_logs(locked: Served) -> None:
    for path in ("/health", "/health/live", "/health/ready"):
        assert httpx.get(locked.base_url + path).status_code == 200
    sdk = openai.OpenAI(base_url=locked.base_url + "/v1", api_key=KEYS[0], max_retries=0)
    assert sdk.chat.completions.create(model="tiny-chat", messages=HI, max_tokens=2).choices  # type: ignore[arg-type]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=locked.base_url + "/v1", api_key="nope", max_retries=0).models.list()
    log = locked.log.read_text()
    assert not any(secret in log for secret in [*KEYS, CORE_TOKEN, "sk-wrong"])


def test_core_needs_its_token_on_every_service(locked: Served) -> None:
    calls = {
        "chat": lambda c: c.chat(messages=HI, max_tokens=1),
        "complete": lambda c: c.complete(prompt="a", max_tokens=1),
        "embed": lambda c: c.embed("hello"),
        "models": lambda c: c.list_models(),
    }
    with inferline.Client(locked.grpc_address) as anonymous:
        assert anonymous.health()  # health and reflection stay open by default
        for call in calls.values():
            with pytest.raises(inferline.UnauthenticatedError):
                call(anonymous)
    with inferline.Client(locked.grpc_address, api_key=CORE_TOKEN) as trusted:
        for call in calls.values():
            call(trusted)
    channel = grpc.insecure_channel(locked.grpc_address)
    for service in ("ImageService/GenerateImage", "AudioService/Transcribe"):
        stub = channel.unary_unary(f"/inferline.v1.{service}", lambda m: b"", lambda b: b)
        with pytest.raises(grpc.RpcError) as raised:
            stub(b"")
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    channel.close()


def test_request_limit_trips_with_headers(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    with _serve_with(tiny_chat_gguf, tmp_path, "[api]\nmax_requests_per_minute = 3\n") as served:
        answers = [_call(served, "GET", "/v1/models", None, {}) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["x-ratelimit-limit-requests"] == "3"
        assert answers[2].headers["x-ratelimit-remaining-requests"] == "0"
        assert 1 <= int(answers[3].headers["retry-after"]) <= 60
        assert answers[3].json()["error"]["type"] == "rate_limit_error"
        assert httpx.get(served.base_url + "/health").status_code == 200  # never limited


def test_token_limit_trips_on_a_long_generation(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    with _serve_with(tiny_chat_gguf, tmp_path, "[api]\nmax_tokens_per_minute = 100\n") as served:
        body = {"messages": HI, "max_tokens": 150, "stream": True}
        with httpx.stream("POST", served.base_url + "/v1/chat/completions", json=body) as stream:
            assert stream.status_code == 200
            assert stream.headers["x-ratelimit-remaining-tokens"] == "100"
            assert [line for line in stream.iter_lines() if line][-1] == "data: [DONE]"
        refused = _call(served, "POST", "/v1/chat/completions", {"messages": HI}, {})
        assert refused.status_code == 429
        assert refused.headers["x-ratelimit-remaining-tokens"] == "0"


def test_cors_preflight(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    config = '[api]\ncors_enabled = true\ncors_origins = ["https://app.example"]\n'
    with _serve_with(tiny_chat_gguf, tmp_path, config) as served:

        def preflight(origin: str) -> httpx.Response:
            headers = {
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            }
            return httpx.options(served.base_url + "/v1/chat/completions", headers=headers)

        allowed = preflight("https://app.example")
        assert allowed.status_code in (200, 204)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        refused = preflight("https://evil.example")
        assert refused.headers.get("access-control-allow-origin") != "https://evil.example"
        simple = httpx.get(
            served.base_url + "/v1/models", headers={"Origin": "https://app.example"}
        )
        assert simple.headers["access-control-allow-origin"] == "https://app.example"


def test_huge_body_is_413_and_the_server_stays_up(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    with _serve_with(tiny_chat_gguf, tmp_path, "") as served:
        huge = b'{"input": "' + b"a" * (30 * 1024 * 1024) + b'"}'
        response = httpx.post(
            served.base_url + "/v1/embeddings",
            content=huge,
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert response.status_code == 413
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        too_many = _call(
            served, "POST", "/v1/chat/completions", {"messages": HI, "max_tokens": 100000}, {}
        )
        assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "max_tokens"
        assert _call(served, "GET", "/v1/models", None, {}).status_code == 200


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return write_certs(tmp_path_factory.mktemp("certs"))


def _core(model: Path, config: Path, address: str, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "inferline_core.cli",
        "core",
        str(model),
        "--grpc-address",
        address,
    ]
    with log.open("wb") as sink:
        return subprocess.Popen(
            [*command, "--config", str(config)], stdout=sink, stderr=subprocess.STDOUT
        )


def test_tls_core_refuses_plaintext_and_serves_the_ca(
    tiny_chat_gguf: Path, tmp_path: Path, certs: Certs
) -> None:
    config = _config(
        tmp_path,
        f'[core]\ntls_cert = "{certs.server_cert}"\ntls_key = "{certs.server_key}"\n'
        f'tls_client_ca = "{certs.ca}"\n',
    )
    address = f"127.0.0.1:{free_port()}"
    core = _core(tiny_chat_gguf, config, address, tmp_path / "core.log")
    try:
        trusted = grpc.ssl_channel_credentials(
            root_certificates=certs.ca.read_bytes(),
            private_key=certs.client_key.read_bytes(),
            certificate_chain=certs.client_cert.read_bytes(),
        )
        with inferline.Client(address, credentials=trusted, timeout=10) as client:
            deadline = time.monotonic() + 60
            while not client.health(timeout=1) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert client.chat(messages=HI, max_tokens=2).usage.completion_tokens == 2
        with (
            inferline.Client(address, timeout=3) as plaintext,
            pytest.raises(inferline.UnavailableError),
        ):
            plaintext.list_models()
        no_client_cert = grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes())
        with (
            inferline.Client(address, credentials=no_client_cert, timeout=3) as anonymous,
            pytest.raises(inferline.UnavailableError),
        ):
            anonymous.list_models()
    finally:
        core.terminate()
        core.wait(20)


def test_serve_with_tls_on_both_sides(tiny_chat_gguf: Path, tmp_path: Path, certs: Certs) -> None:
    config = (
        f'[api]\ntls_cert = "{certs.server_cert}"\ntls_key = "{certs.server_key}"\n'
        f'[core]\ntls_cert = "{certs.server_cert}"\ntls_key = "{certs.server_key}"\n'
        f'tls_ca = "{certs.ca}"\n'
    )
    model = tmp_path / "tiny-chat.gguf"
    model.symlink_to(tiny_chat_gguf)
    port, grpc_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "inferline_core.cli", "serve", str(model), "--nctx", "512",
        "--config", str(_config(tmp_path, config)),
        "--host", "127.0.0.1", "--port", str(port), "--grpc-address", f"127.0.0.1:{grpc_port}",
    ]  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        trust = ssl.create_default_context(cafile=str(certs.ca))
        with httpx.Client(verify=trust, timeout=5) as https:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if https.get(f"https://127.0.0.1:{port}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
            reply = https.post(
                f"https://127.0.0.1:{port}/v1/chat/completions",
                json={"messages": HI, "max_tokens": 2},
            )
            assert reply.status_code == 200, log.read_text()
    finally:
        process.terminate()
        process.wait(30)


def test_api_keys_guard_the_grpc_port_under_serve(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    with _serve_with(tiny_chat_gguf, tmp_path, f'[api]\napi_key = ["{KEYS[0]}"]\n') as served:
        with (
            inferline.Client(served.grpc_address) as anonymous,
            pytest.raises(inferline.UnauthenticatedError),
        ):
            anonymous.chat(messages=HI, max_tokens=1)
        with inferline.Client(served.grpc_address, api_key=KEYS[0]) as keyed:
            assert keyed.chat(messages=HI, max_tokens=1).choices
        sdk = openai.OpenAI(base_url=served.base_url + "/v1", api_key=KEYS[0], max_retries=0)
        assert sdk.chat.completions.create(model="tiny-chat", messages=HI, max_tokens=1).choices  # type: ignore[arg-type]
    opened = tmp_path / "open"
    opened.mkdir()
    body = f'[api]\napi_key = ["{KEYS[0]}"]\n[core]\nuse_api_keys = false\n'
    with (
        _serve_with(tiny_chat_gguf, opened, body) as served,
        inferline.Client(served.grpc_address) as anonymous,
    ):
        assert anonymous.chat(messages=HI, max_tokens=1).choices
