"""Chat completions: wire <-> proto, pure functions, no I/O."""

from __future__ import annotations

from typing import Any

from inferline.v1 import chat_service_pb2 as pb
from inferline.v1 import common_pb2
from rest_bridge.chat.wire import ChatCompletionRequest, ImagePart, Message
from rest_bridge.errors import APIError
from rest_bridge.sampling import finish_reason, sampling_pb, usage_dict

_ROLES = {
    "system": pb.ROLE_SYSTEM,
    "developer": pb.ROLE_DEVELOPER,
    "user": pb.ROLE_USER,
    "assistant": pb.ROLE_ASSISTANT,
    "tool": pb.ROLE_TOOL,
}
# Fields this server does not honour yet: a 400 naming them beats silently ignoring them.
_NOT_YET = (
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "audio",
    "modalities",
    "prediction",
    "top_logprobs",
)


def _reject_unsupported(request: ChatCompletionRequest) -> None:
    for name in _NOT_YET:
        if getattr(request, name) not in (None, [], False):
            raise APIError(400, f"{name} is not supported by this server yet", param=name)
    if request.response_format not in (None, {"type": "text"}):
        raise APIError(
            400, "response_format is not supported by this server yet", param="response_format"
        )


def _message_pb(message: Message, index: int) -> pb.ChatMessage:
    if message.tool_calls or message.tool_call_id:
        raise APIError(
            400, "tool messages are not supported by this server yet", param=f"messages[{index}]"
        )
    parts = []
    if isinstance(message.content, str):
        parts.append(common_pb2.ContentPart(text=message.content))
    for part in message.content if isinstance(message.content, list) else ():
        if isinstance(part, ImagePart):
            raise APIError(
                400,
                "images are not supported by this server yet",
                param=f"messages[{index}].content",
            )
        parts.append(common_pb2.ContentPart(text=part.text))
    return pb.ChatMessage(role=_ROLES[message.role], content=parts, name=message.name or "")


def request_pb(request: ChatCompletionRequest) -> pb.ChatRequest:
    """The ChatRequest for an OpenAI chat completions request."""
    _reject_unsupported(request)
    if not request.messages:
        raise APIError(400, "messages must not be empty", param="messages")
    max_tokens = request.max_completion_tokens or request.max_tokens
    return pb.ChatRequest(
        model=request.model,
        messages=[_message_pb(m, i) for i, m in enumerate(request.messages)],
        sampling=sampling_pb(request, max_tokens),
        n=request.n or 0,
        user=request.user or "",
    )


def _text(message: pb.ChatMessage) -> str:
    return "".join(part.text for part in message.content if part.WhichOneof("part") == "text")


def response_dict(response: pb.ChatResponse) -> dict[str, Any]:
    """The ``chat.completion`` object for a ChatResponse."""
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": response.created,
        "model": response.model,
        "choices": [
            {
                "index": choice.index,
                "message": {"role": "assistant", "content": _text(choice.message), "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason(choice.finish_reason),
            }
            for choice in response.choices
        ],
        "usage": usage_dict(response.usage),
        "system_fingerprint": None,
    }


class ChunkWriter:
    """Turns ChatStream messages into ``chat.completion.chunk`` objects, in OpenAI's order."""

    def __init__(self, choices: int, include_usage: bool) -> None:
        self._choices = choices
        self._include_usage = include_usage
        self._started = False

    def _chunk(self, head: pb.ChatStreamResponse, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": head.id,
            "object": "chat.completion.chunk",
            "created": head.created,
            "model": head.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    @staticmethod
    def _choice(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}

    def chunks(self, message: pb.ChatStreamResponse) -> list[dict[str, Any]]:
        """The chunks to send for one stream message."""
        out = []
        if not self._started:
            self._started = True
            out += [
                self._chunk(message, [self._choice(i, {"role": "assistant", "content": ""})])
                for i in range(self._choices)
            ]
        if message.HasField("delta"):
            if message.delta.content:
                delta = {"content": message.delta.content}
                out.append(self._chunk(message, [self._choice(message.delta.index, delta)]))
            return out
        for end in message.final.choices:
            finish = finish_reason(end.finish_reason)
            out.append(self._chunk(message, [self._choice(end.index, {}, finish)]))
        if self._include_usage:
            last = self._chunk(message, [])
            last["usage"] = usage_dict(message.final.usage)
            out.append(last)
        return out
