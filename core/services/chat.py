"""ChatService: pb <-> engine types for Chat and ChatStream, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from core.engines.base import ChatTurn, Finish, Sampling, TextGenerator
from core.errors import InvalidArgument, grpc_errors, grpc_stream_errors
from core.registry import Registry
from core.services import common
from inferline.v1 import chat_service_pb2 as pb
from inferline.v1 import chat_service_pb2_grpc as pb_grpc
from inferline.v1 import common_pb2

_ROLES = {
    pb.ROLE_SYSTEM: "system",
    pb.ROLE_DEVELOPER: "system",
    pb.ROLE_USER: "user",
    pb.ROLE_ASSISTANT: "assistant",
    pb.ROLE_TOOL: "tool",
}


def _turn(message: pb.ChatMessage) -> ChatTurn:
    role = _ROLES.get(message.role)
    if role is None:
        raise InvalidArgument("every message needs a role", param="messages")
    if message.tool_calls or message.tool_call_id:
        raise InvalidArgument("tool calls are not supported yet", param="messages")
    texts = []
    for part in message.content:
        if part.WhichOneof("part") != "text":
            raise InvalidArgument("this server does not accept images yet", param="messages")
        texts.append(part.text)
    return ChatTurn(role, "".join(texts), message.name)


def _check_unsupported(request: pb.ChatRequest) -> None:
    if request.tools:
        raise InvalidArgument("tools are not supported yet", param="tools")
    if request.HasField("tool_choice"):
        raise InvalidArgument("tool_choice is not supported yet", param="tool_choice")
    text_formats = (
        common_pb2.RESPONSE_FORMAT_TYPE_UNSPECIFIED,
        common_pb2.RESPONSE_FORMAT_TYPE_TEXT,
    )
    if request.response_format.type not in text_formats:
        raise InvalidArgument("response_format is not supported yet", param="response_format")


def _prepare(request: pb.ChatRequest) -> tuple[list[ChatTurn], Sampling, int]:
    if not request.messages:
        raise InvalidArgument("messages must not be empty", param="messages")
    _check_unsupported(request)
    turns = [_turn(message) for message in request.messages]
    return turns, common.sampling_from_pb(request.sampling), common.choice_count(request.n)


def _work(
    turns: list[ChatTurn], sampling: Sampling, n: int
) -> Callable[[TextGenerator], common.Work]:
    return common.choices_work(
        n, lambda engine, index, cancel: engine.chat(turns, sampling, index=index, cancel=cancel)
    )


class ChatServicer(pb_grpc.ChatServiceServicer):
    """Chat and ChatStream on the registry's text models."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @grpc_errors
    async def Chat(self, request: pb.ChatRequest, context: Any) -> pb.ChatResponse:
        """Answer with complete choices."""
        turns, sampling, n = _prepare(request)
        model, events = await common.run(
            self._registry, request.model, "chat", _work(turns, sampling, n), context
        )
        texts, finishes = await common.collect(events)
        choices = [
            pb.ChatChoice(
                index=finish.index,
                message=pb.ChatMessage(
                    role=pb.ROLE_ASSISTANT,
                    content=[common_pb2.ContentPart(text=texts.get(finish.index, ""))],
                ),
                finish_reason=common.finish_pb(finish.reason),
            )
            for finish in finishes
        ]
        return pb.ChatResponse(
            id=common.new_id("chatcmpl"),
            model=model,
            created=common.now(),
            choices=choices,
            usage=common.usage_pb(finishes),
        )

    @grpc_stream_errors
    async def ChatStream(
        self, request: pb.ChatRequest, context: Any
    ) -> AsyncIterator[pb.ChatStreamResponse]:
        """Answer with deltas, then one final chunk."""
        turns, sampling, n = _prepare(request)
        model, events = await common.run(
            self._registry, request.model, "chat", _work(turns, sampling, n), context
        )
        cid, created = common.new_id("chatcmpl"), common.now()
        finishes: list[Finish] = []
        async for event in events:
            if isinstance(event, Finish):
                finishes.append(event)
                continue
            delta = pb.ChatDelta(index=event.index, content=event.text)
            yield pb.ChatStreamResponse(id=cid, model=model, created=created, delta=delta)
        yield pb.ChatStreamResponse(
            id=cid, model=model, created=created, final=common.final_pb(finishes)
        )
