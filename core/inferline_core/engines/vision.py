"""A vision model's projector (mmproj) through llama.cpp's mtmd library: a prompt whose text
holds a media marker per image, plus the images' bytes, becomes an evaluated context.

mtmd reads the projector type from the mmproj file itself (LLaVA, Gemma 3, Qwen-VL ...), so
the chat template stays the model's own; only the images go through mtmd. Image positions in
``input_ids`` are set to -1 so that no later text prompt can mistake them for a cached prefix.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import llama_cpp
import llama_cpp.mtmd_cpp as mtmd

from inferline_core.exceptions import ContextLengthExceeded, InvalidArgument

MARKER = mtmd.mtmd_default_marker().decode()


def _drop(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """mtmd logs every prompt it tokenizes: users' words stay out of the core's log."""


_QUIET = llama_cpp.llama_log_callback(_drop)  # kept referenced: C holds the pointer
mtmd.mtmd_helper_log_set(_QUIET, ctypes.c_void_p(0))


class VisionEncoder:
    """The multimodal projector of one loaded model."""

    def __init__(self, llm: llama_cpp.Llama, mmproj: str, *, threads: int, gpu: bool) -> None:
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = gpu
        params.print_timings = False
        params.n_threads = threads
        self._ctx = mtmd.mtmd_init_from_file(mmproj.encode(), llm.model, params)
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

    def evaluate(self, llm: llama_cpp.Llama, text: str, images: Sequence[bytes]) -> list[int]:
        """Evaluate ``text`` (one MARKER per image) with ``images``; return the prompt as
        ``llm.input_ids`` now holds it (image positions are -1)."""
        bitmaps = []
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            bitmaps = [self._bitmap(data, index) for index, data in enumerate(images)]
            encoded = text.encode()
            prompt = mtmd.mtmd_input_text()
            prompt.text, prompt.text_len = encoded, len(encoded)
            prompt.add_special, prompt.parse_special = True, True
            array = (mtmd.mtmd_bitmap_p_ctypes * len(bitmaps))(*bitmaps)
            if mtmd.mtmd_tokenize(self._ctx, chunks, ctypes.byref(prompt), array, len(bitmaps)):
                raise InvalidArgument(
                    "the images do not match the prompt's image places", param="messages"
                )
            self._eval_chunks(llm, chunks)
            return [int(t) for t in llm.input_ids[: llm.n_tokens]]
        finally:
            mtmd.mtmd_input_chunks_free(chunks)
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)

    def _eval_chunks(self, llm: llama_cpp.Llama, chunks: mtmd.mtmd_input_chunks_p) -> None:
        llm.n_tokens = 0  # forget the cached prompt: the context is rebuilt below
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
        for index in range(mtmd.mtmd_input_chunks_size(chunks)):
            chunk = mtmd.mtmd_input_chunks_get(chunks, index)
            if mtmd.mtmd_input_chunk_get_type(chunk) == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                count = ctypes.c_size_t()
                pointer = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(count))
                tokens = [pointer[i] for i in range(count.value)]
                self._check_room(llm, len(tokens))
                llm.eval(tokens)
                continue
            start = llm.n_tokens
            self._check_room(llm, mtmd.mtmd_input_chunk_get_n_tokens(chunk))
            after = llama_cpp.llama_pos(0)
            failed = mtmd.mtmd_helper_eval_chunk_single(
                self._ctx,
                llm.ctx,
                chunk,
                llama_cpp.llama_pos(start),
                llama_cpp.llama_seq_id(0),
                llm.n_batch,
                False,
                ctypes.byref(after),
            )
            if failed:
                raise InvalidArgument("an image could not be encoded", param="messages")
            llm.n_tokens = after.value
            llm.input_ids[start : llm.n_tokens] = -1

    @staticmethod
    def _check_room(llm: llama_cpp.Llama, more: int) -> None:
        if llm.n_tokens + more > llm.n_ctx():
            raise ContextLengthExceeded(
                f"the prompt with its images needs more than the model's {llm.n_ctx()} tokens",
                param="messages",
            )

    def close(self) -> None:
        """Free the projector."""
        if self._ctx:
            mtmd.mtmd_free(self._ctx)
            self._ctx = None
