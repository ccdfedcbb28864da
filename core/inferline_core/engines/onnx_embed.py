"""The ONNX Runtime embedding engine: a transformer encoder exported to ONNX, with the
``tokenizers`` tokenizer.json beside it, mean-pooled over the attention mask.

Inputs are sorted by length and run in batches, each padded only to its own longest input, so
a request of many short texts costs a few forward passes, not one per text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

log = logging.getLogger(__name__)
BATCH_TOKENS = 16384  # padded tokens per forward pass
MAX_BATCH = 64
_PLACES = {"CUDAExecutionProvider": "cuda", "CPUExecutionProvider": "cpu"}


@dataclass(frozen=True, kw_only=True)
class OnnxSettings:
    """How to load one ONNX encoder."""

    path: str
    tokenizer: str
    context_length: int = 512
    threads: int = 1
    device: str = "auto"  # auto | cpu | cuda


def providers(device: str) -> list[str]:
    """CUDA when ONNX Runtime has it and the device allows it, then CPU."""
    available = ort.get_available_providers()
    chosen = ["CUDAExecutionProvider"] if device != "cpu" else []
    if chosen and chosen[0] not in available:
        if device == "cuda":
            log.warning("device is cuda but this onnxruntime has no CUDA provider; using CPU")
        chosen = []
    return [*chosen, "CPUExecutionProvider"]


class OnnxEmbedder:
    """One loaded ONNX encoder. The session is only used from the model's worker thread."""

    def __init__(self, settings: OnnxSettings) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            settings.path, sess_options=options, providers=providers(settings.device)
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._output = self._session.get_outputs()[0].name
        self._tokenizer = Tokenizer.from_file(settings.tokenizer)
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        padding = self._tokenizer.token_to_id("[PAD]")
        self._pad = 0 if padding is None else padding
        self._context = settings.context_length
        self._dimensions = int(self.embed([self.tokenize("a")]).shape[1])
        log.info("embedding model %s on %s", settings.path, self.provider)

    @property
    def context_length(self) -> int:
        """The most tokens one input may have."""
        return self._context

    @property
    def dimensions(self) -> int:
        """The length of each vector."""
        return self._dimensions

    @property
    def provider(self) -> str:
        """The execution provider the session runs on first: ``CUDAExecutionProvider`` only
        where ONNX Runtime could start it, whatever the settings asked for."""
        return str(self._session.get_providers()[0])

    @property
    def placement(self) -> str:
        """``cuda`` or ``cpu``, from the provider the session runs on first."""
        return _PLACES.get(self.provider, self.provider)

    @property
    def vocab_size(self) -> int:
        """How many token ids the model knows."""
        return int(self._tokenizer.get_vocab_size())

    def tokenize(self, text: str) -> list[int]:
        """Token ids with the model's special tokens."""
        return list(self._tokenizer.encode(text).ids)

    def embed(self, inputs: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]:
        """Mean-pooled vectors, one row per input, in input order."""
        done = [(rows, self._run([inputs[i] for i in rows])) for rows in _batches(inputs)]
        out = np.empty((len(inputs), done[0][1].shape[1]), dtype=np.float32)
        for rows, vectors in done:
            out[rows] = vectors
        return out

    def _run(self, batch: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]:
        width = max(len(tokens) for tokens in batch)
        ids = np.full((len(batch), width), self._pad, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        feed = {name: value for name, value in feed.items() if name in self._inputs}
        hidden = np.asarray(self._session.run([self._output], feed)[0], dtype=np.float32)
        if hidden.ndim == 2:  # the export pools itself
            return hidden
        weights = mask[:, :, None].astype(np.float32)
        pooled: npt.NDArray[np.float32] = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        return pooled

    def close(self) -> None:
        """Drop the session."""
        del self._session


def _batches(inputs: Sequence[Sequence[int]]) -> list[list[int]]:
    """Input indices grouped by similar length, each group within the padded-token budget."""
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    groups: list[list[int]] = []
    for index in order:
        group = groups[-1] if groups else None
        # Sorted by length, so this input is the group's longest once added.
        if (
            group
            and len(group) < MAX_BATCH
            and len(inputs[index]) * (len(group) + 1) <= BATCH_TOKENS
        ):
            group.append(index)
        else:
            groups.append([index])
    return groups
