"""Pulls write only inside the model store: references and hub listings that would lead out of
it are refused, over the library, the CLI and gRPC (PullModel), against the hub-shaped server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import inferline
from inferline_core.config import Config, CoreConfig
from inferline_core.hub import pull
from inferline_core.server import build_server
from inferline_core.store import PullError, Store
from tests.fixtures.hub import Hub, running_hub

BAD_REFERENCES = ["../x", "a/..", "../../etc", "./x", "a/b/c", "/abs/x", "a/b:../../x.gguf"]
GGUF = b"GGUF" + b"\0" * 60


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    outside = tmp_path / "outside.gguf"
    repos = {
        "evil/dots": {"../../../outside.gguf": GGUF},
        "evil/absolute": {str(outside): GGUF},
        "evil/nested": {"ok/../../../outside.gguf": GGUF},
        "good/one": {"sub/model.gguf": GGUF},
    }
    with running_hub(Hub(repos)) as running:
        yield running


def _written(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("reference", BAD_REFERENCES)
async def test_references_leading_out_are_refused(hub: Hub, tmp_path: Path, reference: str) -> None:
    store = tmp_path / "store"
    # Refused before asking the hub anything.
    with pytest.raises(PullError, match=r"not OWNER/REPO|not a file path inside"):
        await pull(Store(store), reference, endpoint=hub.url)
    assert _written(tmp_path) == set()


@pytest.mark.parametrize("repository", ["evil/dots", "evil/absolute", "evil/nested"])
async def test_hub_listings_leading_out_are_refused(
    hub: Hub, tmp_path: Path, repository: str
) -> None:
    with pytest.raises(PullError, match="not a file path inside the repository"):
        await pull(Store(tmp_path / "store"), repository, endpoint=hub.url)
    assert _written(tmp_path) == set()


async def test_a_safe_nested_path_still_pulls(hub: Hub, tmp_path: Path) -> None:
    stored = await pull(Store(tmp_path / "store"), "good/one", endpoint=hub.url)
    assert stored.path == tmp_path / "store" / "hub" / "good" / "one" / "sub" / "model.gguf"


def test_cli_pull_refuses(hub: Hub, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[core]\nmodel_store = "{tmp_path / "store"}"\nhub_endpoint = "{hub.url}"\n')
    for reference in ("../x", "evil/dots"):
        pulled = subprocess.run(
            [
                sys.executable,
                "-m",
                "inferline_core.cli",
                "pull",
                reference,
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert pulled.returncode == 1
        assert "pull failed" in pulled.stderr
    assert _written(tmp_path) == {config}


async def test_pull_model_over_grpc_refuses(hub: Hub, tmp_path: Path) -> None:
    core = CoreConfig(
        address="127.0.0.1:0", threads=1, model_store=str(tmp_path / "store"), hub_endpoint=hub.url
    )
    server = build_server(Config(core=core), {})
    port = await server.start()
    try:
        async with inferline.AsyncClient(f"127.0.0.1:{port}") as client:
            for reference in ("../x", "evil/absolute", "good/one:../../outside.gguf"):
                with pytest.raises(inferline.InvalidArgumentError):
                    async for _ in client.pull_model(reference):
                        pass
    finally:
        await server.stop(grace=1)
    assert _written(tmp_path) == set()
