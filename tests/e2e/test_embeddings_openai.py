"""`/v1/embeddings` on `inferline serve` (the bundled all-MiniLM-L6-v2), with the openai SDK."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.e2e.conftest import EMBEDDING_MODEL, MODEL
from tests.e2e.serve import Served, serve

TEXTS = ["A cat is sleeping on the sofa.", "A small kitten naps on the couch.", "Stocks fell."]


def _post(served: Served, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(served.base_url + "/v1/embeddings", json=body, timeout=60)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_sdk_embeddings_create(client: openai.OpenAI) -> None:
    # The SDK asks for base64 unless told otherwise, and decodes it itself.
    result = client.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS)
    assert result.object == "list"
    assert result.model == EMBEDDING_MODEL
    assert [d.index for d in result.data] == [0, 1, 2]
    assert all(d.object == "embedding" for d in result.data)
    vectors = np.array([d.embedding for d in result.data])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2  # measured: 0.69 against -0.05
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0
    floats = client.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS, encoding_format="float")
    np.testing.assert_allclose([d.embedding for d in floats.data], vectors, atol=1e-6)


def test_base64_is_little_endian_float32(served: Served) -> None:
    as_floats = _post(served, {"input": "hello", "encoding_format": "float"}).json()
    as_base64 = _post(served, {"input": "hello", "encoding_format": "base64"}).json()
    decoded = np.frombuffer(base64.b64decode(as_base64["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, as_floats["data"][0]["embedding"], atol=1e-7)
    assert as_floats["model"] == EMBEDDING_MODEL  # no model named: the default embedding model


def test_hundred_inputs_in_order(client: openai.OpenAI) -> None:
    texts = [f"note {i}: {'cats' if i % 2 else 'markets'}" for i in range(100)]
    result = client.embeddings.create(model=EMBEDDING_MODEL, input=texts)
    assert [d.index for d in result.data] == list(range(100))
    single = client.embeddings.create(model=EMBEDDING_MODEL, input=texts[57]).data[0].embedding
    np.testing.assert_allclose(result.data[57].embedding, single, atol=1e-5)


def test_token_inputs_and_nexa_fields(served: Served) -> None:
    ids = [101, 7592, 2088, 102]  # [CLS] hello world [SEP] in MiniLM's vocabulary
    tokens = _post(served, {"input": [ids, ids[1:3]], "normalize": False}).json()
    text = _post(served, {"input": "hello world", "normalize": False}).json()
    np.testing.assert_allclose(
        tokens["data"][0]["embedding"], text["data"][0]["embedding"], atol=1e-5
    )
    assert tokens["usage"]["prompt_tokens"] == 6
    assert np.linalg.norm(tokens["data"][0]["embedding"]) > 1.5
    error = _error(_post(served, {"input": ["ok", "word " * 300], "truncate": False}), 400)
    assert error["param"] == "input[1]"
    assert _post(served, {"input": "word " * 300, "truncate": True}).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"input": []}, 400, "input"),
        ({"input": ""}, 400, "input"),
        ({"input": [1, "two"]}, 400, "input[0]"),
        ({"input": 3}, 400, "input"),
        ({"input": "x", "encoding_format": "hex"}, 400, "encoding_format"),
        ({"input": "x", "dimensions": 16}, 400, "dimensions"),
        ({"input": "x", "model": MODEL}, 400, "model"),
        ({"input": "x", "model": "no-such-model"}, 404, "model"),
    ],
)
def test_bad_requests(served: Served, body: dict[str, Any], status: int, param: str) -> None:
    assert _error(_post(served, body), status)["param"] == param


def test_chat_model_error_is_clear_and_server_keeps_serving(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model=MODEL, input="hi")
    assert "embedding" in raised.value.message
    assert client.embeddings.create(model=EMBEDDING_MODEL, input="still here").data


def test_serve_backend_onnx_folder(minilm_folder: Path, tmp_path: Path) -> None:
    folder, config = minilm_folder, minilm_folder / "config.toml"
    args = [str(folder), "--backend", "onnx", "--nctx", "256", "--config", str(config)]
    with serve(args, tmp_path) as running:
        sdk = openai.OpenAI(base_url=running.base_url + "/v1", api_key="unused", max_retries=0)
        assert [m.id for m in sdk.models.list().data] == ["minilm"]
        result = sdk.embeddings.create(model="minilm", input=TEXTS[:1], encoding_format="float")
        assert len(result.data[0].embedding) == 384
