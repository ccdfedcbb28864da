"""ChatService: pb <-> engine types for Chat and ChatStream, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from inferline.v1 import chat_service_pb2 as pb
from inferline.v1 import chat_service_pb2_grpc as pb_grpc
from inferline.v1 import common_pb2
from inferline_core.engines.base import (
    IMAGE_MARKER,
    ChatOptions,
    ChatTurn,
    Finish,
    Sampling,
    TextDelta,
    TextGenerator,
    ToolCall,
    ToolCallDelta,
)
from inferline_core.errors import InvalidArgument, grpc_errors, grpc_stream_errors
from inferline_core.registry import Registry
from inferline_core.services import common
from inferline_core.services.chat_options import chat_options

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
    texts, images = [], []
    for part in message.content:
        if part.WhichOneof("part") == "image":
            if not part.image.data:
                raise InvalidArgument("an image part carries no bytes", param="messages")
            images.append(part.image.data)
            texts.append(IMAGE_MARKER)
        else:
            texts.append(part.text.replace(IMAGE_MARKER, ""))  # text cannot place images
    calls = tuple(
        ToolCall(call.id, call.function.name, call.function.arguments)
        for call in message.tool_calls
    )
    text = "".join(texts)
    return ChatTurn(role, text, message.name, calls, message.tool_call_id, tuple(images))


def _prepare(request: pb.ChatRequest) -> tuple[list[ChatTurn], Sampling, ChatOptions, int]:
    if not request.messages:
        raise InvalidArgument("messages must not be empty", param="messages")
    turns = [_turn(message) for message in request.messages]
    options = chat_options(request)
    sampling = common.sampling_from_pb(request.sampling)
    if sampling.max_tokens == 0:  # only a raw completion can read a prompt without answering
        raise InvalidArgument("max_tokens must be at least 1", param="max_tokens")
    return turns, sampling, options, common.choice_count(request.n)


def _work(
    turns: list[ChatTurn], sampling: Sampling, options: ChatOptions, n: int
) -> Callable[[TextGenerator], common.Work]:
    return common.choices_work(
        n,
        lambda engine, index, cancel: engine.chat(
            turns, sampling, options, index=index, cancel=cancel
        ),
    )


def _message(answer: common.Answer) -> pb.ChatMessage:
    message = pb.ChatMessage(role=pb.ROLE_ASSISTANT)
    if answer.text or not answer.calls:
        message.content.append(common_pb2.ContentPart(text=answer.text))
    for call in answer.calls:
        function = common_pb2.FunctionCall(name=call.name, arguments=call.arguments)
        message.tool_calls.append(common_pb2.ToolCall(id=call.id, function=function))
    return message


def _delta(event: TextDelta | ToolCallDelta) -> pb.ChatDelta | None:
    if isinstance(event, ToolCallDelta):
        return pb.ChatDelta(index=event.index, tool_calls=[common.tool_call_delta_pb(event)])
    if not event.text and not event.logprobs:
        return None
    return pb.ChatDelta(
        index=event.index,
        content=event.text,
        logprobs=common.logprobs_pb(event.logprobs),
        tokens=event.tokens,
    )


class ChatServicer(pb_grpc.ChatServiceServicer):
    """Chat and ChatStream on the registry's text models."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @grpc_errors
    async def Chat(self, request: pb.ChatRequest, context: Any) -> pb.ChatResponse:
        """Answer with complete choices."""
        turns, sampling, options, n = _prepare(request)
        model, events = await common.run(
            self._registry, request, "chat", _work(turns, sampling, options, n), context
        )
        answers, finishes = await common.collect(events)
        choices = []
        for finish in finishes:
            answer = answers.get(finish.index, common.Answer())
            choices.append(
                pb.ChatChoice(
                    index=finish.index,
                    message=_message(answer),
                    finish_reason=common.finish_pb(finish.reason),
                    logprobs=common.logprobs_pb(answer.logprobs),
                )
            )
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
        turns, sampling, options, n = _prepare(request)
        model, events = await common.run(
            self._registry, request, "chat", _work(turns, sampling, options, n), context
        )
        cid, created = common.new_id("chatcmpl"), common.now()
        finishes: list[Finish] = []
        async for event in events:
            if isinstance(event, Finish):
                finishes.append(event)
            elif (delta := _delta(event)) is not None:
                yield pb.ChatStreamResponse(id=cid, model=model, created=created, delta=delta)
        yield pb.ChatStreamResponse(
            id=cid, model=model, created=created, final=common.final_pb(finishes)
        )
