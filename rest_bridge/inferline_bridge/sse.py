"""Server-Sent Events exactly as OpenAI sends them: ``data: <json>`` blocks, then ``[DONE]``."""

from __future__ import annotations

from typing import Any

import msgspec

DONE = b"data: [DONE]\n\n"
_encoder = msgspec.json.Encoder()


def event(payload: Any) -> bytes:
    """One SSE event carrying ``payload`` as JSON."""
    return b"data: " + _encoder.encode(payload) + b"\n\n"
