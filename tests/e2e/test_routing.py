"""One bridge over three cores with different models, as real processes on loopback ports.

Each request must reach a core that serves its model (a wrong core answers 404, so every 200
proves the route), load spreads over the cores that serve a model, `kill -9` of a core costs only
the requests it was running, and a core that comes back receives traffic again.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

import inferline
from inferline.v1 import model_service_pb2 as model_pb
from tests.e2e.serve import free_port

HI = [{"role": "user", "content": "hi"}]
# Which models each core serves: "shared" on two of them.
CORES = {"a": ["only-a", "shared"], "b": ["only-b", "shared"], "c": ["embed-c"]}


@dataclass
class Core:
    name: str
    address: str
    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "inferline_core.cli", "core", "--config", str(self.config)]
        command += ["--grpc-address", self.address]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        with inferline.Client(self.address) as client:
            deadline = time.monotonic() + 90
            while not client.health(timeout=1):
                assert self.process.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.2)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def state(self, model: str) -> int:
        with inferline.Client(self.address) as client:
            return client.get_model(model, timeout=5).state


def _config(folder: Path, models: list[str], chat: Path, bert: Path) -> Path:
    lines = ["[core]", "default_embedding_model = false", "default_speech_models = false"]
    for model in models:
        lines.append(f'[api.models."{model}"]')
        if model.startswith("embed"):
            lines += [f'path = "{bert}"', 'type = "embedding"']
        else:
            lines += [f'path = "{chat}"', "context_length = 512"]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def fleet(
    tiny_chat_gguf: Path, tiny_bert_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, Core], str]]:
    cores: dict[str, Core] = {}
    for name, models in CORES.items():
        folder = tmp_path_factory.mktemp(f"core-{name}")
        config = _config(folder, models, tiny_chat_gguf, tiny_bert_gguf)
        cores[name] = Core(name, f"127.0.0.1:{free_port()}", config, folder / "core.log")
    port = free_port()
    bridge_log = tmp_path_factory.mktemp("bridge") / "bridge.log"
    addresses = ",".join(core.address for core in cores.values())
    try:
        for core in cores.values():
            core.start()
        command = [sys.executable, "-m", "inferline_core.cli", "bridge", "--core", addresses]
        with bridge_log.open("wb") as sink:
            bridge = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(port)],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert bridge.poll() is None, bridge_log.read_text()
            assert time.monotonic() < deadline, bridge_log.read_text()
            try:
                if httpx.get(base_url + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield cores, base_url
        bridge.terminate()
        bridge.wait(20)
    finally:
        for core in cores.values():
            if core.process is not None and core.process.poll() is None:
                core.process.terminate()
                core.process.wait(20)


def _sdk(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=30)


def _chat(sdk: openai.OpenAI, model: str) -> int:
    return len(sdk.chat.completions.create(model=model, messages=HI, max_tokens=3).choices)  # type: ignore[arg-type]


def test_each_model_reaches_only_its_cores_and_models_are_the_union(
    fleet: tuple[dict[str, Core], str],
) -> None:
    cores, base_url = fleet
    sdk = _sdk(base_url)
    assert {m.id for m in sdk.models.list()} == {"only-a", "only-b", "shared", "embed-c"}
    # A request routed to a core without its model would be a 404.
    for _ in range(4):
        assert _chat(sdk, "only-a") == 1
        assert _chat(sdk, "only-b") == 1
        assert len(sdk.embeddings.create(model="embed-c", input=["x"]).data) == 1
    loaded = model_pb.MODEL_STATE_LOADED
    assert cores["a"].state("only-a") == loaded and cores["b"].state("only-b") == loaded
    assert cores["c"].state("embed-c") == loaded
    # The blocking SDK routes the same way over the same address list.
    with inferline.Client(",".join(core.address for core in cores.values())) as client:
        assert {m.id for m in client.list_models()} == {"only-a", "only-b", "shared", "embed-c"}
        for model in ("only-a", "only-b", "only-a"):
            assert client.chat(model=model, messages=HI, max_tokens=2).usage.completion_tokens == 2
        assert len(client.embed(["x", "y"], model="embed-c").embeddings) == 2


def test_a_shared_model_spreads_over_the_cores_that_serve_it(
    fleet: tuple[dict[str, Core], str],
) -> None:
    cores, base_url = fleet
    sdk = _sdk(base_url)
    # Neither core has it loaded yet, so the requests take turns between both.
    with ThreadPoolExecutor(6) as pool:
        assert sum(pool.map(lambda _: _chat(sdk, "shared"), range(12))) == 12
    loaded = model_pb.MODEL_STATE_LOADED
    assert cores["a"].state("shared") == loaded and cores["b"].state("shared") == loaded


def test_a_killed_core_costs_only_its_requests_and_gets_traffic_back(
    fleet: tuple[dict[str, Core], str],
) -> None:
    cores, base_url = fleet
    sdk = _sdk(base_url)
    workers = 4
    results: list[tuple[float, str]] = []

    def run(until: float) -> None:
        while time.monotonic() < until:
            try:
                _chat(sdk, "shared")
                results.append((time.monotonic(), "ok"))
            except openai.APIError as error:
                results.append((time.monotonic(), type(error).__name__))

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(run, started + 6) for _ in range(workers)]
        time.sleep(1.5)
        cores["a"].kill()
        killed = time.monotonic()
        for future in futures:
            future.result()
    failed = [(at, kind) for at, kind in results if kind != "ok"]
    # Only requests running on the killed core (at most one per worker) fail, all at the kill;
    # from two seconds on every request goes to the core that is left.
    assert len(failed) <= workers, failed
    assert all(at < killed + 2 for at, _ in failed), failed
    assert sum(1 for at, kind in results if at > killed + 2 and kind == "ok") >= workers
    # A model only the dead core serves is unavailable (503), not sent to a core without it.
    with pytest.raises(openai.InternalServerError) as refused:
        _chat(sdk, "only-a")
    assert refused.value.status_code == 503
    cores["a"].start()
    deadline = time.monotonic() + 10
    while True:
        try:
            assert _chat(sdk, "only-a") == 1
            break
        except openai.InternalServerError:
            assert time.monotonic() < deadline, "the restarted core got no traffic"
            time.sleep(0.2)
    assert cores["a"].state("only-a") == model_pb.MODEL_STATE_LOADED
