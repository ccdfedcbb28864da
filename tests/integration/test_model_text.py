"""The batched engine's tokenizer and metadata, read from the loaded model itself
(``engines.llama_vocab``): the same tokens, pieces and metadata as llama-cpp-python's own, and
every piece whole, however long (llama-cpp-python's detokenize gave nothing for a piece over
32 bytes, so Gemma's longest Hindi and Bengali words vanished from answers)."""

from __future__ import annotations

from pathlib import Path

import llama_cpp
import pytest

import inferline
from inferline_core.config import DEFAULT_MODEL_ID, default_model_config
from inferline_core.engines.llama_cpp import init_backend
from inferline_core.engines.llama_vocab import ModelText
from tests.integration.core_server import running_core

TEXTS = ["hello world", "<|im_start|>user\nhi<|im_end|>", "héllo 日本 ✓", "", "   the" * 50]
CHIEF_MINISTER = " मुख्यमंत्री"  # one Gemma 3 token of 37 bytes


def test_the_model_reads_its_text_as_llama_cpp_python_does(tiny_chat_gguf: Path) -> None:
    init_backend()
    model = llama_cpp.llama_model_load_from_file(
        str(tiny_chat_gguf).encode(), llama_cpp.llama_model_default_params()
    )
    reference = llama_cpp.Llama(model_path=str(tiny_chat_gguf), vocab_only=True, verbose=False)
    try:
        text = ModelText(model)
        assert text.metadata() == reference.metadata
        assert "tokenizer.chat_template" in text.metadata()
        assert (text.bos, text.eos) == (reference.token_bos(), reference.token_eos())
        for sample in TEXTS:
            for add_bos in (True, False):
                for special in (True, False):
                    tokens = text.tokenize(sample.encode(), add_bos=add_bos, special=special)
                    expected = reference.tokenize(sample.encode(), add_bos, special)
                    assert tokens == expected, (sample, add_bos, special)
        for token in range(llama_cpp.llama_vocab_n_tokens(text.vocab)):
            for special in (True, False):
                assert text.piece(token, special=special) == reference.detokenize(
                    [token], special=special
                )
    finally:
        reference.close()
        llama_cpp.llama_model_free(model)


@pytest.mark.default_model
async def test_a_token_longer_than_32_bytes_keeps_its_text(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    config = default_model_config(tmp_path_factory.mktemp("store"))
    vocabulary = llama_cpp.Llama(model_path=config.path, vocab_only=True, verbose=False)
    try:
        (token,) = vocabulary.tokenize(CHIEF_MINISTER.encode(), add_bos=False)
    finally:
        vocabulary.close()
    quiet = {"default_embedding_model": False, "default_speech_models": False}
    async with (
        running_core({DEFAULT_MODEL_ID: config}, **quiet) as (_, address),
        inferline.AsyncClient(address) as client,
    ):
        reply = await client.complete(
            prompt="Hello", max_tokens=2, temperature=0, logit_bias={token: 100.0}
        )
    assert reply.choices[0].text == CHIEF_MINISTER * 2
