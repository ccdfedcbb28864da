"""``/v1/responses``: the Responses API on ChatService, and its kept responses.

parse -> the stored conversation -> translate (to a chat request, then the chat family's
ChatRequest) -> SDK call -> output items -> keep (unless ``store: false``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from inferline import AsyncClient
from inferline.v1 import chat_service_pb2 as pb
from inferline_bridge import sse
from inferline_bridge.calls import sse_response, unless_disconnected
from inferline_bridge.chat import translate as chat_translate
from inferline_bridge.chat.controller import fetch_images
from inferline_bridge.chat.wire import ChatCompletionRequest, Message
from inferline_bridge.errors import APIError
from inferline_bridge.responses import items, output, translate
from inferline_bridge.responses.events import Event, EventWriter
from inferline_bridge.responses.store import ResponseStore
from inferline_bridge.responses.wire import ResponseRequest, parse
from inferline_bridge.settings import BridgeSettings

T = TypeVar("T")


async def _renamed(work: Callable[[], Awaitable[T]]) -> T:
    """Errors that name a chat field name the Responses field instead, in ``param`` and
    where the message repeats it."""
    try:
        return await work()
    except APIError as error:
        chat_param, error.param = error.param, translate.rename_param(error.param)
        if chat_param and error.param and error.param != chat_param:
            error.message = error.message.replace(chat_param, error.param)
        raise


def _conversation(wire: ResponseRequest, store: ResponseStore) -> tuple[Message, ...]:
    if wire.previous_response_id is None:
        return ()
    kept = store.get(wire.previous_response_id, param="previous_response_id")
    return kept.conversation


async def _chat_pb(chat: ChatCompletionRequest, settings: BridgeSettings) -> pb.ChatRequest:
    """The ChatRequest, made by the chat family (images fetched as chat fetches them)."""
    return chat_translate.request_pb(chat, await fetch_images(chat, settings))


class ResponsesController(Controller):
    """OpenAI's Responses API."""

    path = "/v1/responses"

    @post(status_code=200)
    async def create(
        self,
        request: Request[Any, Any, Any],
        client: NamedDependency[AsyncClient],
        settings: NamedDependency[BridgeSettings],
        responses: NamedDependency[ResponseStore],
    ) -> Response[Any] | Stream:
        """Create a response, as JSON or as the Responses API's typed Server-Sent Events."""
        wire = parse(await request.body())
        translate.check(wire)
        history = _conversation(wire, responses)
        messages = translate.input_messages(wire)
        chat = translate.chat_request(wire, history, messages)
        call = await _renamed(lambda: _chat_pb(chat, settings))
        response_id, echo = output.new_id("resp"), translate.echo(wire)
        conversation = [*history, *messages]
        keep = wire.store is not False

        def put(body: dict[str, Any]) -> None:
            if keep:
                finished = [*conversation, *output.as_messages(body["output"])]
                responses.put(body, finished, items.input_items(wire))

        if not wire.stream:
            reply = await _renamed(lambda: unless_disconnected(request, client.chat(request=call)))
            body = output.from_chat(response_id, echo, reply)
            put(body)
            return Response(body)
        writer = EventWriter(response_id, echo)

        def events(message: pb.ChatStreamResponse) -> list[Event]:
            out = writer.events(message)
            if writer.response is not None:
                put(writer.response)
            return out

        return await _renamed(
            lambda: sse_response(
                request,
                client.chat_stream(request=call),
                events,
                encode=sse.typed_event,
                done=None,
                on_error=writer.failed,
            )
        )

    @get("/{response_id:str}")
    async def retrieve(
        self,
        response_id: FromPath[str],
        responses: NamedDependency[ResponseStore],
        stream: FromQuery[bool] = False,
    ) -> dict[str, Any]:
        """A kept response."""
        if stream:
            raise APIError(400, "replaying a response as a stream is not supported", param="stream")
        return responses.get(response_id).response

    @get("/{response_id:str}/input_items")
    async def input_items(
        self,
        response_id: FromPath[str],
        responses: NamedDependency[ResponseStore],
        after: FromQuery[str | None] = None,
        limit: FromQuery[int] = 20,
        order: FromQuery[Literal["asc", "desc"]] = "desc",
        include: FromQuery[list[str] | None] = None,
    ) -> dict[str, Any]:
        """The input items of a kept response, newest first unless ``order=asc``."""
        if include:
            raise APIError(400, "include is not supported on input items", param="include")
        kept = responses.get(response_id)
        return items.page(kept.input_items, limit=limit, order=order, after=after)

    @delete("/{response_id:str}", status_code=200)
    async def remove(
        self, response_id: FromPath[str], responses: NamedDependency[ResponseStore]
    ) -> dict[str, Any]:
        """Forget a kept response."""
        responses.delete(response_id)
        return {"id": response_id, "object": "response", "deleted": True}
