"""The right error for the right fault: the bridge over real cores (tiny GGUF) answering for
faults that are the server's (a core away, a core refusing the bridge's key, a model that will
not load) and for numbers too large for the schema."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from inferline_bridge.app import create_app
from inferline_bridge.settings import BridgeSettings
from inferline_core.config import ModelConfig
from tests.e2e.serve import free_port
from tests.integration.core_server import threaded_core

HI = [{"role": "user", "content": "hi"}]
ERROR_KEYS = {"message", "type", "param", "code"}
BIG = 2**31


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == ERROR_KEYS
    return error


@pytest.fixture(scope="module")
def core(tiny_chat_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    missing = tmp_path_factory.mktemp("secret-folder") / "gone.gguf"
    models = {
        "tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=2048),
        "broken": ModelConfig(path=str(missing), context_length=512),
    }
    with threaded_core(models) as address:
        yield address


@pytest.fixture
async def http(core: str) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(create_app(BridgeSettings(core_address=core))) as client:
        yield client


async def test_core_away_is_503_then_recovers_without_a_new_bridge(tiny_chat_gguf: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    app = create_app(BridgeSettings(core_address=address, request_timeout=10))
    async with AsyncTestClient(app) as http:
        assert (await http.get("/health/live")).status_code == 200
        for path in ("/health", "/health/ready"):
            not_ready = await http.get(path)
            assert not_ready.status_code == 503
            assert int(not_ready.headers["retry-after"]) >= 1
        for method, path, body in [
            ("POST", "/v1/chat/completions", {"messages": HI, "max_tokens": 2}),
            ("POST", "/v1/chat/completions", {"messages": HI, "max_tokens": 2, "stream": True}),
            ("GET", "/v1/models", None),
        ]:
            response = await http.request(method, path, json=body)
            error = _error(response, 503)
            assert error["type"] == "server_error"
            assert error["code"] == "core_unavailable"
            assert address not in error["message"]  # no internal addresses
            assert int(response.headers["retry-after"]) >= 1
        models = {"tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=512)}
        with threaded_core(models, address=address):
            # The channel retries the connection at least every second (the SDK's options).
            deadline = time.monotonic() + 5
            while (await http.get("/health")).status_code != 200:
                assert time.monotonic() < deadline, "the bridge did not find the core again"
                await asyncio.sleep(0.1)
            reply = await http.post("/v1/chat/completions", json={"messages": HI, "max_tokens": 2})
            assert reply.status_code == 200, reply.text


async def test_core_refusing_the_bridge_key_is_502_not_401(tiny_chat_gguf: Path) -> None:
    models = {"tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=512)}
    with threaded_core(models, api_key=["right-token"]) as address:
        settings = BridgeSettings(core_address=address, core_api_key="wrong-token")
        async with AsyncTestClient(create_app(settings)) as http:
            for response in (
                await http.post("/v1/chat/completions", json={"messages": HI, "max_tokens": 2}),
                await http.get("/v1/models"),
            ):
                error = _error(response, 502)
                assert error["type"] == "server_error"
                assert error["code"] == "core_auth_failed"
                assert "wrong-token" not in response.text


async def test_model_that_fails_to_load_is_500_naming_it_not_its_path(
    http: AsyncTestClient[Any],
) -> None:
    for _ in range(2):  # the next request tries to load it again, and fails the same way
        response = await http.post(
            "/v1/chat/completions", json={"model": "broken", "messages": HI, "max_tokens": 2}
        )
        error = _error(response, 500)
        assert error["type"] == "server_error"
        assert error["code"] == "model_load_failed"
        assert "'broken'" in error["message"]
        assert "secret-folder" not in response.text and "gone.gguf" not in response.text
    listed = (await http.get("/v1/models/broken")).json()
    assert "secret-folder" not in str(listed)
    ok = await http.post("/v1/chat/completions", json={"messages": HI, "max_tokens": 2})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"messages": HI, "max_tokens": BIG}, "max_tokens"),
        ("/v1/chat/completions", {"messages": HI, "max_completion_tokens": BIG}, None),
        ("/v1/chat/completions", {"messages": HI, "max_new_tokens": BIG}, "max_new_tokens"),
        ("/v1/chat/completions", {"messages": HI, "n": BIG}, "n"),
        ("/v1/chat/completions", {"messages": HI, "top_k": BIG}, "top_k"),
        ("/v1/chat/completions", {"messages": HI, "top_k": -BIG - 1}, "top_k"),
        ("/v1/chat/completions", {"messages": HI, "logprobs": True, "top_logprobs": BIG}, None),
        ("/v1/chat/completions", {"messages": HI, "seed": 2**63}, "seed"),
        ("/v1/chat/completions", {"messages": HI, "logit_bias": {str(BIG): 1}}, "logit_bias"),
        ("/v1/completions", {"prompt": "a", "max_tokens": BIG}, "max_tokens"),
        ("/v1/completions", {"prompt": "a", "logprobs": BIG}, "logprobs"),
        ("/v1/embeddings", {"input": "a", "dimensions": BIG}, "dimensions"),
        ("/v1/images/generations", {"prompt": "a", "n": BIG}, "n"),
        ("/v1/images/generations", {"prompt": "a", "steps": BIG}, "steps"),
        ("/v1/images/generations", {"prompt": "a", "seed": 2**64}, "seed"),
        ("/v1/txt2img", {"prompt": "a", "width": BIG}, "width"),
        ("/v1/txt2img", {"prompt": "a", "height": BIG}, "height"),
        ("/v1/txt2img", {"prompt": "a", "sample_steps": BIG}, "sample_steps"),
    ],
)
async def test_integers_too_large_for_the_schema_are_400s(
    http: AsyncTestClient[Any], path: str, body: dict[str, Any], param: str | None
) -> None:
    error = _error(await http.post(path, json=body), 400)
    assert error["type"] == "invalid_request_error"
    name = param or next(key for key in body if key not in ("messages", "logprobs"))
    assert error["param"] == name
    assert name in error["message"]


async def test_multipart_integers_too_large_are_400s(http: AsyncTestClient[Any]) -> None:
    png = b"\x89PNG\r\n\x1a\n"
    for field, value in (("n", BIG), ("steps", BIG), ("seed", 2**63)):
        response = await http.post(
            "/v1/images/edits",
            data={"prompt": "a", field: str(value)},
            files={"image": ("a.png", png, "image/png")},
        )
        error = _error(response, 400)
        assert error["param"] == field


async def test_replayed_tool_call_with_invalid_json_arguments_is_accepted(
    http: AsyncTestClient[Any],
) -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Par'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    for extra in ({}, {"tools": tools}):
        response = await http.post(
            "/v1/chat/completions", json={"messages": messages, "max_tokens": 2, **extra}
        )
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["role"] == "assistant"
