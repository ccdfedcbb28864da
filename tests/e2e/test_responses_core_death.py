"""A streamed response whose core dies mid-way ends as the Responses API ends a failed
stream: an ``error`` event, then ``response.failed``, read through the openai SDK."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import openai

from tests.e2e.serve import child_pid, serve

MODEL = "tiny-chat"


def test_core_death_mid_stream_is_an_error_then_failed(
    tiny_chat_gguf: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[core]\ndefault_speech_models = false\ndefault_embedding_model = false\n"
        f'[api.models.{MODEL}]\npath = "{tiny_chat_gguf}"\ncontext_length = 8192\n'
    )
    with serve(["--config", str(config)], tmp_path) as served:
        sdk = openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)
        # Long enough that the tiny model is still generating when the core is killed.
        stream = sdk.responses.create(
            model=MODEL, input="hi", max_output_tokens=7000, temperature=0, stream=True
        )
        events = iter(stream)
        created = next(events)
        assert created.type == "response.created"
        os.kill(child_pid(served, "core"), signal.SIGKILL)
        killed = time.monotonic()
        rest = list(events)
        assert time.monotonic() - killed < 1.0
    error, failed = rest[-2:]
    assert error.type == "error" and error.message
    assert failed.type == "response.failed" and failed.response.status == "failed"
    assert failed.response.id == created.response.id
    assert failed.response.error is not None and failed.response.error.code == "server_error"
    numbers = [created.sequence_number, *(event.sequence_number for event in rest)]
    assert numbers == list(range(len(numbers)))
