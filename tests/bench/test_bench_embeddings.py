"""Embeddings per second: REST -> bridge -> core against onnxruntime in this process.

Run on purpose: ``python -m pytest -m bench -s tests/bench``. Prints figures and the ratio
(the target is at least 0.85); asserts only that both sides computed the same vectors.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from inferline_core.config import default_embedding_config
from tests.e2e.serve import Served, serve

pytestmark = pytest.mark.bench
SENTENCES = [
    f"Sentence {i} talks about {topic} for a little while."
    for i, topic in enumerate(["cats", "the stock market", "rainy weather", "football"] * 64)
]
ROUNDS = 5


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("bench")
    config = workdir / "config.toml"
    threads = os.cpu_count() or 1
    config.write_text(f"[core]\nthreads = {threads}\n")
    bundled = default_embedding_config()
    folder = workdir / "minilm"
    folder.mkdir()
    (folder / "model.onnx").symlink_to(bundled.path)
    assert bundled.tokenizer is not None
    (folder / "tokenizer.json").symlink_to(bundled.tokenizer)
    args = [str(folder), "--backend", "onnx", "--nctx", "256", "--config", str(config)]
    with serve(args, workdir) as running:
        yield running


class InProcess:
    """The same model straight through onnxruntime: one padded batch, mean pooling."""

    def __init__(self) -> None:
        bundled = default_embedding_config()
        assert bundled.tokenizer is not None
        self.tokenizer = Tokenizer.from_file(bundled.tokenizer)
        self.tokenizer.enable_padding()
        self.tokenizer.enable_truncation(256)
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        self.session = ort.InferenceSession(
            bundled.path, sess_options=options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, feed)[0]
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def _rate(run: Callable[[], object]) -> float:
    run()  # warm up
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return len(SENTENCES) / statistics.median(times)


def test_rest_embeddings_rate_against_in_process(served: Served) -> None:
    local = InProcess()
    with httpx.Client(base_url=served.base_url, timeout=120) as http:

        def rest(encoding: str) -> list[dict[str, object]]:
            body = {"model": "minilm", "input": SENTENCES, "encoding_format": encoding}
            response = http.post("/v1/embeddings", json=body)
            response.raise_for_status()
            data: list[dict[str, object]] = response.json()["data"]
            return data

        served_vectors = np.array([d["embedding"] for d in rest("float")])
        np.testing.assert_allclose(served_vectors, local(SENTENCES), atol=1e-4)
        in_process = _rate(lambda: local(SENTENCES))
        rates = {encoding: _rate(lambda e=encoding: rest(e)) for encoding in ("float", "base64")}
    print(f"\n{len(SENTENCES)} sentences, {os.cpu_count()} CPU threads, median of {ROUNDS}:")
    print(f"  onnxruntime in-process: {in_process:8.1f} embeddings/s")
    for encoding, rate in rates.items():
        print(
            f"  REST ({encoding:6}):         {rate:8.1f} embeddings/s  ratio {rate / in_process:.2f}"
        )
