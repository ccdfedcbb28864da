"""Concurrent generation on the default model (Gemma 3 270M): 128 tokens per request, 1 / 4 / 8
concurrent streams through REST, against llama-cpp-python in-process one request at a time.
Run on purpose: ``python -m pytest -m bench -s tests/bench/test_bench_batching.py``.

Prints aggregate tokens/s and time to first token (p50, p99). llama.cpp's own `llama-server`
is the other peer named in the issue; its figures for this machine are in
shared/models/README.md (61 tok/s alone, 91 tok/s aggregate and 0.4 s TTFT with 4 slots).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import llama_cpp
import pytest

from core.config import default_model_config
from tests.e2e.serve import Served, serve

pytestmark = pytest.mark.bench
TOKENS = 128
PROMPT = [{"role": "user", "content": "Write a story about a lighthouse keeper."}]


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(default_model_config(tmp_path_factory.mktemp("store")).path)


@pytest.fixture(scope="module")
def served(gemma: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("bench-batch")
    config = workdir / "config.toml"
    config.write_text(
        f"[core]\nthreads = {os.cpu_count() or 1}\nparallel = 8\n"
        "default_embedding_model = false\ndefault_speech_models = false\n"
        f'[api.models.gemma]\npath = "{gemma}"\nchat_format = "gemma"\ncontext_length = 1024\n'
    )
    with serve(["--config", str(config)], workdir) as running:
        yield running


def _stream(base_url: str, seed: int, ttfts: list[float]) -> int:
    body = {
        "model": "gemma",
        "messages": PROMPT,
        "max_tokens": TOKENS,
        "stream": True,
        "seed": seed,
        "temperature": 0.8,
        "stream_options": {"include_usage": True},
    }
    started, first, tokens = time.perf_counter(), None, 0
    with httpx.stream(
        "POST", base_url + "/v1/chat/completions", json=body, timeout=300
    ) as response:
        for line in response.iter_lines():
            if first is None and '"content":"' in line and '"content":""' not in line:
                first = time.perf_counter() - started
            if '"usage":{' in line:
                tokens = int(line.split('"completion_tokens":')[1].split(",")[0])
    ttfts.append(first or 0.0)
    return tokens


def _concurrent(base_url: str, streams: int) -> tuple[float, list[float]]:
    ttfts: list[float] = []
    counts = [0] * streams

    def run(i: int) -> None:
        counts[i] = _stream(base_url, i, ttfts)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started), ttfts


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_batching_figures(served: Served, gemma: Path) -> None:
    llm = llama_cpp.Llama(
        model_path=str(gemma), n_ctx=1024, n_threads=os.cpu_count() or 1,
        n_threads_batch=os.cpu_count() or 1, chat_format="gemma", verbose=False,
    )  # fmt: skip
    llm.create_chat_completion(messages=PROMPT, max_tokens=8)  # warm up
    started = time.perf_counter()
    done = 0
    for seed in range(2):
        reply = llm.create_chat_completion(messages=PROMPT, max_tokens=TOKENS, seed=seed)
        done += reply["usage"]["completion_tokens"]
    in_process = done / (time.perf_counter() - started)
    llm.close()
    _concurrent(served.base_url, 1)  # warm up
    print(f"\nGemma 3 270M, {TOKENS} tokens per request, {os.cpu_count()} threads:")
    print(f"  llama-cpp-python in-process, one at a time: {in_process:6.1f} tok/s")
    for streams in (1, 4, 8):
        rate, ttfts = _concurrent(served.base_url, streams)
        print(
            f"  REST, {streams} concurrent: {rate:6.1f} tok/s aggregate "
            f"({rate / in_process:.2f}x in-process), TTFT p50 {statistics.median(ttfts):.2f} s, "
            f"p99 {_p(ttfts, 0.99):.2f} s"
        )
