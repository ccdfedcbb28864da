"""The OpenAI embeddings request, with Nexa's ``normalize`` and ``truncate``."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from inferline_bridge.numbers import Int32


class EmbeddingRequest(msgspec.Struct, kw_only=True):
    """``POST /v1/embeddings``."""

    # A string, a list of strings, a list of token ids or a list of token-id lists.
    input: str | list[Any]
    model: str = ""
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Int32 | None = None
    user: str | None = None
    normalize: bool | None = None
    truncate: bool | None = None
