"""The OpenAI (legacy) completions request."""

from __future__ import annotations

from typing import Any

from inferline_bridge.numbers import Int32
from inferline_bridge.sampling import GenerationFields


class CompletionRequest(GenerationFields, kw_only=True):
    """``POST /v1/completions``."""

    # A string, a list of strings, a list of token ids or a list of such lists.
    prompt: str | list[Any] = ""
    model: str = ""
    best_of: Int32 | None = None
    echo: bool = False
    suffix: str | None = None
    extra: Any = None
