"""A loaded llama.cpp model's tokenizer and GGUF metadata, read from the model itself.

The batched engine once opened the GGUF a second time, vocabulary only, for these: with Gemma
3's 262,144 tokens that copy held 47 MiB. The model's own vocabulary is read-only once loaded,
so request threads tokenize with it while the batch thread decodes, as llama.cpp's server does.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import llama_cpp

_PIECE = 64  # bytes; a longer piece is read again into a buffer of its size


class ModelText:
    """Tokenize with ``model``'s vocabulary, read its tokens' pieces and its GGUF metadata
    (``model``: a ``llama_model`` pointer that must outlive this object)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.vocab = llama_cpp.llama_model_get_vocab(model)
        self.bos = int(llama_cpp.llama_vocab_bos(self.vocab))
        self.eos = int(llama_cpp.llama_vocab_eos(self.vocab))

    def tokenize(self, text: bytes, *, add_bos: bool, special: bool) -> list[int]:
        """``text``'s tokens, a BOS first when ``add_bos`` (and the model adds one); with
        ``special``, control tokens written in the text are parsed as such."""
        room = len(text) + 2
        while True:
            tokens = (llama_cpp.llama_token * room)()
            count = llama_cpp.llama_tokenize(
                self.vocab, text, len(text), tokens, room, add_bos, special
            )
            if count >= 0:
                return list(tokens[:count])
            if -count <= room:  # llama.cpp says how many it needs; anything else is a failure
                raise ValueError(f"llama.cpp cannot tokenize {text[:40]!r}")
            room = -count

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """The bytes ``token`` stands for (a control token's text only with ``special``)."""
        size = _PIECE
        while True:
            buffer = ctypes.create_string_buffer(size)
            length = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, size, 0, special)
            if length >= 0:
                return buffer.raw[:length]
            size = -length

    def metadata(self) -> dict[str, str]:
        """The GGUF's key-value pairs (arrays, such as the token list, are left out by
        llama.cpp), as strings."""
        meta: dict[str, str] = {}
        for index in range(llama_cpp.llama_model_meta_count(self._model)):
            key = self._read(llama_cpp.llama_model_meta_key_by_index, index)
            meta[key] = self._read(llama_cpp.llama_model_meta_val_str_by_index, index)
        return meta

    def _read(self, getter: Callable[..., int], index: int) -> str:
        size = 256
        while True:
            buffer = ctypes.create_string_buffer(size)
            length = getter(self._model, index, buffer, size)
            if length < size:
                return buffer.value.decode("utf-8", errors="replace")
            size = length + 1
