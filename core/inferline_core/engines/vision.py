"""A vision model's projector (mmproj) through llama.cpp's mtmd library: a prompt whose text
holds a media marker per image, plus the images' bytes, becomes chunks (text tokens and image
embeddings) that are evaluated into one sequence of a llama.cpp context.

mtmd reads the projector type from the mmproj file itself (LLaVA, Gemma 3, Qwen-VL ...), so
the chat template stays the model's own; only the images go through mtmd. In a prompt's token
list every image position is -1 (it counts in usage, and matches no text token).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp
import llama_cpp.mtmd_cpp as mtmd

from inferline_core.exceptions import InvalidArgument

MARKER = mtmd.mtmd_default_marker().decode()


def _drop(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """mtmd logs every prompt it tokenizes: users' words stay out of the core's log."""


_QUIET = llama_cpp.llama_log_callback(_drop)  # kept referenced: C holds the pointer
mtmd.mtmd_helper_log_set(_QUIET, ctypes.c_void_p(0))


@dataclass(eq=False)
class VisionPrompt:
    """A tokenized prompt with images: mtmd's chunks and the token list they stand for."""

    chunks: Any  # mtmd_input_chunks_p, freed by ``close``
    tokens: list[int]  # text tokens, and -1 for each image position

    def close(self) -> None:
        """Free the chunks (safe to repeat)."""
        if self.chunks:
            mtmd.mtmd_input_chunks_free(self.chunks)
            self.chunks = None


class VisionEncoder:
    """The multimodal projector of one loaded model. ``tokenize`` may run on any thread,
    ``evaluate`` on the thread that owns the llama.cpp context; a lock keeps them apart."""

    def __init__(
        self, model: llama_cpp.llama_model_p, mmproj: str, *, threads: int, gpu: bool
    ) -> None:
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = gpu
        params.print_timings = False
        params.n_threads = threads
        self._lock = threading.Lock()
        self._ctx = mtmd.mtmd_init_from_file(mmproj.encode(), model, params)
        if not self._ctx:
            raise ValueError(f"cannot load the projector {mmproj!r}")
        if not mtmd.mtmd_support_vision(self._ctx):
            self.close()
            raise ValueError(f"the projector {mmproj!r} has no vision encoder")

    def _bitmap(self, data: bytes, index: int) -> mtmd.mtmd_bitmap_p:
        buffer = (ctypes.c_uint8 * len(data)).from_buffer(bytearray(data))
        bitmap = mtmd.mtmd_helper_bitmap_init_from_buf(self._ctx, buffer, len(data), False)
        if not bitmap:
            raise InvalidArgument(f"image {index + 1} could not be decoded", param="messages")
        return bitmap

    def tokenize(self, text: str, images: Sequence[bytes]) -> VisionPrompt:
        """``text`` (one MARKER per image) with ``images`` as chunks."""
        bitmaps = []
        prompt = VisionPrompt(mtmd.mtmd_input_chunks_init(), [])
        try:
            with self._lock:
                bitmaps = [self._bitmap(data, index) for index, data in enumerate(images)]
                encoded = text.encode()
                source = mtmd.mtmd_input_text()
                source.text, source.text_len = encoded, len(encoded)
                source.add_special, source.parse_special = True, True
                array = (mtmd.mtmd_bitmap_p_ctypes * len(bitmaps))(*bitmaps)
                if mtmd.mtmd_tokenize(
                    self._ctx, prompt.chunks, ctypes.byref(source), array, len(bitmaps)
                ):
                    raise InvalidArgument(
                        "the images do not match the prompt's image places", param="messages"
                    )
            prompt.tokens = _tokens(prompt.chunks)
        except BaseException:
            prompt.close()
            raise
        finally:
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)
        return prompt

    def evaluate(self, ctx: Any, prompt: VisionPrompt, *, seq: int, n_batch: int) -> int:
        """Decode the prompt into sequence ``seq`` from position 0, logits on its last token
        (row -1); returns the next position."""
        after = llama_cpp.llama_pos(0)
        with self._lock:
            failed = mtmd.mtmd_helper_eval_chunks(
                self._ctx,
                ctx,
                prompt.chunks,
                llama_cpp.llama_pos(0),
                llama_cpp.llama_seq_id(seq),
                n_batch,
                True,
                ctypes.byref(after),
            )
        if failed:
            raise InvalidArgument("an image could not be encoded", param="messages")
        return int(after.value)

    def close(self) -> None:
        """Free the projector."""
        if self._ctx:
            mtmd.mtmd_free(self._ctx)
            self._ctx = None


def _tokens(chunks: Any) -> list[int]:
    tokens: list[int] = []
    for index in range(mtmd.mtmd_input_chunks_size(chunks)):
        chunk = mtmd.mtmd_input_chunks_get(chunks, index)
        if mtmd.mtmd_input_chunk_get_type(chunk) == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
            count = ctypes.c_size_t()
            pointer = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(count))
            tokens += [int(pointer[i]) for i in range(count.value)]
        else:
            tokens += [-1] * int(mtmd.mtmd_input_chunk_get_n_tokens(chunk))
    return tokens
