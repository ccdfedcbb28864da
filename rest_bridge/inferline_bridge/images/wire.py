"""Image request bodies: OpenAI's generations (with diffusion extras) and Nexa's txt2img /
img2img."""

from __future__ import annotations

from typing import Literal

import msgspec

from inferline_bridge.numbers import Int32, Int64


class GenerationRequest(msgspec.Struct, kw_only=True):
    """``POST /v1/images/generations``."""

    prompt: str
    model: str = ""
    n: Int32 | None = None
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    quality: str | None = None
    style: str | None = None
    user: str | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: Int32 | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    stream: bool | None = None
    partial_images: Int32 | None = None
    # Diffusion extras.
    seed: Int64 | None = None
    negative_prompt: str | None = None
    steps: Int32 | None = None
    num_inference_steps: Int32 | None = None
    guidance_scale: float | None = None
    scheduler: str | None = None


class NexaImageRequest(msgspec.Struct, kw_only=True):
    """Nexa's ``POST /v1/txt2img`` and ``/v1/img2img``."""

    prompt: str
    model: str = ""
    image_path: str = ""
    cfg_scale: float | None = None
    width: Int32 | None = None
    height: Int32 | None = None
    sample_steps: Int32 | None = None
    seed: Int64 | None = None
    negative_prompt: str = ""
    strength: float | None = None
