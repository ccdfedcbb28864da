"""Image request bodies: OpenAI's generations (with diffusion extras) and Nexa's txt2img /
img2img."""

from __future__ import annotations

from typing import Literal

import msgspec


class GenerationRequest(msgspec.Struct, kw_only=True):
    """``POST /v1/images/generations``."""

    prompt: str
    model: str = ""
    n: int | None = None
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    quality: str | None = None
    style: str | None = None
    user: str | None = None
    # Diffusion extras.
    seed: int | None = None
    negative_prompt: str | None = None
    steps: int | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    scheduler: str | None = None


class NexaImageRequest(msgspec.Struct, kw_only=True):
    """Nexa's ``POST /v1/txt2img`` and ``/v1/img2img``."""

    prompt: str
    model: str = ""
    image_path: str = ""
    cfg_scale: float | None = None
    width: int | None = None
    height: int | None = None
    sample_steps: int | None = None
    seed: int | None = None
    negative_prompt: str = ""
    strength: float | None = None
