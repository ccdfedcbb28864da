"""Pure pieces of the core: stop sequences, config files, the per-model worker."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferline_core.config import (
    DEFAULT_EMBEDDING_MODEL_ID,
    ConfigError,
    load_config,
    parse_duration,
    resolve_models,
)
from inferline_core.engines.stops import StopMatcher
from inferline_core.exceptions import QueueFull
from inferline_core.scheduler import ModelWorker


def _run(matcher: StopMatcher, pieces: list[str]) -> str:
    out = "".join(matcher.feed(piece) for piece in pieces)
    return out + matcher.flush()


def test_stop_split_across_pieces_is_removed() -> None:
    matcher = StopMatcher(["END"])
    assert _run(matcher, ["hello E", "N", "D and more"]) == "hello "
    assert matcher.stopped


def test_partial_stop_is_released_when_it_cannot_match() -> None:
    matcher = StopMatcher(["END"])
    assert matcher.feed("abc EN") == "abc "
    assert matcher.feed("x") == "ENx"
    assert not matcher.stopped


def test_earliest_of_several_stops_wins_and_no_stop_passes_everything() -> None:
    assert _run(StopMatcher(["zz", "b"]), ["a", "bzz"]) == "a"
    assert _run(StopMatcher([]), ["a", "b"]) == "ab"


def test_config_file_is_read_and_flags_override(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    path = tmp_path / "config.toml"
    path.write_text(
        f'[api]\naddress = "0.0.0.0:9000"\n[api.models.mine]\npath = "{model}"\n'
        "context_length = 1024\n[core]\nthreads = 3\ndefault_speech_models = false\n"
    )
    config = load_config(path, grpc_address="127.0.0.1:1")
    assert config.api.address == "0.0.0.0:9000"
    assert config.core.address == "127.0.0.1:1"
    assert config.core.thread_count == 3
    models = resolve_models(config, context_length=300)
    assert list(models) == ["mine", DEFAULT_EMBEDDING_MODEL_ID]
    assert models["mine"].context_length == 300
    assert models[DEFAULT_EMBEDDING_MODEL_ID].context_length == 256  # the bundled one: unchanged
    assert list(resolve_models(config, str(model))) == ["m", DEFAULT_EMBEDDING_MODEL_ID]


def test_model_paths_pick_backend_and_type(tmp_path: Path) -> None:
    onnx, gguf = tmp_path / "enc.onnx", tmp_path / "e.gguf"
    onnx.write_bytes(b"")
    gguf.write_bytes(b"GGUF")
    path = tmp_path / "config.toml"
    path.write_text("[core]\ndefault_speech_models = false\n")
    config = load_config(path)
    models = resolve_models(config, str(onnx))
    assert (models["enc"].backend, models["enc"].type) == ("onnx", "embedding")
    assert list(models) == ["enc"]  # an embedding model named: no bundled one beside it
    models = resolve_models(config, str(gguf), model_type="embedding")
    assert (models["e"].backend, models["e"].type) == ("llama_cpp", "embedding")
    path.write_text("[core]\ndefault_embedding_model = false\ndefault_speech_models = false\n")
    assert list(resolve_models(load_config(path), str(gguf))) == ["e"]
    whisper = tmp_path / "whisper"
    whisper.mkdir()
    (whisper / "model.bin").write_bytes(b"")
    models = resolve_models(load_config(path), str(whisper))
    assert (models["whisper"].backend, models["whisper"].type) == ("whisper", "audio")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[api]\nadress = 1\n", "api: Object contains unknown field `adress`"),
        ("[core]\nthreads = 'many'\n", "core.threads: Expected `int | null`, got `str`"),
        ("[api.models.x]\ntype = 'chat'\n", "api.models.x: Object missing required field `path`"),
        ("[api\n", "not valid TOML"),
        (
            "[core]\nmax_loded_models = 2\n",
            "core: Object contains unknown field `max_loded_models`",
        ),
        ("[core]\nkeep_alive = 'soon'\n", "core.keep_alive: 'soon' is not a duration"),
        ("[core]\nflash_attention = 'yes'\n", "core.flash_attention: Invalid enum value 'yes'"),
        ("[core]\nstream_interval = 0\n", "core.stream_interval: Expected `int` >= 1"),
        (
            "[api.models.m]\npath = 'x'\nstream_interval = 0\n",
            "api.models.m.stream_interval: Expected `int` >= 1",
        ),
        (
            "[api.models.m]\npath = 'x'\nkeep_alive = '5 minutes'\n",
            "api.models.m.keep_alive: '5 minutes' is not a duration",
        ),
        (
            "[api.models.m]\npath = 'x'\ntype = 'poem'\n",
            "api.models.m.type: Invalid enum value 'poem'",
        ),
    ],
)
def test_bad_config_names_file_key_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert expected in str(raised.value)


def test_missing_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no file at"):
        resolve_models(load_config(None), str(tmp_path / "absent.gguf"))


def _forever(cancel: threading.Event) -> Iterator[int]:
    count = 0
    while not cancel.is_set():
        count += 1
        yield count
        cancel.wait(0.001)


async def test_worker_cancels_running_job_and_frees_waiting_slots() -> None:
    worker = ModelWorker("w", max_queue=1)
    running = worker.submit(_forever)
    events = running.events()
    assert await anext(events) == 1
    waiting = worker.submit(_forever)
    with pytest.raises(QueueFull):
        worker.submit(_forever)
    waiting.cancel.set()  # a cancelled waiting job gives its place back at once
    third = worker.submit(lambda cancel: iter([42]))
    await events.aclose()  # leaving the stream cancels the running job
    assert [event async for event in waiting.events()] == []
    assert [event async for event in third.events()] == [42]
    await asyncio.to_thread(worker.close, 5)


async def test_a_reader_that_leaves_a_full_buffer_frees_the_worker_at_once() -> None:
    """A job waiting for room in its reader's buffer hears its cancel at once, not when the
    stall limit runs out: a client that disconnects mid-stream gives its model back."""
    worker = ModelWorker("w", max_queue=1, buffer=2, stall_s=30)
    job = worker.submit(_forever)
    events = job.events()
    assert await anext(events) == 1
    await asyncio.sleep(0.2)  # the job fills the buffer of 2 and waits for room
    await events.aclose()  # the reader leaves with the buffer full
    started = time.monotonic()
    for _ in range(500):
        if not worker.running:
            break
        await asyncio.sleep(0.01)
    assert worker.running == 0
    assert time.monotonic() - started < 1
    assert not job.stalled
    await asyncio.to_thread(worker.close, 5)


def test_environment_overrides_the_file_and_flags_override_both(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[core]\nthreads = 3\nmax_queue = 5\n[api]\napi_key = ["file"]\n')
    environ = {"INFERLINE_CORE_MAX_QUEUE": "7", "INFERLINE_API_API_KEY": "a, b", "OTHER": "x"}
    config = load_config(path, threads=4, environ=environ)
    assert (config.core.threads, config.core.max_queue) == (4, 7)
    assert config.api.api_key == ["a", "b"]
    with pytest.raises(ConfigError, match="INFERLINE_CORE_MAX_QUEUE \\(environment\\)"):
        load_config(path, environ={"INFERLINE_CORE_MAX_QUEUE": "many"})


def test_auth_settings_are_checked(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("k1\n\nk2\n")
    path = tmp_path / "config.toml"
    path.write_text(f'[api]\napi_key_file = "{keys}"\n')
    api = load_config(path).api
    assert api.keys() == ["k1", "k2"] and api.auth_required
    path.write_text("[api]\nrequire_auth = true\n")
    with pytest.raises(ConfigError, match="no api_key"):
        _ = load_config(path).api.auth_required


def test_durations() -> None:
    assert [parse_duration(t) for t in ("5m", "30s", "-1", "0", "1.5h", "250ms")] == [
        300.0,
        30.0,
        -1.0,
        0.0,
        5400.0,
        0.25,
    ]
