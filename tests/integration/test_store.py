"""Pulling from a hub-shaped server on 127.0.0.1: listing, resuming, hashes; over the CLI and
over gRPC (PullModel, DeleteModel), and serving a pulled model by its id."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import inferline
from inferline_core.config import Config, CoreConfig
from inferline_core.hub import PROGRESS_EVERY_S, pull
from inferline_core.server import build_server
from inferline_core.store import PART_TTL_S, PullError, Store
from tests.fixtures.hub import Hub, running_hub

REPO = "tester/tiny-chat-GGUF"


@pytest.fixture
def hub(tiny_chat_gguf: Path) -> Iterator[Hub]:
    data = tiny_chat_gguf.read_bytes()
    repos = {
        REPO: {"tiny-chat.Q4_K_M.gguf": data, "README.md": b"# tiny\n"},
        "tester/two": {"a.gguf": data, "b.gguf": data},
    }
    with running_hub(Hub(repos)) as running:
        yield running


def _files(folder: Path, pattern: str) -> list[Path]:
    return [f for f in folder.rglob(pattern) if f.is_file()]


async def test_pull_lists_downloads_and_resumes(hub: Hub, tmp_path: Path) -> None:
    store = Store(tmp_path)
    hub.drop_once.add("tiny-chat.Q4_K_M.gguf")
    seen: list[tuple[int, int]] = []
    stored = await pull(
        store, REPO, endpoint=hub.url, progress=lambda f, done, total: seen.append((done, total))
    )
    assert stored.id == REPO
    assert stored.path.read_bytes() == hub.repos[REPO]["tiny-chat.Q4_K_M.gguf"]
    assert len(hub.ranges) == 1  # the dropped download resumed with a ranged request
    assert seen[-1][0] == seen[-1][1] == stored.size
    assert [m.id for m in store.models()] == [REPO]
    assert not _files(tmp_path, "*.part")


async def test_progress_is_coalesced_not_one_per_chunk(tmp_path: Path) -> None:
    big = os.urandom(24 * 1024 * 1024)  # hundreds of HTTP chunks
    with running_hub(Hub({"tester/big": {"big.gguf": big}})) as hub:
        seen: list[tuple[int, int]] = []
        started = time.monotonic()
        await pull(
            Store(tmp_path),
            "tester/big",
            endpoint=hub.url,
            progress=lambda f, done, total: seen.append((done, total)),
        )
        took = time.monotonic() - started
    assert seen[-1] == (len(big), len(big))
    assert len(seen) <= 2 + took / PROGRESS_EVERY_S, (len(seen), took)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


async def test_abandoned_parts_are_swept_and_recent_ones_resumed(hub: Hub, tmp_path: Path) -> None:
    store = Store(tmp_path)
    folder = store.folder("tester/gone")
    folder.mkdir(parents=True)
    abandoned = folder / "old.gguf.part"
    abandoned.write_bytes(b"x" * 100)
    old = time.time() - PART_TTL_S - 60
    os.utime(abandoned, (old, old))
    data = hub.repos[REPO]["tiny-chat.Q4_K_M.gguf"]
    recent = store.folder(REPO) / "tiny-chat.Q4_K_M.gguf.part"
    recent.parent.mkdir(parents=True)
    recent.write_bytes(data[:1000])  # a pull cut short a moment ago
    stored = await pull(store, REPO, endpoint=hub.url)
    assert not abandoned.exists()
    assert hub.ranges == ["bytes=1000-"]  # the recent one was resumed, not thrown away
    assert stored.path.read_bytes() == data
    assert not _files(tmp_path, "*.part")


async def test_hash_mismatch_is_refused_and_nothing_is_kept(hub: Hub, tmp_path: Path) -> None:
    hub.wrong_hash.add("tiny-chat.Q4_K_M.gguf")
    with pytest.raises(PullError, match="sha256 mismatch"):
        await pull(Store(tmp_path), REPO, endpoint=hub.url)
    assert not _files(tmp_path, "*")


async def test_choosing_files(hub: Hub, tmp_path: Path) -> None:
    store = Store(tmp_path)
    with pytest.raises(PullError, match="several models"):
        await pull(store, "tester/two", endpoint=hub.url)
    with pytest.raises(PullError, match="no repository"):
        await pull(store, "tester/none", endpoint=hub.url)
    with pytest.raises(PullError, match="not OWNER/REPO"):
        await pull(store, "just-a-name", endpoint=hub.url)
    assert (await pull(store, "tester/two:b.gguf", endpoint=hub.url)).id == "tester/two"
    assert (await pull(store, "tester/two:a.gguf", endpoint=hub.url)).id == "tester/two:a.gguf"
    assert sorted(m.id for m in store.models()) == ["tester/two:a.gguf", "tester/two:b.gguf"]
    store.remove("tester/two:a.gguf")
    assert [m.id for m in store.models()] == ["tester/two"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inferline_core.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_pull_list_show_rm(hub: Hub, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[core]\nmodel_store = "{tmp_path / "store"}"\nhub_endpoint = "{hub.url}"\n')
    pulled = _cli("pull", REPO, "--config", str(config))
    assert pulled.returncode == 0, pulled.stderr
    assert f"pulled {REPO}" in pulled.stdout
    listed = _cli("models", "list", "--config", str(config))
    assert REPO in listed.stdout
    assert "bytes" in _cli("models", "show", REPO, "--config", str(config)).stdout
    missing = _cli("pull", "tester/none", "--config", str(config))
    assert missing.returncode == 1 and "no repository" in missing.stderr
    assert _cli("models", "rm", REPO, "--config", str(config)).returncode == 0
    assert REPO not in _cli("models", "list", "--config", str(config)).stdout


async def test_pull_and_delete_over_grpc_then_serve_by_id(hub: Hub, tmp_path: Path) -> None:
    core = CoreConfig(
        address="127.0.0.1:0", threads=2, model_store=str(tmp_path), hub_endpoint=hub.url
    )
    server = build_server(Config(core=core), {})
    port = await server.start()
    try:
        async with inferline.AsyncClient(f"127.0.0.1:{port}") as client:
            updates = [u async for u in client.pull_model(REPO)]
            assert updates[0].HasField("progress")
            assert updates[-2].progress.completed_bytes == updates[-2].progress.total_bytes > 0
            assert updates[-1].model.id == REPO
            reply = await client.chat(
                model=REPO, messages=[{"role": "user", "content": "hi"}], max_tokens=3
            )
            assert reply.usage.completion_tokens == 3
            with pytest.raises(inferline.InvalidArgumentError, match="no repository"):
                await _pull_missing(client)
            with pytest.raises(inferline.NotFoundError):
                await client.delete_model("tester/never-pulled")
            await client.delete_model(REPO)
            assert REPO not in [m.id for m in await client.list_models()]
            assert Store(tmp_path).models() == []
    finally:
        await server.stop(grace=1)


async def _pull_missing(client: inferline.AsyncClient) -> None:
    async for _ in client.pull_model("tester/none"):
        pass
