"""ImageService: text-to-image and edits on the registry's diffusion models, whole or with
progress after every denoising step. Images travel as PNG bytes."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from inferline.v1 import common_pb2
from inferline.v1 import image_service_pb2 as pb
from inferline.v1 import image_service_pb2_grpc as pb_grpc
from inferline_core.engines.base import ImageEvent, ImageProgress, ImageSpec, MadeImage, Painter
from inferline_core.errors import InvalidArgument, grpc_errors, grpc_stream_errors
from inferline_core.registry import Registry
from inferline_core.services import common

MAX_IMAGES = 10
_FORMATS = {
    pb.IMAGE_FORMAT_UNSPECIFIED: "png",
    pb.IMAGE_FORMAT_PNG: "png",
    pb.IMAGE_FORMAT_JPEG: "jpeg",
    pb.IMAGE_FORMAT_WEBP: "webp",
}


def _spec(prompt: str, params: pb.DiffusionParams, **edit: Any) -> ImageSpec:
    if not prompt.strip():
        raise InvalidArgument("prompt must not be empty", param="prompt")
    if not 0 <= params.n <= MAX_IMAGES:
        raise InvalidArgument(f"n must be between 1 and {MAX_IMAGES}", param="n")
    guidance = params.guidance_scale if params.HasField("guidance_scale") else None
    if guidance is not None and not 0 <= guidance <= 30:
        raise InvalidArgument("guidance_scale must be between 0 and 30", param="guidance_scale")

    def value(name: str) -> Any:
        return getattr(params, name) if params.HasField(name) else None

    quality = value("output_compression")
    if quality is not None and not 0 <= quality <= 100:
        raise InvalidArgument(
            "output_compression must be from 0 to 100", param="output_compression"
        )

    return ImageSpec(
        prompt=prompt,
        negative_prompt=params.negative_prompt,
        width=value("width"),
        height=value("height"),
        steps=value("steps"),
        guidance=guidance,
        seed=value("seed"),
        n=params.n or 1,
        scheduler=params.scheduler,
        output_format=_FORMATS[params.output_format],
        quality=100 if quality is None else quality,
        **edit,
    )


def _edit_spec(request: pb.EditImageRequest) -> ImageSpec:
    if not request.image.data:
        raise InvalidArgument("image is required: the picture to edit", param="image")
    strength = request.strength if request.HasField("strength") else None
    if strength is not None and not 0 < strength <= 1:
        raise InvalidArgument("strength must be above 0 and at most 1", param="strength")
    return _spec(
        request.prompt,
        request.params,
        image=request.image.data,
        mask=request.mask.data or None,
        strength=strength,
    )


def _image_pb(made: MadeImage) -> pb.GeneratedImage:
    return pb.GeneratedImage(
        image=common_pb2.Image(data=made.data, mime_type=made.mime_type), seed=made.seed
    )


def _progress_pb(event: ImageProgress) -> pb.DiffusionProgress:
    return pb.DiffusionProgress(
        image_index=event.image_index, step=event.step, total_steps=event.total
    )


class ImageServicer(pb_grpc.ImageServiceServicer):
    """GenerateImage and EditImage, whole or streamed with progress."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def _events(
        self, model: str, spec: ImageSpec, request: Any, context: Any
    ) -> tuple[str, AsyncIterator[ImageEvent]]:
        lease = await self._registry.painter(model, common.keep_alive(request))
        engine: Painter = lease.engine

        def work(cancel: threading.Event) -> Iterator[ImageEvent]:
            return engine.paint(spec, cancel=cancel)

        return lease.id, common.leased_events(lease, work, context)

    async def _images(
        self, model: str, spec: ImageSpec, request: Any, context: Any
    ) -> tuple[str, list[pb.GeneratedImage]]:
        model_id, events = await self._events(model, spec, request, context)
        return model_id, [_image_pb(e) async for e in events if isinstance(e, MadeImage)]

    @grpc_errors
    async def GenerateImage(
        self, request: pb.GenerateImageRequest, context: Any
    ) -> pb.GenerateImageResponse:
        """Images from a prompt."""
        spec = _spec(request.prompt, request.params)
        model, images = await self._images(request.model, spec, request, context)
        return pb.GenerateImageResponse(model=model, created=common.now(), images=images)

    @grpc_errors
    async def EditImage(self, request: pb.EditImageRequest, context: Any) -> pb.EditImageResponse:
        """A changed image (inpainted where the mask is white, when there is a mask)."""
        model, images = await self._images(request.model, _edit_spec(request), request, context)
        return pb.EditImageResponse(model=model, created=common.now(), images=images)

    @grpc_stream_errors
    async def GenerateImageStream(
        self, request: pb.GenerateImageRequest, context: Any
    ) -> AsyncIterator[pb.GenerateImageStreamResponse]:
        """Progress after every step, then the images."""
        spec = _spec(request.prompt, request.params)
        model, events = await self._events(request.model, spec, request, context)
        final = pb.GenerateImageResponse(model=model, created=common.now())
        async for event in events:
            if isinstance(event, ImageProgress):
                yield pb.GenerateImageStreamResponse(progress=_progress_pb(event))
            else:
                final.images.append(_image_pb(event))
        yield pb.GenerateImageStreamResponse(final=final)

    @grpc_stream_errors
    async def EditImageStream(
        self, request: pb.EditImageRequest, context: Any
    ) -> AsyncIterator[pb.EditImageStreamResponse]:
        """Progress after every step, then the images."""
        model, events = await self._events(request.model, _edit_spec(request), request, context)
        final = pb.EditImageResponse(model=model, created=common.now())
        async for event in events:
            if isinstance(event, ImageProgress):
                yield pb.EditImageStreamResponse(progress=_progress_pb(event))
            else:
                final.images.append(_image_pb(event))
        yield pb.EditImageStreamResponse(final=final)
