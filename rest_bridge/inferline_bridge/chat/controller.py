"""``POST /v1/chat/completions``: parse -> translate -> SDK call -> translate."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.response import Stream

from inferline import AsyncClient
from inferline_bridge.calls import decode, sse_response, unless_disconnected
from inferline_bridge.chat import translate
from inferline_bridge.chat.images import load
from inferline_bridge.chat.wire import ChatCompletionRequest
from inferline_bridge.sampling import include_usage
from inferline_bridge.settings import BridgeSettings


async def fetch_images(wire: ChatCompletionRequest, settings: BridgeSettings) -> translate.Images:
    """The bytes of every image part, fetched or read here; the core gets only bytes."""
    images = {}
    for index, position, part in translate.image_parts(wire):
        param = f"messages[{index}].content[{position}].image_url"
        images[index, position] = await load(
            part.image_url.url, part.image_url.path, settings, param
        )
    return images


class ChatController(Controller):
    """OpenAI chat completions."""

    path = "/v1/chat/completions"

    @post(status_code=200)
    async def create(
        self,
        request: Request[Any, Any, Any],
        client: NamedDependency[AsyncClient],
        settings: NamedDependency[BridgeSettings],
    ) -> Response[Any] | Stream:
        """Create a chat completion, as JSON or as Server-Sent Events."""
        wire = decode(await request.body(), ChatCompletionRequest)
        call = translate.request_pb(wire, await fetch_images(wire, settings))
        if not wire.stream:
            reply = await unless_disconnected(request, client.chat(request=call))
            return Response(translate.response_dict(reply, logprobs=call.sampling.logprobs))
        return await sse_response(
            request,
            client.chat_stream(request=call),
            translate.ChunkWriter(call.n or 1, include_usage(wire)).chunks,
        )
