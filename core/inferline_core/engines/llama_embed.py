"""The llama.cpp embedding engine: a GGUF embedding model with the pooling its file declares.

Many inputs share one ``llama_decode``: each input is its own sequence in the batch, and the
pooled vector of each sequence is read back by id. Inputs are token ids, so text and
pre-tokenized inputs take the same path. llama.cpp's vectors are not normalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import llama_cpp
import numpy as np
import numpy.typing as npt

from inferline_core.engines.llama_cpp import LlamaSettings, offload

_WHOLE = 1 << 16  # "as large as the context": llama-cpp-python caps batch sizes at n_ctx


class LlamaEmbedder:
    """One loaded GGUF embedding model. Not thread-safe: one worker thread calls it."""

    def __init__(self, settings: LlamaSettings) -> None:
        size = settings.context_length or _WHOLE
        self._llm = llama_cpp.Llama(
            model_path=settings.path,
            embedding=True,
            n_ctx=settings.context_length or 0,
            # An encoder sees a whole input in one micro-batch: both batches span the context.
            n_batch=size,
            n_ubatch=size,
            n_threads=settings.threads,
            n_threads_batch=settings.threads,
            n_gpu_layers=settings.gpu_layers,
            verbose=False,
        )
        pooling = llama_cpp.llama_pooling_type(self._llm.ctx)
        if pooling == llama_cpp.LLAMA_POOLING_TYPE_NONE:
            self._llm.close()
            raise ValueError("the GGUF declares no pooling, so it gives no sentence vectors")
        self._placement = offload(self._llm.model, settings.gpu_layers)
        self._limit = min(self._llm.n_batch, self._llm.n_ctx(), self._llm._model.n_ctx_train())
        self._max_sequences = int(self._llm.context_params.n_seq_max)

    @property
    def context_length(self) -> int:
        """The most tokens one input may have."""
        return self._limit

    @property
    def dimensions(self) -> int:
        """The length of each vector."""
        return int(self._llm.n_embd())

    @property
    def placement(self) -> str:
        """Where the layers compute: ``cpu`` or ``gpu N/M layers``."""
        return self._placement

    @property
    def vocab_size(self) -> int:
        """How many token ids the model knows."""
        return int(self._llm.n_vocab())

    def tokenize(self, text: str) -> list[int]:
        """Token ids with the model's special tokens."""
        return list(self._llm.tokenize(text.encode(), add_bos=True, special=False))

    def embed(self, inputs: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]:
        """Pooled vectors, one row per input, in input order, several inputs per decode."""
        out = np.empty((len(inputs), self.dimensions), dtype=np.float32)
        start = 0
        while start < len(inputs):
            end, tokens = start, 0
            while (
                end < len(inputs)
                and end - start < self._max_sequences
                and tokens + len(inputs[end]) <= self._limit
            ):
                tokens += len(inputs[end])
                end += 1
            out[start:end] = self._decode(inputs[start:end])
            start = end
        return out

    def _decode(self, inputs: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]:
        batch, ctx = self._llm._batch, self._llm.ctx
        batch.batch.n_tokens = 0
        for seq_id, tokens in enumerate(inputs):
            batch.add_sequence(list(tokens), seq_id, True)
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        self._llm._ctx.decode(batch)
        width = self.dimensions
        rows = [
            np.ctypeslib.as_array(llama_cpp.llama_get_embeddings_seq(ctx, seq_id), (width,))
            for seq_id in range(len(inputs))
        ]
        batch.batch.n_tokens = 0
        return np.array(rows, dtype=np.float32)

    def close(self) -> None:
        """Free the model's memory."""
        self._llm.close()
