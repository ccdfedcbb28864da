"""The multipart forms of the audio and image-edit endpoints, as JSON schemas (read by hand
in their controllers, field by field)."""

from __future__ import annotations

from typing import Any

_FILE = {"type": "string", "format": "binary"}
_INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}

AUDIO_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": _FILE,
        "model": {"type": "string", "description": "whisper-1 or empty: the default model"},
        "language": {"type": "string"},
        "prompt": {"type": "string"},
        "response_format": {"enum": ["json", "text", "srt", "verbose_json", "vtt"]},
        "temperature": {"type": "number"},
        "timestamp_granularities[]": {
            "type": "array",
            "items": {"enum": ["word", "segment"]},
        },
        "stream": {"type": "boolean", "description": "transcriptions as json or text only"},
        "beam_size": _INT32,
        "no_speech_threshold": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "drop a window as silence above this no-speech probability "
            "(default 0.6; 1 never drops)",
        },
        "log_prob_threshold": {
            "type": "number",
            "minimum": -100,
            "maximum": 0,
            "description": "keep a window whose average log probability is above this "
            "(default -1.0)",
        },
    },
}

IMAGE_EDIT_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["image", "prompt"],
    "properties": {
        "image": _FILE,
        "mask": _FILE,
        "prompt": {"type": "string"},
        "model": {"type": "string"},
        "n": _INT32,
        "size": {"type": "string", "description": "WIDTHxHEIGHT or auto"},
        "response_format": {"enum": ["url", "b64_json"]},
        "output_format": {"enum": ["png", "jpeg", "webp"]},
        "output_compression": {"type": "integer", "minimum": 0, "maximum": 100},
        "quality": {"enum": ["auto", "standard"]},
        "background": {"enum": ["opaque", "auto"]},
        "moderation": {"enum": ["low", "auto"]},
        "scheduler": {"type": "string"},
        "steps": _INT32,
        "guidance_scale": {"type": "number"},
        "seed": {"type": "integer"},
        "negative_prompt": {"type": "string"},
        "strength": {"type": "number"},
    },
}
