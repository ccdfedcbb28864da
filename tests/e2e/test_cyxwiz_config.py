"""A config.toml in CyxWiz's shape: ``[api] enabled``, ``api_key`` as one string, its limits
and CORS keys and ``[api.models.NAME]`` tables, accepted as written; ``enabled = false``
serves gRPC only."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import pytest

import inferline
from tests.e2e.serve import launch, serve, stop

KEY = "sk-cyxwiz-0123456789"


def _config(folder: Path, model: Path, *, enabled: bool) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""[api]
enabled = {"true" if enabled else "false"}
address = "127.0.0.1:18181"
api_key = "{KEY}"
require_auth = true
max_requests_per_minute = 600
max_tokens_per_minute = 1000000
cors_enabled = true
cors_origins = ["http://localhost:3000"]

[api.models.tiny-chat]
path = "{model}"
type = "chat"
context_length = 512
default_temperature = 0.7

[core]
default_embedding_model = false
default_speech_models = false
"""
    )
    return path


def test_cyxwiz_config_is_accepted_with_a_string_key(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, tiny_chat_gguf, enabled=True)
    with serve(["--config", str(config)], tmp_path) as running:
        base = running.base_url + "/v1"
        sdk = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0)
        reply = sdk.chat.completions.create(
            model="tiny-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=3
        )
        assert reply.usage is not None and reply.usage.completion_tokens == 3
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base, api_key="sk-wrong", max_retries=0).models.list()
        # The string is one key, not a list of its characters.
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base, api_key="s", max_retries=0).models.list()


def test_enabled_false_starts_no_rest_bridge(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, tiny_chat_gguf, enabled=False)
    running = launch(["--config", str(config)], tmp_path)
    try:
        with inferline.Client(running.grpc_address, api_key=KEY, timeout=5) as client:
            deadline = time.monotonic() + 120
            while not client.health(timeout=1.0):
                assert running.process.poll() is None, running.log.read_text()
                assert time.monotonic() < deadline, running.log.read_text()
                time.sleep(0.2)
            reply = client.chat(
                model="tiny-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=2
            )
            assert reply.usage.completion_tokens == 2
        time.sleep(2)  # the bridge would have started by now
        with pytest.raises(httpx.TransportError):
            httpx.get(running.base_url + "/health", timeout=2)
        assert "no REST" in running.log.read_text()
    finally:
        assert stop(running) == 0
