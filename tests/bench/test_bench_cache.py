"""Prompt-cache reuse and memory on the default model (Gemma 3 270M), inferline against llama.cpp's
own `llama-server` in the same run. Run on purpose:
``python -m pytest -m bench -s tests/bench/test_bench_cache.py``.

- A conversation's turn 1 and turn 2 time to first token, with a ~1,500-token history (a new
  history each round, so turn 1 starts cold): a server that reuses its slot's cache answers
  turn 2 far sooner than turn 1 although its prompt is longer. Gemma 3 has a 512-token
  sliding window and inferline keeps only the window's cells (no ``swa_full``), so a slot is
  reused only where the window still holds what the new tokens attend to: a conversation's next
  turn (the whole history) is, a shared prefix much shorter than what the slot holds is not.
  One run, 2026-12-03, quiet machine, 2 threads: inferline turn 1 3.94 s, turn 2 0.12 s
  (0.03x) with 1,472 tokens cached; llama-server (same llama.cpp) turn 1 4.04 s, turn 2 0.16 s
  (0.04x) with 1,520 cached. Another machine (a Xeon with AMX): inferline 3.98 s and 0.11 s
  (0.03x, 1,472 cached), llama-server 3.61 s and 0.13 s (0.04x, 1,424 cached). (An earlier
  run showed llama-server answering turn 1 in 0.12 s: it had read ``--chat-template gemma`` as
  a template whose text is "gemma" and saw 3 tokens.)
- Resident size, same run: inferline's core 509 MiB, llama-server 428 MiB (1.19x); on the other
  machine 509 and 430 MiB (1.18x). Since the engine reads its tokenizer from the loaded model
  instead of a second, vocabulary-only copy (47 MiB for Gemma's 262,144 tokens): 465 and
  430 MiB (1.08x), the AMX machine. Since the core imports httpx and rich only for pulls and
  the store commands: 460 and 430 MiB (1.07x), same machine.
- The resident size of each server with the model loaded at 4 slots of 4,096 tokens, after one
  request (inferline's figure is its core process; the bridge is a separate process).

The figures of a shared machine are noisy: compare the ratios of one run. llama-server is built from
the same llama.cpp as llama-cpp-python's (``tests.bench.llama_server``).
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from inferline_core.config import default_model_config
from tests.bench.llama_server import running_llama_server, same_version
from tests.e2e.serve import serve

pytestmark = [pytest.mark.bench, pytest.mark.timeout(3600)]  # a first llama-server build
THREADS = os.cpu_count() or 1
ROUNDS = 3


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(default_model_config(tmp_path_factory.mktemp("store")).path)


@contextmanager
def _inferline(gemma: Path, workdir: Path, slots: int, context: int) -> Iterator[tuple[str, int]]:
    """inferline serving gemma: its base URL and the serve process id."""
    config = workdir / "config.toml"
    config.write_text(
        f"[core]\nthreads = {THREADS}\nparallel = {slots}\n"
        "default_embedding_model = false\ndefault_speech_models = false\n"
        f'[api.models.gemma]\npath = "{gemma}"\nchat_format = "gemma"\n'
        f"context_length = {context}\n"
    )
    with serve(["--config", str(config)], workdir) as running:
        yield running.base_url, running.process.pid


def _turn(base_url: str, messages: list[dict[str, str]]) -> tuple[float, str, int]:
    """One streamed greedy answer: time to first token, its text, and the cached prompt tokens
    the usage reports (0 when the server reports none)."""
    body = {
        "model": "gemma", "messages": messages, "max_tokens": 32, "temperature": 0,
        "stream": True, "stream_options": {"include_usage": True},
    }  # fmt: skip
    started, first, text, cached = time.perf_counter(), None, "", 0
    with httpx.stream("POST", base_url + "/v1/chat/completions", json=body, timeout=300) as r:
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices", []):
                piece = choice.get("delta", {}).get("content") or ""
                if piece and first is None:
                    first = time.perf_counter() - started
                text += piece
            details = (chunk.get("usage") or {}).get("prompt_tokens_details") or {}
            cached = details.get("cached_tokens", cached)
    return first or 0.0, text, cached


def _history(tag: str) -> list[dict[str, str]]:
    notes = " ".join(
        f"Log {tag}-{i}: the keeper trimmed the wick, wound the clock and saw {i} ships pass."
        for i in range(48)
    )  # about 1,500 tokens with the template
    return [
        {"role": "user", "content": f"Here is the lighthouse log.\n{notes}\nSummarise it."},
    ]


def _conversation(base_url: str) -> tuple[float, float, int]:
    """Median turn-1 and turn-2 time to first token over fresh histories, and turn 2's cache."""
    firsts, seconds, cached = [], [], 0
    for _ in range(ROUNDS):
        history = _history(uuid.uuid4().hex[:8])
        ttft_1, reply, _ = _turn(base_url, history)
        follow = [*history, {"role": "assistant", "content": reply}]
        ttft_2, _, cached = _turn(base_url, [*follow, {"role": "user", "content": "And then?"}])
        firsts.append(ttft_1)
        seconds.append(ttft_2)
    return statistics.median(firsts), statistics.median(seconds), cached


def test_turn_two_reuses_turn_one(gemma: Path, tmp_path: Path) -> None:
    print(f"\nGemma 3 270M, a ~1,500-token history, {THREADS} threads, median of {ROUNDS}:")
    servers = {
        "inferline REST": _inferline(gemma, tmp_path, 4, 2048),
        "llama-server": running_llama_server(
            same_version(), gemma, tmp_path / "llama-server.log", 4, 2048, THREADS
        ),
    }
    for name, server in servers.items():
        with server as (base_url, _):
            _turn(base_url, [{"role": "user", "content": "hi"}])  # warm up
            first, second, cached = _conversation(base_url)
        print(
            f"  {name:14} turn 1 TTFT {first:.2f} s, turn 2 {second:.2f} s "
            f"({second / first:.2f}x turn 1), turn 2 cached_tokens {cached}"
        )


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_resident_size_at_four_slots(gemma: Path, tmp_path: Path) -> None:
    hi = [{"role": "user", "content": "hi"}]
    with _inferline(gemma, tmp_path, 4, 4096) as (base_url, pid):
        _turn(base_url, hi)
        # The core is the process that holds the model: the largest of serve's children.
        core = max(_rss_mib(child) for child in _descendants(pid))
    with running_llama_server(
        same_version(), gemma, tmp_path / "llama-server.log", 4, 4096, THREADS
    ) as (
        base_url,
        pid,
    ):
        _turn(base_url, hi)
        peer = _rss_mib(pid)
    print(
        f"\nResident size, Gemma 3 270M at 4 slots of 4,096 tokens: inferline core "
        f"{core:.0f} MiB, llama-server {peer:.0f} MiB ({core / peer:.2f}x)"
    )
