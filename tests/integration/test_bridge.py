"""The bridge app over a real core (tiny GGUF), through Litestar's test client."""

from __future__ import annotations

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


def _models(path: Path) -> dict[str, ModelConfig]:
    return {"tiny": ModelConfig(path=str(path), context_length=512)}


@pytest.fixture(scope="module")
def core(tiny_chat_gguf: Path) -> Iterator[str]:
    with threaded_core(_models(tiny_chat_gguf)) as address:
        yield address


@pytest.fixture
async def http(core: str) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(BridgeSettings(core_address=core, max_body_bytes=1024 * 1024))
    async with AsyncTestClient(app) as client:
        yield client


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == ERROR_KEYS
    return error


async def test_nexa_aliases_and_max_completion_tokens(http: AsyncTestClient[Any]) -> None:
    nexa = await http.post(
        "/v1/chat/completions",
        json={"messages": HI, "max_new_tokens": 5, "top_k": 1, "stop_words": ["\x00"]},
    )
    assert nexa.json()["usage"]["completion_tokens"] == 5
    openai = await http.post(
        "/v1/chat/completions", json={"messages": HI, "max_completion_tokens": 3, "n": 2}
    )
    body = openai.json()
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert body["usage"]["completion_tokens"] == 6


async def test_body_too_large_is_413(http: AsyncTestClient[Any]) -> None:
    big = b'{"messages": [{"role": "user", "content": "' + b"x" * (2 * 1024 * 1024) + b'"}]}'
    response = await http.post(
        "/v1/chat/completions", content=big, headers={"content-type": "application/json"}
    )
    _error(response, 413)
    assert (await http.get("/health")).status_code == 200


async def test_unknown_route_and_wrong_method(http: AsyncTestClient[Any]) -> None:
    _error(await http.get("/v1/nothing-here"), 404)
    _error(await http.get("/v1/chat/completions"), 405)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": HI, "temperature": "hot"}, "temperature"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": HI, "tools": [{"type": "function"}]}, "tools[0]"),
        ({"messages": HI, "response_format": {"type": "xml"}}, "response_format.type"),
        ({"messages": HI, "tool_choice": "always"}, "tool_choice"),
        ({"messages": HI, "tool_choice": "auto"}, "tool_choice"),
        ({"messages": HI, "functions": [{"name": "f"}]}, "functions"),
        ({"messages": HI, "logprobs": 3}, "logprobs"),
        ({"messages": HI, "logprobs": True, "top_logprobs": 30}, "top_logprobs"),
        (
            {
                "messages": HI,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "n", "schema": {"type": "integer", "minimum": 1}},
                },
            },
            "response_format",
        ),
        (
            {
                "messages": HI,
                "tools": [{"type": "function", "function": {"name": "bad name"}}],
            },
            "tools[0].function.name",
        ),
        ({"messages": HI, "logit_bias": {"abc": 1}}, "logit_bias"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:,"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url",
        ),
        ({"messages": HI, "temperature": 9}, "temperature"),
        ({"messages": []}, "messages"),
    ],
)
async def test_bad_requests_name_their_param(
    http: AsyncTestClient[Any], body: dict[str, Any], param: str
) -> None:
    error = _error(await http.post("/v1/chat/completions", json=body), 400)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


async def test_completions_reject_prompt_lists(http: AsyncTestClient[Any]) -> None:
    error = _error(await http.post("/v1/completions", json={"prompt": ["a", "b"]}), 400)
    assert error["param"] == "prompt"


async def test_streamed_unknown_model_is_a_plain_404(http: AsyncTestClient[Any]) -> None:
    response = await http.post(
        "/v1/chat/completions", json={"model": "nope", "messages": HI, "stream": True}
    )
    assert _error(response, 404)["code"] == "model_not_found"


async def test_full_queue_is_429_with_retry_after(tiny_chat_gguf: Path) -> None:
    with threaded_core(_models(tiny_chat_gguf), max_queue=0) as address:
        app = create_app(BridgeSettings(core_address=address))
        async with AsyncTestClient(app) as http:
            response = await http.post("/v1/chat/completions", json={"messages": HI})
            assert _error(response, 429)["code"] == "queue_full"
            assert int(response.headers["retry-after"]) >= 1


async def test_core_unreachable_is_503() -> None:
    app = create_app(BridgeSettings(core_address=f"127.0.0.1:{free_port()}", request_timeout=5))
    async with AsyncTestClient(app) as http:
        assert (await http.get("/health")).status_code == 503
        assert (await http.get("/health/ready")).status_code == 503
        # Alive without a core: an orchestrator keeps the bridge instead of restarting it.
        assert (await http.get("/health/live")).status_code == 200
        response = await http.post("/v1/chat/completions", json={"messages": HI})
        assert _error(response, 503)["type"] == "server_error"
