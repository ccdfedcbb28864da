"""Server-Sent Events exactly as OpenAI sends them: ``data: <json>`` blocks, then ``[DONE]``;
the Responses API names each event (``event: <type>``) and sends no ``[DONE]``."""

from __future__ import annotations

from typing import Any

import msgspec

DONE = b"data: [DONE]\n\n"
_encoder = msgspec.json.Encoder()


def event(payload: Any) -> bytes:
    """One SSE event carrying ``payload`` as JSON."""
    return b"data: " + _encoder.encode(payload) + b"\n\n"


def typed_event(payload: dict[str, Any]) -> bytes:
    """One named SSE event, as the Responses API sends them: its ``type`` is the event name."""
    kind: str = payload["type"]
    return b"event: " + kind.encode() + b"\n" + event(payload)
