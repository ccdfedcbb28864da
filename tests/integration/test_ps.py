"""`inferline ps --core ADDRESS` against a real core: the loaded models with their type, size,
requests and when keep-alive unloads them, all from ModelService."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import llama_cpp
from click.testing import CliRunner

import inferline
from inferline_core.cli import main
from inferline_core.cli_ps import rows
from inferline_core.config import ModelConfig
from tests.integration.core_server import QUIET, threaded_core

HI = [{"role": "user", "content": "hi"}]


def _ps(address: str) -> list[list[str]]:
    result = CliRunner().invoke(main, ["ps", "--core", address])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "SIZE", "PROCESSOR", "RUNNING", "QUEUED", "UNTIL"]
    return [re.split(r"\s{2,}", line) for line in lines[1:]]


def test_ps_lists_loaded_models_with_size_and_unload_time(
    tiny_chat_gguf: Path, tiny_bert_gguf: Path
) -> None:
    models = {
        "chat": ModelConfig(path=str(tiny_chat_gguf), context_length=512),
        "kept": ModelConfig(path=str(tiny_bert_gguf), type="embedding"),
        "idle": ModelConfig(path=str(tiny_bert_gguf), type="embedding"),
    }
    with threaded_core(models, **QUIET) as address, inferline.Client(address) as sdk:
        assert _ps(address) == []
        sdk.load_model("chat", keep_alive=120)
        sdk.load_model("kept", keep_alive=-1)
        table = {row[0]: row for row in _ps(address)}
        idle = sdk.get_model("idle")
    assert set(table) == {"chat", "kept"}  # "idle" was never loaded
    assert idle.placement == ""
    chat_kb = os.path.getsize(tiny_chat_gguf) / 1e3  # the tiny model is under a megabyte
    # Every layer is offloaded by default where llama.cpp can: the tiny model's 2 blocks and
    # its output layer.
    where = "gpu 3/3 layers" if llama_cpp.llama_supports_gpu_offload() else "cpu"
    assert table["chat"][1:6] == ["chat", f"{chat_kb:.1f} KB", where, "0", "0"]
    assert table["chat"][6] in {"in 2 min 0 s", "in 1 min 59 s", "in 1 min 58 s"}
    assert table["kept"][1] == "embedding"
    assert table["kept"][3] == where
    assert table["kept"][6] == "forever"


def test_a_core_told_to_use_the_cpu_says_so(tiny_chat_gguf: Path) -> None:
    models = {"chat": ModelConfig(path=str(tiny_chat_gguf), context_length=512)}
    with threaded_core(models, device="cpu", **QUIET) as address, inferline.Client(address) as sdk:
        sdk.load_model("chat")
        assert sdk.get_model("chat").placement == "cpu"


def test_running_and_queued_requests_come_from_model_service(tiny_chat_gguf: Path) -> None:
    models = {"one": ModelConfig(path=str(tiny_chat_gguf), context_length=512, parallel=1)}
    with threaded_core(models, **QUIET) as address, inferline.Client(address) as sdk:
        sdk.load_model("one")

        def ask() -> None:
            sdk.chat(model="one", messages=HI, max_tokens=400, temperature=0)

        callers = [threading.Thread(target=ask) for _ in range(4)]
        for caller in callers:
            caller.start()
        seen = []
        while any(caller.is_alive() for caller in callers):
            model = sdk.get_model("one")
            seen.append((model.running_requests, model.queued_requests))
            time.sleep(0.01)
        for caller in callers:
            caller.join()
        busy = sdk.get_model("one")
    assert max(running for running, _ in seen) == 1
    assert max(queued for _, queued in seen) >= 1
    assert (busy.running_requests, busy.queued_requests) == (0, 0)
    assert rows([busy], time.time())[0][4:6] == ("0", "0")


def test_ps_says_when_the_core_is_away() -> None:
    result = CliRunner().invoke(main, ["ps", "--core", "127.0.0.1:1"])
    assert result.exit_code == 1
    assert "127.0.0.1:1" in result.output
