"""Scaling out: aggregate tokens/s of 1, 2 and 3 cores behind one bridge, in the same run.
Run on purpose: ``python -m pytest -m bench -s tests/bench/test_bench_cores.py``.

Each core serves the default model (Gemma 3 270M) with one thread, pinned to its own CPU
(round-robin over the machine's CPUs, so on a 2-CPU machine the third core shares a CPU with
the first: expect 1 -> 2 cores to scale and 2 -> 3 to flatten there). The bridge is started with
``--core a,b,c`` and routes by model over them; the same concurrent streams (STREAMS, 128 tokens
each) run against each fleet size. The cores preload the model (``[core] preload``), as the
Kubernetes manifests do: routing prefers cores that have a model loaded, so a core that has not
loaded it yet would get none of its traffic.

Measured 2026-12-03 on a 2-CPU machine that other work was loading at the same time (so only
the ratios within the run mean anything): 1 core 40.9 tok/s, 2 cores 48.8 (1.19x), 3 cores 44.7
(1.09x, the third core shares a CPU), TTFT p50 0.62 / 0.77 / 0.42 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

import inferline
from inferline_core.config import default_model_config
from tests.bench.test_bench_batching import TOKENS, _concurrent
from tests.e2e.serve import free_port

pytestmark = pytest.mark.bench
STREAMS = 6


@contextmanager
def _process(command: list[str], log: Path, cpu: int | None = None) -> Iterator[None]:
    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=pin)
    try:
        yield
    finally:
        process.terminate()
        process.wait(30)


def _wait(check: object, what: str) -> None:
    deadline = time.monotonic() + 120
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not come up"
        time.sleep(0.3)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def _fleet(size: int, workdir: Path) -> Iterator[str]:
    gemma = default_model_config(workdir / "store").path
    config = workdir / "config.toml"
    config.write_text(
        "[core]\nthreads = 1\nparallel = 4\npreload = true\n"
        "default_embedding_model = false\ndefault_speech_models = false\n"
        f'[api.models.gemma]\npath = "{gemma}"\nchat_format = "gemma"\ncontext_length = 1024\n'
    )
    cpus = sorted(os.sched_getaffinity(0))
    cli = [sys.executable, "-m", "inferline_core.cli"]
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(size)]
    port = free_port()
    with ExitStack() as stack:
        for i, address in enumerate(addresses):
            command = [*cli, "core", "--config", str(config), "--grpc-address", address]
            stack.enter_context(_process(command, workdir / f"core-{i}.log", cpus[i % len(cpus)]))
        for address in addresses:
            client = stack.enter_context(inferline.Client(address))
            _wait(lambda client=client: client.health(timeout=1), f"core {address}")
        bridge = [*cli, "bridge", "--core", ",".join(addresses), "--port", str(port)]
        stack.enter_context(_process(bridge, workdir / "bridge.log"))
        base_url = f"http://127.0.0.1:{port}"
        _wait(lambda: _ready(base_url + "/health/ready"), "the bridge")
        yield base_url


def test_cores_scale_out(tmp_path: Path) -> None:
    print(f"\nGemma 3 270M, {TOKENS} tokens per request, {STREAMS} concurrent streams:")
    single = None
    for size in (1, 2, 3):
        with _fleet(size, tmp_path / f"fleet-{size}") as base_url:
            _concurrent(base_url, size)  # warm up
            rate, ttfts = _concurrent(base_url, STREAMS)
        single = single or rate
        print(
            f"  {size} core{'s' if size > 1 else ' '} behind one bridge: {rate:6.1f} tok/s "
            f"aggregate ({rate / single:.2f}x one core), TTFT p50 {statistics.median(ttfts):.2f} s"
        )
