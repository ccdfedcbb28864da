"""Real-time factor of transcription: REST -> bridge -> core against faster-whisper in this
process, on the same clip and model. Run on purpose: ``python -m pytest -m bench -s tests/bench``.
Prints figures and the ratio (the target is at least 0.95)."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from faster_whisper import WhisperModel

from inferline_core.config import ENGLISH_SPEECH_MODEL_ID, default_speech_configs
from tests.e2e.serve import Served, serve

pytestmark = pytest.mark.bench
ROUNDS = 5
TEXT = (
    "Speech recognition turns spoken words into text. This clip is long enough to measure "
    "how quickly a server can write down what it hears, compared with the library alone."
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    subprocess.run(["espeak-ng", "-w", str(path), TEXT], check=True)
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("bench-audio")
    config = workdir / "config.toml"
    config.write_text(f"[core]\nthreads = {os.cpu_count() or 1}\ndefault_embedding_model = false\n")
    tiny = default_speech_configs(workdir / "store")[ENGLISH_SPEECH_MODEL_ID].path
    with serve([tiny, "--config", str(config)], workdir) as running:
        yield running


def _median_seconds(run: Callable[[], object]) -> float:
    run()
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_transcription_rtf_against_in_process(served: Served, clip: Path) -> None:
    audio = clip.read_bytes()
    tiny = default_speech_configs(clip.parent / "store")[ENGLISH_SPEECH_MODEL_ID].path
    model = WhisperModel(tiny, device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)

    def local() -> str:
        segments, _ = model.transcribe(str(clip), language="en", temperature=0.0)
        return "".join(s.text for s in segments)

    def rest() -> str:
        files = {"file": ("clip.wav", audio, "audio/wav")}
        response = httpx.post(
            served.base_url + "/v1/audio/transcriptions", files=files, timeout=120
        )
        response.raise_for_status()
        text: str = response.json()["text"]
        return text

    duration = model.transcribe(str(clip))[1].duration
    in_process, served_time = _median_seconds(local), _median_seconds(rest)
    print(f"\n{duration:.1f} s clip, whisper tiny.en int8, median of {ROUNDS}:")
    print(f"  faster-whisper in-process: RTF {in_process / duration:.3f}")
    print(f"  REST -> core:              RTF {served_time / duration:.3f}")
    print(f"  speed ratio (in-process time / REST time): {in_process / served_time:.2f}")
    assert rest().strip().lower()[:20] == local().strip().lower()[:20]
