"""Nexa's command-line shape on `inferline serve`: `onnx MODEL`, `-lp`, `-mt`, `-hf`."""

from __future__ import annotations

from pathlib import Path

import openai

from tests.e2e.serve import serve
from tests.fixtures.hub import Hub, running_hub


def _sdk(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0)


def test_serve_onnx_model_positional(minilm_folder: Path, tmp_path: Path) -> None:
    folder, config = minilm_folder, minilm_folder / "config.toml"
    args = ["onnx", str(folder), "-lp", "-mt", "TEXT_EMBEDDING", "--config", str(config)]
    with serve(args, tmp_path) as running:
        models = _sdk(running.base_url).models.list().data
        assert [(m.id, (m.model_extra or {}).get("type")) for m in models] == [
            ("minilm", "embedding")
        ]


def test_serve_pulls_with_hf_then_serves_by_id(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    repos = {"tester/tiny": {"tiny.gguf": tiny_chat_gguf.read_bytes()}}
    with running_hub(Hub(repos)) as hub:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[core]\nmodel_store = "{tmp_path / "store"}"\nhub_endpoint = "{hub.url}"\n'
            "default_embedding_model = false\ndefault_speech_models = false\n"
        )
        with serve(
            ["tester/tiny", "-hf", "-mt", "NLP", "--config", str(config)], tmp_path
        ) as running:
            sdk = _sdk(running.base_url)
            assert [m.id for m in sdk.models.list().data] == ["tester/tiny"]
            reply = sdk.completions.create(model="tester/tiny", prompt="the", max_tokens=3)
            assert reply.usage is not None and reply.usage.completion_tokens == 3
    # Pulled once, served from the store afterwards, with no hub at all.
    with serve(["--config", str(config)], tmp_path) as running:
        assert [m.id for m in _sdk(running.base_url).models.list().data] == ["tester/tiny"]
