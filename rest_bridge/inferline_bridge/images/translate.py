"""Images: requests -> ImageService protos, responses -> OpenAI's and Nexa's shapes."""

from __future__ import annotations

import base64
import re
from typing import Any

from inferline.v1 import common_pb2
from inferline.v1 import image_service_pb2 as pb
from inferline_bridge.errors import APIError
from inferline_bridge.images.files import ROUTE, ImageFiles
from inferline_bridge.images.wire import GenerationRequest, NexaImageRequest

_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
DEFAULT_QUALITIES = (None, "auto", "standard")


def size(value: str | None) -> tuple[int | None, int | None]:
    """``"512x768"`` as (width, height); ``auto`` or nothing leaves the model's default."""
    if value in (None, "", "auto"):
        return None, None
    match = _SIZE.match(value)
    if match is None:
        raise APIError(
            400, f"size must be WIDTHxHEIGHT, such as 512x512, not {value!r}", param="size"
        )
    return int(match[1]), int(match[2])


def params(
    *,
    n: int | None = None,
    size_text: str | None = None,
    width: int | None = None,
    height: int | None = None,
    **extras: Any,
) -> pb.DiffusionParams:
    """DiffusionParams from OpenAI's and our fields; unset stays unset."""
    if size_text is not None:
        width, height = size(size_text)
    out = pb.DiffusionParams(n=n or 0)
    for name, value in {"width": width, "height": height, **extras}.items():
        if value is not None:
            setattr(out, name, value)
    return out


_OUTPUT_FORMATS = {
    None: pb.IMAGE_FORMAT_UNSPECIFIED,
    "png": pb.IMAGE_FORMAT_PNG,
    "jpeg": pb.IMAGE_FORMAT_JPEG,
    "webp": pb.IMAGE_FORMAT_WEBP,
}


def check_style(quality: Any, style: Any) -> None:
    """quality and style are OpenAI-model settings a diffusion model has no notion of."""
    if quality not in DEFAULT_QUALITIES:
        raise APIError(400, "quality is not supported by diffusion models here", param="quality")
    if style not in (None, ""):
        raise APIError(400, "style is not supported by diffusion models here", param="style")


def output(
    output_format: Any = None,
    output_compression: int | None = None,
    background: Any = None,
    stream: Any = None,
    partial_images: int | None = None,
) -> dict[str, Any]:
    """The output fields of OpenAI's image requests, as DiffusionParams fields, or a 400."""
    if output_format not in _OUTPUT_FORMATS:
        raise APIError(400, "output_format must be png, jpeg or webp", param="output_format")
    if output_compression is not None and output_format not in ("jpeg", "webp"):
        raise APIError(
            400, "output_compression applies to jpeg and webp output", param="output_compression"
        )
    if background == "transparent":
        raise APIError(400, "the diffusion models here paint opaque images", param="background")
    if stream not in (None, False, "false", ""):
        raise APIError(400, "streamed (partial) images are not supported", param="stream")
    if partial_images:
        raise APIError(400, "partial images are not supported", param="partial_images")
    return {
        "output_format": _OUTPUT_FORMATS[output_format],
        "output_compression": output_compression,
    }


def generation_pb(request: GenerationRequest) -> pb.GenerateImageRequest:
    """The GenerateImageRequest for an OpenAI generations body (``moderation`` is accepted:
    no moderation runs here)."""
    check_style(request.quality, request.style)
    outputs = output(
        request.output_format,
        request.output_compression,
        request.background,
        request.stream,
        request.partial_images,
    )
    return pb.GenerateImageRequest(
        model=request.model,
        prompt=request.prompt,
        params=params(
            n=request.n,
            size_text=request.size,
            steps=request.steps or request.num_inference_steps,
            guidance_scale=request.guidance_scale,
            seed=request.seed,
            negative_prompt=request.negative_prompt,
            scheduler=request.scheduler,
            **outputs,
        ),
        user=request.user or "",
    )


def nexa_params(request: NexaImageRequest) -> pb.DiffusionParams:
    """DiffusionParams from Nexa's field names."""
    return params(
        width=request.width,
        height=request.height,
        steps=request.sample_steps,
        guidance_scale=request.cfg_scale,
        seed=request.seed,
        negative_prompt=request.negative_prompt or None,
    )


def edit_pb(
    model: str,
    prompt: str,
    image: bytes,
    mask: bytes | None,
    diffusion: pb.DiffusionParams,
    strength: float | None,
) -> pb.EditImageRequest:
    """An EditImageRequest."""
    request = pb.EditImageRequest(
        model=model,
        prompt=prompt,
        image=common_pb2.Image(data=image),
        params=diffusion,
        strength=strength,
    )
    if mask:
        request.mask.CopyFrom(common_pb2.Image(data=mask))
    return request


def openai_dict(
    images: Any, created: int, response_format: str, files: ImageFiles, base_url: str
) -> dict[str, Any]:
    """OpenAI's images response: ``url`` (stored here, served back) or ``b64_json``."""
    data = []
    for item in images:
        if response_format == "b64_json":
            data.append({"b64_json": base64.b64encode(item.image.data).decode()})
        else:
            name = files.save(item.image.data, item.image.mime_type)
            data.append({"url": f"{base_url}{ROUTE}/{name}"})
    return {"created": created, "data": data}


def nexa_dict(images: Any, created: float) -> dict[str, Any]:
    """Nexa's images response: ``base64`` for each image (nothing is stored)."""
    return {
        "created": created,
        "data": [{"base64": base64.b64encode(item.image.data).decode()} for item in images],
    }
