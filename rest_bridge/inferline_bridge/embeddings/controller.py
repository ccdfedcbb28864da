"""``POST /v1/embeddings``: parse -> translate -> SDK call -> translate."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency

from inferline import AsyncClient
from inferline_bridge.calls import decode, unless_disconnected
from inferline_bridge.embeddings import translate
from inferline_bridge.embeddings.wire import EmbeddingRequest


class EmbeddingsController(Controller):
    """OpenAI embeddings."""

    path = "/v1/embeddings"

    @post(status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], client: NamedDependency[AsyncClient]
    ) -> Response[Any]:
        """One vector per input, as floats or base64."""
        wire = decode(await request.body(), EmbeddingRequest)
        reply = await unless_disconnected(request, client.embed(request=translate.request_pb(wire)))
        return Response(translate.response_dict(reply, wire.encoding_format))
