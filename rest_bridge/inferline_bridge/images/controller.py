"""Image endpoints: OpenAI's generations and edits, Nexa's txt2img and img2img, and the stored
files that ``url`` answers point at."""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import File

from inferline import AsyncClient
from inferline_bridge.calls import decode, form_number, unless_disconnected
from inferline_bridge.chat.images import read_local
from inferline_bridge.errors import APIError
from inferline_bridge.images import translate
from inferline_bridge.images.files import MEDIA_TYPES, ROUTE, ImageFiles
from inferline_bridge.images.wire import GenerationRequest, NexaImageRequest
from inferline_bridge.settings import BridgeSettings

FORMATS = ("url", "b64_json")


def _base(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


async def _file(form: Any, key: str) -> bytes | None:
    """A multipart file field (OpenAI also names the image ``image[]``)."""
    upload = form.get(key) or form.get(f"{key}[]")
    return await upload.read() if isinstance(upload, UploadFile) else None


class ImagesController(Controller):
    """Image generation and editing."""

    path = ""

    @post("/v1/images/generations", status_code=200)
    async def generations(
        self,
        request: Request[Any, Any, Any],
        client: NamedDependency[AsyncClient],
        settings: NamedDependency[BridgeSettings],
        files: NamedDependency[ImageFiles],
    ) -> Response[Any]:
        """Images from a prompt."""
        wire = decode(await request.body(), GenerationRequest)
        reply = await unless_disconnected(
            request, client.generate_image(request=translate.generation_pb(wire))
        )
        body = translate.openai_dict(
            reply.images, reply.created, wire.response_format or "url", files, _base(request)
        )
        return Response(body)

    @post("/v1/images/edits", status_code=200)
    async def edits(
        self,
        request: Request[Any, Any, Any],
        client: NamedDependency[AsyncClient],
        files: NamedDependency[ImageFiles],
    ) -> Response[Any]:
        """A changed image; a mask inpaints where it is transparent, as on OpenAI."""
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise APIError(400, "send the image as multipart/form-data with an 'image' field")
        form = await request.form()
        response_format = str(form.get("response_format") or "url")
        if response_format not in FORMATS:
            raise APIError(400, "response_format must be url or b64_json", param="response_format")
        if len([*form.getall("image", []), *form.getall("image[]", [])]) > 1:
            raise APIError(400, "edit one image per request", param="image[]")
        image = await _file(form, "image")
        if image is None:
            raise APIError(400, "image is required: a multipart file field", param="image")
        translate.check_style(form.get("quality"), form.get("style"))
        outputs = translate.output(
            form.get("output_format") or None,
            form_number(form, "output_compression", int),
            form.get("background") or None,
            form.get("stream"),
            form_number(form, "partial_images", int),
        )
        call = translate.edit_pb(
            str(form.get("model") or ""),
            str(form.get("prompt") or ""),
            image,
            await _file(form, "mask"),
            translate.params(
                n=form_number(form, "n", int),
                size_text=form.get("size"),
                steps=form_number(form, "steps", int),
                guidance_scale=form_number(form, "guidance_scale", float),
                seed=form_number(form, "seed", int, bits=64),
                negative_prompt=form.get("negative_prompt") or None,
                scheduler=form.get("scheduler") or None,
                **outputs,
            ),
            form_number(form, "strength", float),
        )
        reply = await unless_disconnected(request, client.edit_image(request=call))
        body = translate.openai_dict(
            reply.images, reply.created, response_format, files, _base(request)
        )
        return Response(body)

    async def _nexa(
        self,
        request: Request[Any, Any, Any],
        client: AsyncClient,
        settings: BridgeSettings,
        *,
        edit: bool,
    ) -> Response[Any]:
        wire = decode(await request.body(), NexaImageRequest)
        diffusion = translate.nexa_params(wire)
        if edit and not wire.image_path:
            raise APIError(400, "image_path is required: the image to change", param="image_path")
        if wire.image_path:
            image = read_local(
                wire.image_path, settings.image_folders, param="image_path", refused=400
            )
            call = translate.edit_pb(wire.model, wire.prompt, image, None, diffusion, wire.strength)
            reply: Any = await unless_disconnected(request, client.edit_image(request=call))
        else:
            generate = translate.generation_pb(
                GenerationRequest(prompt=wire.prompt, model=wire.model)
            )
            generate.params.CopyFrom(diffusion)
            reply = await unless_disconnected(request, client.generate_image(request=generate))
        return Response(translate.nexa_dict(reply.images, time.time()))

    @post("/v1/txt2img", status_code=200)
    async def txt2img(
        self,
        request: Request[Any, Any, Any],
        client: NamedDependency[AsyncClient],
        settings: NamedDependency[BridgeSettings],
    ) -> Response[Any]:
        """Nexa: an image from a prompt."""
        return await self._nexa(request, client, settings, edit=False)

    @post("/v1/img2img", status_code=200)
    async def img2img(
        self,
        request: Request[Any, Any, Any],
        client: NamedDependency[AsyncClient],
        settings: NamedDependency[BridgeSettings],
    ) -> Response[Any]:
        """Nexa: a changed image, read from an allowed folder."""
        return await self._nexa(request, client, settings, edit=True)

    @get(f"{ROUTE}/{{name:str}}")
    async def stored(self, name: FromPath[str], files: NamedDependency[ImageFiles]) -> File:
        """A stored result, until it expires."""
        path = files.path(name)
        if path is None:
            raise APIError(404, "no such image, or it has expired", code="image_not_found")
        media_type = MEDIA_TYPES[path.suffix.removeprefix(".")]
        return File(path=path, media_type=media_type, content_disposition_type="inline")
