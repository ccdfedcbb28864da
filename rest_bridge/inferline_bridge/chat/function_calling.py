"""Nexa's ``POST /v1/function-calling``: a chat completion with tools, on the same core RPC.

The body is a chat completions body (Nexa clients send ``messages``, ``tools`` and
``tool_choice``). The answer is a ``chat.completion`` whose message also carries the legacy
``function_call`` (the first call) that Nexa's server returns beside ``tool_calls``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency

from inferline import AsyncClient
from inferline_bridge.calls import decode, unless_disconnected
from inferline_bridge.chat import translate
from inferline_bridge.chat.wire import ChatCompletionRequest
from inferline_bridge.errors import APIError


class FunctionCallingController(Controller):
    """Nexa-style function calling."""

    path = "/v1/function-calling"

    @post(status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], client: NamedDependency[AsyncClient]
    ) -> Response[Any]:
        """Answer with tool calls (or text, when the model chooses not to call)."""
        wire = decode(await request.body(), ChatCompletionRequest)
        if not wire.tools:
            raise APIError(400, "function calling needs tools", param="tools")
        if wire.stream:
            raise APIError(
                400, "this endpoint does not stream; use /v1/chat/completions", param="stream"
            )
        call = translate.request_pb(wire)
        reply = await unless_disconnected(request, client.chat(request=call))
        body = translate.response_dict(reply, logprobs=call.sampling.logprobs)
        for choice, answer in zip(body["choices"], reply.choices, strict=True):
            calls = translate.tool_calls(answer.message)
            if calls:
                choice["message"]["function_call"] = calls[0]["function"]
        return Response(body)
