"""`inferline bridge --core` as its own process in front of `inferline core`, driven by the
official openai SDK.

By default both run from this environment. CI also runs this module with
INFERLINE_TEST_BRIDGE_PYTHON set to the interpreter of a fresh virtualenv holding only the
light `inferline` wheel and the SDK wheel (no extras): the bridge then runs from there, proves
that no model library is installed beside it, and still passes a chat request through.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

import inferline
from tests.e2e.serve import free_port

BRIDGE_PYTHON = os.environ.get("INFERLINE_TEST_BRIDGE_PYTHON", sys.executable)
MODEL_LIBRARIES = ("llama_cpp", "onnxruntime", "torch", "faster_whisper")


def _wait(ready: object, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while not ready():  # type: ignore[operator]
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"not ready in time:\n{log.read_text()}"
        time.sleep(0.2)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def bridge_url(tiny_chat_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("bridge-alone")
    config = folder / "config.toml"
    config.write_text("[core]\ndefault_embedding_model = false\ndefault_speech_models = false\n")
    model = folder / "tiny-chat.gguf"
    model.symlink_to(tiny_chat_gguf)
    address, port = f"127.0.0.1:{free_port()}", free_port()
    core_log, bridge_log = folder / "core.log", folder / "bridge.log"
    core_command = [sys.executable, "-m", "inferline_core.cli", "core", str(model)]
    core_command += ["--config", str(config), "--grpc-address", address, "--nctx", "512"]
    # The light environment must import its own installed code, never this checkout's.
    light = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    bridge_command = [BRIDGE_PYTHON, "-m", "inferline_core.cli", "bridge", "--core", address]
    bridge_command += ["--host", "127.0.0.1", "--port", str(port)]
    processes = []
    try:
        with core_log.open("wb") as sink:
            processes.append(subprocess.Popen(core_command, stdout=sink, stderr=sink))
        with inferline.Client(address) as client:
            _wait(lambda: client.health(timeout=1.0), processes[0], core_log)
        env = light if sys.executable != BRIDGE_PYTHON else dict(os.environ)
        with bridge_log.open("wb") as sink:
            processes.append(
                subprocess.Popen(bridge_command, stdout=sink, stderr=sink, env=env, cwd=folder)
            )
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: _healthy(url + "/health"), processes[1], bridge_log)
        yield url
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)


@pytest.mark.skipif(
    sys.executable == BRIDGE_PYTHON, reason="only for the light install (CI sets the variable)"
)
def test_the_light_install_has_no_model_library() -> None:
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    found = subprocess.run(
        [BRIDGE_PYTHON, "-c", probe, *MODEL_LIBRARIES],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    ).stdout.strip()
    assert found == "[]"


def test_chat_passes_through_the_bridge(bridge_url: str) -> None:
    client = openai.OpenAI(base_url=bridge_url + "/v1", api_key="unused", max_retries=0)
    reply = client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=8
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 8
    assert reply.choices[0].message.content
    assert [m.id for m in client.models.list()] == ["tiny-chat"]
