"""An honest first run: `serve` says when it falls back to the bundled base model, and shows
the one command that serves an instruction-tuned GGUF instead."""

from __future__ import annotations

from pathlib import Path

import msgspec

from inferline_core.config import (
    BASE_MODEL_NOTE,
    CHAT_MODEL_SUGGESTION,
    ApiConfig,
    Config,
    CoreConfig,
    ModelConfig,
    serves_default_chat,
)


def test_only_a_bare_serve_falls_back_to_the_base_model(tmp_path: Path) -> None:
    bare = Config(core=CoreConfig(model_store=str(tmp_path / "store")))
    assert serves_default_chat(bare, None)
    assert not serves_default_chat(bare, "my-model.gguf")
    configured = msgspec.structs.replace(
        bare, api=ApiConfig(models={"mine": ModelConfig(path="mine.gguf")})
    )
    assert not serves_default_chat(configured, None)
    pulled = tmp_path / "store" / "hub" / "owner" / "repo" / "chat.gguf"
    pulled.parent.mkdir(parents=True)
    pulled.write_bytes(b"GGUF")
    assert not serves_default_chat(bare, None)


def test_the_note_says_base_model_and_gives_the_command() -> None:
    assert "base model" in BASE_MODEL_NOTE and "does not follow instructions" in BASE_MODEL_NOTE
    assert f"inferline serve -hf {CHAT_MODEL_SUGGESTION}" in BASE_MODEL_NOTE
    repository, _, file = CHAT_MODEL_SUGGESTION.partition(":")
    assert "Instruct" in repository and file.endswith(".gguf")
