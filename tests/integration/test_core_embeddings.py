"""EmbeddingService over real gRPC: the real default ONNX model and a tiny llama.cpp BERT."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import llama_cpp
import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

import inferline
from inferline.v1 import embedding_service_pb2 as pb
from inferline_core.config import DEFAULT_EMBEDDING_MODEL_ID, ModelConfig, default_embedding_config
from tests.fixtures.tiny_bert_gguf import TINY_BERT_CONTEXT, TINY_BERT_WIDTH
from tests.integration.core_server import running_core

CAT = "A cat is sleeping on the sofa."
KITTEN = "A small kitten naps on the couch."
STOCKS = "The stock market fell sharply after the interest rate decision."


@pytest.fixture(scope="module")
async def client(
    tiny_chat_gguf: Path, tiny_bert_gguf: Path
) -> AsyncIterator[inferline.AsyncClient]:
    models = {
        "tiny-chat": ModelConfig(path=str(tiny_chat_gguf), context_length=512),
        DEFAULT_EMBEDDING_MODEL_ID: default_embedding_config(),
        "tiny-bert": ModelConfig(path=str(tiny_bert_gguf), type="embedding"),
        "tiny-bert-matryoshka": ModelConfig(
            path=str(tiny_bert_gguf), type="embedding", matryoshka=True
        ),
    }
    async with running_core(models) as (_, address), inferline.AsyncClient(address) as sdk:
        yield sdk


def _matrix(response: pb.EmbedResponse) -> np.ndarray:
    assert [e.index for e in response.embeddings] == list(range(len(response.embeddings)))
    return np.array([list(e.values) for e in response.embeddings], dtype=np.float32)


def _minilm_tokenizer() -> Tokenizer:
    config = default_embedding_config()
    assert config.tokenizer is not None
    tokenizer = Tokenizer.from_file(config.tokenizer)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _reference_minilm(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 computed here, straight from onnxruntime: one text per run."""
    config = default_embedding_config()
    tokenizer = _minilm_tokenizer()
    session = ort.InferenceSession(config.path, providers=["CPUExecutionProvider"])
    rows = []
    for text in texts:
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": 0 * ids}
        hidden = session.run(None, feed)[0][0]
        vector = hidden.mean(axis=0)
        rows.append(vector / np.linalg.norm(vector))
    return np.array(rows, dtype=np.float32)


async def test_default_model_ranks_meaning(client: inferline.AsyncClient) -> None:
    response = await client.embed([CAT, KITTEN, STOCKS])
    assert response.model == DEFAULT_EMBEDDING_MODEL_ID  # no model named: the default
    vectors = _matrix(response)
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Margin: cat-kitten 0.69 against cat-stocks -0.01, three times the 0.2 asked for.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    np.testing.assert_allclose(vectors, _reference_minilm([CAT, KITTEN, STOCKS]), atol=2e-5)


async def test_hundred_inputs_keep_their_order(client: inferline.AsyncClient) -> None:
    texts = [
        f"sentence number {i} is {'short' if i % 3 else 'a good deal longer than'} that"
        for i in range(100)
    ]
    batched = _matrix(await client.embed(texts))
    assert batched.shape == (100, 384)
    picked = [0, 1, 42, 99]
    np.testing.assert_allclose(
        batched[picked], _reference_minilm([texts[i] for i in picked]), atol=2e-5
    )


async def test_usage_tokens_ids_and_normalize(client: inferline.AsyncClient) -> None:
    ids = _minilm_tokenizer().encode(CAT).ids
    text = await client.embed(CAT, normalize=False)
    assert text.usage.prompt_tokens == text.usage.total_tokens == len(ids) == 10
    assert not np.isclose(np.linalg.norm(_matrix(text)), 1.0)
    tokens = await client.embed([ids], normalize=False)
    np.testing.assert_allclose(_matrix(tokens), _matrix(text), atol=1e-6)


async def test_long_input_is_truncated_or_refused(client: inferline.AsyncClient) -> None:
    long = "word " * 400
    cut = await client.embed(["short", long])
    assert cut.usage.prompt_tokens == 3 + 256  # cut to the model's 256 tokens, [SEP] kept
    with pytest.raises(inferline.InvalidArgumentError) as raised:
        await client.embed(["short", long], truncate=False)
    assert raised.value.param == "input[1]"
    assert "256" in raised.value.message


async def test_dimensions_need_a_matryoshka_model(client: inferline.AsyncClient) -> None:
    with pytest.raises(inferline.InvalidArgumentError) as raised:
        await client.embed(CAT, dimensions=64)
    assert raised.value.param == "dimensions"
    assert len((await client.embed(CAT, dimensions=384)).embeddings[0].values) == 384
    short = _matrix(await client.embed(CAT, model="tiny-bert-matryoshka", dimensions=8))
    full = _matrix(await client.embed(CAT, model="tiny-bert-matryoshka", normalize=False))
    np.testing.assert_allclose(short[0], full[0, :8] / np.linalg.norm(full[0, :8]), atol=1e-5)


async def test_bad_requests_are_invalid_arguments(client: inferline.AsyncClient) -> None:
    cases = [
        ({"input": []}, "input"),
        ({"input": ["ok", ""]}, "input[1]"),
        ({"input": [[1, 2], [10**9]]}, "input[1]"),
        ({"input": "x", "model": "tiny-chat"}, "model"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
    ]
    for kwargs, param in cases:
        with pytest.raises(inferline.InvalidArgumentError) as raised:
            await client.embed(**kwargs)
        assert raised.value.param == param, kwargs
    with pytest.raises(inferline.NotFoundError):
        await client.embed("x", model="nope")
    with pytest.raises(inferline.InvalidArgumentError):
        await client.chat(
            model=DEFAULT_EMBEDDING_MODEL_ID, messages=[{"role": "user", "content": "hi"}]
        )


async def test_llama_cpp_batch_equals_reference(
    client: inferline.AsyncClient, tiny_bert_gguf: Path
) -> None:
    texts = ["the cat sat on the mat", "hello world", "stock prices fell sharply today"] * 40
    response = await client.embed(texts, model="tiny-bert", normalize=False)
    vectors = _matrix(response)
    assert vectors.shape == (120, TINY_BERT_WIDTH)
    reference = llama_cpp.Llama(model_path=str(tiny_bert_gguf), embedding=True, verbose=False)
    try:
        expected = np.array(reference.embed(texts[:3]), dtype=np.float32)
    finally:
        reference.close()
    np.testing.assert_allclose(vectors[:3], expected, atol=1e-4)
    np.testing.assert_allclose(vectors[117:], expected, atol=1e-4)
    normalized = _matrix(await client.embed(texts[:3], model="tiny-bert"))
    np.testing.assert_allclose(
        normalized, expected / np.linalg.norm(expected, axis=1)[:, None], atol=1e-5
    )


async def test_llama_cpp_context_limit(client: inferline.AsyncClient) -> None:
    long = "the cat " * 100
    cut = await client.embed(long, model="tiny-bert")
    assert cut.usage.prompt_tokens == TINY_BERT_CONTEXT
    with pytest.raises(inferline.InvalidArgumentError) as raised:
        await client.embed(["ok", long], model="tiny-bert", truncate=False)
    assert raised.value.param == "input[1]"
    models = {m.id: m for m in await client.list_models()}
    assert models["tiny-bert"].dimensions == TINY_BERT_WIDTH
    assert models[DEFAULT_EMBEDDING_MODEL_ID].is_default
