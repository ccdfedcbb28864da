"""`inferline serve` keeps serving when a child dies: real processes on free loopback ports,
`kill -9` of the core mid-stream and mid-request, of the bridge, a crash loop, SIGTERM drain."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.serve import Served, child_pid, launch, serve, stop, wait_healthy

MODEL = "tiny-chat"
HI = [{"role": "user", "content": "hi"}]
# Long enough that the tiny model is still generating when the test acts (it never stops early).
LONG = {"model": MODEL, "messages": HI, "max_tokens": 7000, "temperature": 0}


def _args(tiny_chat_gguf: Path, workdir: Path, body: str = "") -> list[str]:
    """`serve --config` with the tiny chat model and a model whose file is not a model."""
    broken = workdir / "secret-folder" / "broken.gguf"
    broken.parent.mkdir(exist_ok=True)
    broken.write_bytes(b"not a model at all")
    path = workdir / "config.toml"
    path.write_text(
        "[core]\ndefault_speech_models = false\n"
        f"{body}\n"
        f'[api.models.{MODEL}]\npath = "{tiny_chat_gguf}"\ncontext_length = 8192\n'
        f'[api.models.broken]\npath = "{broken}"\n'
    )
    return ["--config", str(path)]


def _wait_for(check: Any, timeout: float) -> float:
    """Seconds until ``check()`` is true; fails after ``timeout``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.1)
    return time.monotonic() - started


def _health(served: Served, path: str = "/health") -> int:
    try:
        return httpx.get(served.base_url + path, timeout=2).status_code
    except httpx.TransportError:
        return 0


@pytest.fixture(scope="module")
def supervised(tiny_chat_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("supervised")
    # Documented settings: every restart waits 2 s, so the tests see the core away; the
    # module kills the core 3 times, under the crash-loop limit of 5.
    body = "[supervisor]\nrestart_backoff_s = 2\nrestart_backoff_max_s = 2"
    args = _args(tiny_chat_gguf, workdir, body)
    with serve(args, workdir) as running:
        yield running


def test_core_killed_mid_stream(supervised: Served) -> None:
    events: list[str] = []
    with httpx.stream(
        "POST", supervised.base_url + "/v1/chat/completions", json=LONG | {"stream": True}
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        events.append(next(line for line in lines if line))
        os.kill(child_pid(supervised, "core"), signal.SIGKILL)
        killed = time.monotonic()
        events += [line for line in lines if line]
        ended = time.monotonic() - killed
    assert ended < 1.0, f"the stream took {ended:.2f} s to end"
    assert "data: [DONE]" not in events
    last = json.loads(events[-1].removeprefix("data: "))
    assert last["error"]["type"] == "server_error"
    assert sum("error" in json.loads(e.removeprefix("data: ")) for e in events) == 1
    # While the core is away: 503 core_unavailable with Retry-After, the bridge still live.
    sdk = openai.OpenAI(base_url=supervised.base_url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.InternalServerError) as away:
        sdk.chat.completions.create(model=MODEL, messages=HI, max_tokens=3)  # type: ignore[arg-type]
    assert away.value.status_code == 503
    assert isinstance(away.value.body, dict)
    assert away.value.body["type"] == "server_error"
    assert away.value.body["code"] == "core_unavailable"
    assert int(away.value.response.headers["retry-after"]) >= 1
    assert _health(supervised) == 503
    assert _health(supervised, "/health/live") == 200
    # The supervisor restarts it; the same bridge serves again.
    _wait_for(lambda: _health(supervised) == 200, 60)
    reply = sdk.chat.completions.create(model=MODEL, messages=HI, max_tokens=3)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "length"
    assert "the core died (killed by SIGKILL)" in supervised.log.read_text()


def test_frozen_core_ends_the_stream_instead_of_hanging(supervised: Served) -> None:
    core = child_pid(supervised, "core")
    body = LONG | {"stream": True}
    with httpx.stream(
        "POST", supervised.base_url + "/v1/chat/completions", json=body, timeout=60
    ) as response:
        lines = response.iter_lines()
        assert next(line for line in lines if line).startswith("data: ")
        os.kill(core, signal.SIGSTOP)  # alive, connections open, answering nothing
        try:
            frozen = time.monotonic()
            events = [line for line in lines if line]
            ended = time.monotonic() - frozen
        finally:
            os.kill(core, signal.SIGCONT)
    # The SDK's keepalive (a ping every 10 s, 5 s to answer) gives up on the core.
    assert ended < 30, f"the stream took {ended:.1f} s to end"
    assert "data: [DONE]" not in events
    assert json.loads(events[-1].removeprefix("data: "))["error"]["type"] == "server_error"
    _wait_for(lambda: _health(supervised) == 200, 60)


def test_core_killed_during_a_plain_request(supervised: Served) -> None:
    answer: list[httpx.Response] = []
    request = threading.Thread(
        target=lambda: answer.append(
            httpx.post(supervised.base_url + "/v1/chat/completions", json=LONG, timeout=60)
        )
    )
    request.start()
    time.sleep(1.0)  # the core is generating
    os.kill(child_pid(supervised, "core"), signal.SIGKILL)
    request.join(10)
    assert answer, "the request hung after the core died"
    assert answer[0].status_code in (502, 503), answer[0].text
    assert answer[0].json()["error"]["type"] == "server_error"
    _wait_for(lambda: _health(supervised) == 200, 60)


def test_bridge_killed_comes_back_and_finds_the_loaded_model(supervised: Served) -> None:
    sdk = openai.OpenAI(base_url=supervised.base_url + "/v1", api_key="unused", max_retries=0)
    sdk.chat.completions.create(model=MODEL, messages=HI, max_tokens=2)  # type: ignore[arg-type]
    os.kill(child_pid(supervised, "bridge"), signal.SIGKILL)
    _wait_for(lambda: _health(supervised, "/health/live") == 0, 5)
    back = _wait_for(lambda: _health(supervised) == 200, 30)
    assert back < 30
    model = httpx.get(f"{supervised.base_url}/v1/models/{MODEL}").json()
    assert model["state"] == "loaded"  # the core kept running: nothing reloaded
    assert sdk.chat.completions.create(model=MODEL, messages=HI, max_tokens=2).choices  # type: ignore[arg-type]


def test_crash_loop_exits_non_zero_naming_the_child(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    body = "[supervisor]\nrestart_backoff_s = 0.1\ncrash_loop_deaths = 3"
    served = launch(_args(tiny_chat_gguf, tmp_path, body), tmp_path)
    host, port = served.grpc_address.split(":")
    with socket.socket() as taken:  # the core cannot listen: it dies at every start
        taken.bind((host, int(port)))
        taken.listen()
        try:
            code = served.process.wait(90)
        finally:
            stop(served)
    log = served.log.read_text()
    assert code == 1, log
    assert "the core died 3 times within 120 s (last: exit status 1); giving up" in log
    assert "cannot listen on" in log
    assert _health(served, "/health/live") == 0  # the bridge never started


def test_sigterm_drains_the_open_stream_then_exits_0(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    served = launch(_args(tiny_chat_gguf, tmp_path, "drain_seconds = 30"), tmp_path)
    try:
        wait_healthy(served, 120)
        with httpx.stream(
            "POST",
            served.base_url + "/v1/chat/completions",
            json=LONG | {"stream": True, "max_tokens": 1500},
        ) as response:
            lines = response.iter_lines()
            assert next(line for line in lines if line).startswith("data: {")
            served.process.send_signal(signal.SIGTERM)
            # The bridge stops accepting first...
            _wait_for(lambda: _health(served, "/health/live") == 0, 10)
            # ...while the open stream runs to its end.
            rest = [line for line in lines if line]
        assert rest[-1] == "data: [DONE]"
        finals = [json.loads(e.removeprefix("data: ")) for e in rest[:-1]]
        assert finals[-1]["choices"][0]["finish_reason"] == "length"
        assert served.process.wait(60) == 0
    finally:
        stop(served)


def test_openai_sdk_stream_raises_when_the_core_dies(supervised: Served) -> None:
    _wait_for(lambda: _health(supervised) == 200, 60)
    sdk = openai.OpenAI(base_url=supervised.base_url + "/v1", api_key="unused", max_retries=0)
    stream = sdk.chat.completions.create(
        model=MODEL,
        messages=HI,  # type: ignore[arg-type]
        max_tokens=LONG["max_tokens"],
        stream=True,
    )
    chunks = iter(stream)
    next(chunks)
    os.kill(child_pid(supervised, "core"), signal.SIGKILL)
    killed = time.monotonic()
    with pytest.raises(openai.APIError):
        list(chunks)  # the SDK raises on the error event
    assert time.monotonic() - killed < 1.0
    _wait_for(lambda: _health(supervised) == 200, 60)


def test_model_that_fails_to_load_is_a_500_naming_it(supervised: Served) -> None:
    _wait_for(lambda: _health(supervised) == 200, 60)
    sdk = openai.OpenAI(base_url=supervised.base_url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.InternalServerError) as failed:
        sdk.chat.completions.create(model="broken", messages=HI, max_tokens=2)  # type: ignore[arg-type]
    assert failed.value.status_code == 500
    assert isinstance(failed.value.body, dict)
    assert failed.value.body["code"] == "model_load_failed"
    assert "'broken'" in failed.value.body["message"]
    assert "secret-folder" not in failed.value.response.text
    with pytest.raises(openai.BadRequestError) as too_big:
        sdk.chat.completions.create(model=MODEL, messages=HI, max_tokens=2**31)  # type: ignore[arg-type]
    assert isinstance(too_big.value.body, dict)
    assert too_big.value.body["param"] == "max_tokens"


def test_core_that_never_becomes_healthy_stops_serve(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model at all")
    config = tmp_path / "config.toml"
    config.write_text(
        "[core]\ndefault_speech_models = false\ndefault_embedding_model = false\n"
        "preload = true\n"  # a default model that fails to load keeps the core NOT_SERVING
        "[supervisor]\ncore_start_timeout_s = 3\n"
        f'[api.models.broken]\npath = "{broken}"\n'
    )
    served = launch(["--config", str(config)], tmp_path)
    try:
        code = served.process.wait(60)
    finally:
        stop(served)
    log = served.log.read_text()
    assert code == 1, log
    assert "the core did not become healthy in 3 s" in log
    assert _health(served, "/health/live") == 0  # the bridge never started
