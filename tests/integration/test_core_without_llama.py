"""A core that serves only embeddings and speech starts and answers with llama-cpp-python
missing: the command, the server and those engines import it nowhere."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import inferline
from inferline_core.config import DEFAULT_EMBEDDING_MODEL_ID
from tests.e2e.serve import free_port

# As if llama-cpp-python were not installed: any `import llama_cpp` raises ImportError.
WITHOUT_LLAMA = (
    "import sys; sys.modules['llama_cpp'] = None; "
    "from inferline_core.cli import main; main(prog_name='inferline')"
)


@pytest.fixture(scope="module")
def address(tiny_whisper: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("no-llama")
    config = folder / "config.toml"
    config.write_text(
        f'[core]\nmodel_store = "{folder / "store"}"\nthreads = 2\n'
        "default_embedding_model = true\ndefault_speech_models = false\n"
        f'[api.models.tiny-whisper]\npath = "{tiny_whisper}"\ntype = "audio"\nbackend = "whisper"\n'
    )
    address = f"127.0.0.1:{free_port()}"
    log = (folder / "core.log").open("w")
    command = [sys.executable, "-c", WITHOUT_LLAMA, "core", "--config", str(config)]
    core = subprocess.Popen([*command, "--grpc-address", address], stdout=log, stderr=log)
    try:
        with inferline.Client(address, timeout=5) as client:
            deadline = time.monotonic() + 120
            while not client.health(timeout=1.0):
                assert core.poll() is None, (folder / "core.log").read_text()
                assert time.monotonic() < deadline, "the core did not become healthy"
                time.sleep(0.2)
        yield address
    finally:
        core.terminate()
        core.wait(30)
        log.close()


def test_lists_only_what_it_serves(address: str) -> None:
    with inferline.Client(address, timeout=30) as client:
        ids = sorted(model.id for model in client.list_models())
    assert ids == sorted([DEFAULT_EMBEDDING_MODEL_ID, "tiny-whisper"])


def test_embeds_and_transcribes(address: str, speech: dict[str, bytes]) -> None:
    with inferline.Client(address, timeout=60) as client:
        vectors = client.embed(["a cat sleeps on the sofa"], model=DEFAULT_EMBEDDING_MODEL_ID)
        heard = client.transcribe(speech["en"], model="tiny-whisper", temperature=0.0)
    assert len(vectors.embeddings) == 1 and len(vectors.embeddings[0].values) == 384
    assert heard.model == "tiny-whisper" and heard.info.duration > 2
