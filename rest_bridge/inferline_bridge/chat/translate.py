"""Chat completions: wire <-> proto, pure functions, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from inferline.v1 import chat_service_pb2 as pb
from inferline.v1 import common_pb2
from inferline_bridge.chat.wire import ChatCompletionRequest, ImagePart, Message, NamedToolChoice
from inferline_bridge.errors import APIError
from inferline_bridge.sampling import finish_reason, logprob_dict, sampling_pb, usage_dict

_ROLES = {
    "system": pb.ROLE_SYSTEM,
    "developer": pb.ROLE_DEVELOPER,
    "user": pb.ROLE_USER,
    "assistant": pb.ROLE_ASSISTANT,
    "tool": pb.ROLE_TOOL,
}
_MODES = {
    "none": common_pb2.TOOL_CHOICE_MODE_NONE,
    "auto": common_pb2.TOOL_CHOICE_MODE_AUTO,
    "required": common_pb2.TOOL_CHOICE_MODE_REQUIRED,
}
_FORMATS = {
    "text": common_pb2.RESPONSE_FORMAT_TYPE_TEXT,
    "json_object": common_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT,
    "json_schema": common_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
}
# Fields this server does not honour: a 400 naming them beats silently ignoring them.
_UNSUPPORTED = {
    "functions": "use tools",
    "function_call": "use tool_choice",
    "audio": "audio output is not supported",
    "prediction": "predicted outputs are not supported",
    "reasoning_effort": "the models served here take no reasoning effort",
    "web_search_options": "web search is not supported",
    "verbosity": "verbosity is not supported",
}


def _reject_unsupported(request: ChatCompletionRequest) -> None:
    for name, hint in _UNSUPPORTED.items():
        if getattr(request, name) not in (None, [], False):
            raise APIError(400, f"{name} is not supported by this server: {hint}", param=name)
    if request.modalities is not None and request.modalities != ["text"]:
        raise APIError(400, 'modalities: only ["text"] output is supported', param="modalities")
    if request.tool_choice in (None, "auto"):
        # A forced call's arguments follow its schema (a grammar in the core); a call the
        # model makes on its own is parsed, not constrained, so strict cannot be promised.
        for index, tool in enumerate(request.tools or ()):
            if tool.function.strict:
                raise APIError(
                    400,
                    "strict arguments are enforced only when a call is forced: set tool_choice"
                    " to 'required' or to this function, or leave strict out",
                    param=f"tools[{index}].function.strict",
                )
    for index, position, part in image_parts(request):
        if part.image_url.detail not in (None, "auto", "low", "high"):
            param = f"messages[{index}].content[{position}].image_url.detail"
            raise APIError(400, "detail must be auto, low or high", param=param)
    if request.logprobs is not None and not isinstance(request.logprobs, bool):
        raise APIError(400, "logprobs must be a boolean", param="logprobs")


Images = Mapping[tuple[int, int], tuple[bytes, str]]  # (message, part) -> bytes, MIME


def image_parts(request: ChatCompletionRequest) -> list[tuple[int, int, ImagePart]]:
    """Every image part, with its message's and its own position."""
    return [
        (index, position, part)
        for index, message in enumerate(request.messages)
        if isinstance(message.content, list)
        for position, part in enumerate(message.content)
        if isinstance(part, ImagePart)
    ]


def _message_pb(message: Message, index: int, images: Images) -> pb.ChatMessage:
    parts = []
    if isinstance(message.content, str):
        parts.append(common_pb2.ContentPart(text=message.content))
    for position, part in enumerate(message.content if isinstance(message.content, list) else ()):
        if isinstance(part, ImagePart):
            if (index, position) not in images:
                raise APIError(
                    400, "this endpoint takes no images", param=f"messages[{index}].content"
                )
            data, mime = images[index, position]
            parts.append(common_pb2.ContentPart(image=common_pb2.Image(data=data, mime_type=mime)))
        else:
            parts.append(common_pb2.ContentPart(text=part.text))
    calls = [
        common_pb2.ToolCall(
            id=call.id,
            function=common_pb2.FunctionCall(
                name=call.function.name, arguments=call.function.arguments
            ),
        )
        for call in message.tool_calls or ()
    ]
    return pb.ChatMessage(
        role=_ROLES[message.role],
        content=parts,
        name=message.name or "",
        tool_calls=calls,
        tool_call_id=message.tool_call_id or "",
    )


def _tools_pb(request: ChatCompletionRequest) -> list[common_pb2.Tool]:
    return [
        common_pb2.Tool(
            function=common_pb2.FunctionDefinition(
                name=tool.function.name,
                description=tool.function.description or "",
                parameters_json_schema=json.dumps(tool.function.parameters)
                if tool.function.parameters
                else "",
                strict=bool(tool.function.strict),
            )
        )
        for tool in request.tools or ()
    ]


def _tool_choice_pb(choice: str | NamedToolChoice | None) -> common_pb2.ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, NamedToolChoice):
        return common_pb2.ToolChoice(function_name=choice.function.name)
    return common_pb2.ToolChoice(mode=_MODES[choice])


def _response_format_pb(request: ChatCompletionRequest) -> common_pb2.ResponseFormat | None:
    wanted = request.response_format
    if wanted is None:
        return None
    out = common_pb2.ResponseFormat(type=_FORMATS[wanted.type])
    if wanted.type == "json_schema":
        if wanted.json_schema is None or not wanted.json_schema.schema:
            raise APIError(
                400,
                "response_format json_schema needs json_schema.schema",
                param="response_format.json_schema",
            )
        out.schema_name = wanted.json_schema.name
        out.json_schema = json.dumps(wanted.json_schema.schema)
        out.strict = bool(wanted.json_schema.strict)
    return out


def request_pb(request: ChatCompletionRequest, images: Images | None = None) -> pb.ChatRequest:
    """The ChatRequest for an OpenAI chat completions request."""
    _reject_unsupported(request)
    if not request.messages:
        raise APIError(400, "messages must not be empty", param="messages")
    max_tokens = request.max_completion_tokens
    if max_tokens is None:
        max_tokens = request.max_tokens
    sampling = sampling_pb(request, max_tokens)
    sampling.logprobs = bool(request.logprobs)
    if request.top_logprobs is not None:
        sampling.top_logprobs = request.top_logprobs
    return pb.ChatRequest(
        model=request.model,
        messages=[_message_pb(m, i, images or {}) for i, m in enumerate(request.messages)],
        sampling=sampling,
        tools=_tools_pb(request),
        tool_choice=_tool_choice_pb(request.tool_choice),
        parallel_tool_calls=request.parallel_tool_calls,
        response_format=_response_format_pb(request),
        n=request.n or 0,
        user=request.user or "",
    )


def _text(message: pb.ChatMessage) -> str:
    return "".join(part.text for part in message.content if part.WhichOneof("part") == "text")


def tool_calls(message: pb.ChatMessage) -> list[dict[str, Any]]:
    """OpenAI's ``tool_calls`` of a message."""
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.function.name, "arguments": call.function.arguments},
        }
        for call in message.tool_calls
    ]


def _logprobs(items: Any) -> dict[str, Any]:
    return {"content": [logprob_dict(item) for item in items], "refusal": None}


def message_dict(message: pb.ChatMessage) -> dict[str, Any]:
    """OpenAI's assistant message: text, or null content beside tool calls."""
    text = _text(message)
    out: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not message.tool_calls else None,
        "refusal": None,
    }
    if message.tool_calls:
        out["tool_calls"] = tool_calls(message)
    return out


def response_dict(response: pb.ChatResponse, *, logprobs: bool) -> dict[str, Any]:
    """The ``chat.completion`` object for a ChatResponse."""
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": response.created,
        "model": response.model,
        "choices": [
            {
                "index": choice.index,
                "message": message_dict(choice.message),
                "logprobs": _logprobs(choice.logprobs) if logprobs else None,
                "finish_reason": finish_reason(choice.finish_reason),
            }
            for choice in response.choices
        ],
        "usage": usage_dict(response.usage),
        "system_fingerprint": None,
    }


def _tool_call_delta(delta: common_pb2.ToolCallDelta) -> dict[str, Any]:
    if delta.id:  # the first fragment of a call: id, type and name, as OpenAI sends them
        function = {"name": delta.name, "arguments": delta.arguments}
        return {"index": delta.index, "id": delta.id, "type": "function", "function": function}
    return {"index": delta.index, "function": {"arguments": delta.arguments}}


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
    def _choice(
        index: int, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None
    ) -> dict[str, Any]:
        return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}

    def _delta(self, message: pb.ChatStreamResponse) -> dict[str, Any] | None:
        delta = message.delta
        if delta.tool_calls:
            calls = [_tool_call_delta(call) for call in delta.tool_calls]
            return self._choice(delta.index, {"tool_calls": calls})
        if delta.content or delta.logprobs:
            logprobs = _logprobs(delta.logprobs) if delta.logprobs else None
            return self._choice(delta.index, {"content": delta.content}, logprobs=logprobs)
        return None

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
            choice = self._delta(message)
            if choice is not None:
                out.append(self._chunk(message, [choice]))
            return out
        for end in message.final.choices:
            finish = finish_reason(end.finish_reason)
            out.append(self._chunk(message, [self._choice(end.index, {}, finish)]))
        if self._include_usage:
            last = self._chunk(message, [])
            last["usage"] = usage_dict(message.final.usage)
            out.append(last)
        return out
