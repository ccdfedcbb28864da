"""``POST /v1/completions``: parse -> translate -> SDK call -> translate."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.response import Stream

from inferline import AsyncClient
from inferline_bridge.calls import decode, sse_response, unless_disconnected
from inferline_bridge.completions import translate
from inferline_bridge.completions.wire import CompletionRequest
from inferline_bridge.sampling import include_usage


class CompletionsController(Controller):
    """OpenAI (legacy) completions."""

    path = "/v1/completions"

    @post(status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], client: NamedDependency[AsyncClient]
    ) -> Response[Any] | Stream:
        """Continue a prompt, as JSON or as Server-Sent Events."""
        wire = decode(await request.body(), CompletionRequest)
        call = translate.request_pb(wire)
        if not wire.stream:
            reply = await unless_disconnected(request, client.complete(request=call))
            return Response(
                translate.response_dict(
                    reply, logprobs=call.sampling.logprobs, nexa=translate.nexa_shaped(wire)
                )
            )
        return await sse_response(
            request,
            client.complete_stream(request=call),
            translate.ChunkWriter(include_usage(wire)).chunks,
        )
