"""Build request messages from keyword arguments, shared by Client and AsyncClient.

Sampling keywords (``temperature``, ``max_tokens``, ``stop`` ...) go into ``SamplingParams``;
other keywords must name a field of the request itself. Unknown keywords are a TypeError, so a
misspelt parameter is never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from google.protobuf import duration_pb2
from google.protobuf.message import Message

from inferline.v1 import audio_service_pb2 as audio_pb
from inferline.v1 import chat_service_pb2 as chat_pb
from inferline.v1 import common_pb2 as common_pb
from inferline.v1 import completion_service_pb2 as completion_pb
from inferline.v1 import embedding_service_pb2 as embedding_pb
from inferline.v1 import image_service_pb2 as image_pb

MessageLike = chat_pb.ChatMessage | Mapping[str, Any]
# One text, several texts, one pre-tokenized input, or several: as OpenAI's ``input``.
EmbedInputs = str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]]

_ROLES = {
    "system": chat_pb.ROLE_SYSTEM,
    "user": chat_pb.ROLE_USER,
    "assistant": chat_pb.ROLE_ASSISTANT,
    "tool": chat_pb.ROLE_TOOL,
    "developer": chat_pb.ROLE_DEVELOPER,
}
_SAMPLING_FIELDS = frozenset(common_pb.SamplingParams.DESCRIPTOR.fields_by_name)

R = TypeVar("R", bound=Message)


def chat_message(message: MessageLike) -> chat_pb.ChatMessage:
    """Convert ``{"role": "user", "content": "hi"}`` (or a ChatMessage) to a ChatMessage."""
    if isinstance(message, chat_pb.ChatMessage):
        return message
    role = _ROLES.get(str(message.get("role", "")))
    if role is None:
        raise ValueError(f"unknown role {message.get('role')!r}")
    content = message.get("content")
    parts: list[common_pb.ContentPart] = []
    if isinstance(content, str):
        parts.append(common_pb.ContentPart(text=content))
    elif content is not None:
        parts.extend(_content_part(part) for part in content)
    calls = [_tool_call(call) for call in message.get("tool_calls") or ()]
    return chat_pb.ChatMessage(
        role=role,
        content=parts,
        name=str(message.get("name") or ""),
        tool_calls=calls,
        tool_call_id=str(message.get("tool_call_id") or ""),
    )


def _tool_call(call: common_pb.ToolCall | Mapping[str, Any]) -> common_pb.ToolCall:
    if isinstance(call, common_pb.ToolCall):
        return call
    function = call.get("function") or {}
    return common_pb.ToolCall(
        id=str(call.get("id", "")),
        function=common_pb.FunctionCall(
            name=str(function.get("name", "")), arguments=str(function.get("arguments", ""))
        ),
    )


def tool(spec: common_pb.Tool | Mapping[str, Any]) -> common_pb.Tool:
    """Convert an OpenAI tool (``{"type": "function", "function": {...}}``) to a Tool."""
    if isinstance(spec, common_pb.Tool):
        return spec
    function = spec.get("function", spec)
    parameters = function.get("parameters")
    return common_pb.Tool(
        function=common_pb.FunctionDefinition(
            name=str(function["name"]),
            description=str(function.get("description") or ""),
            parameters_json_schema=json.dumps(parameters) if parameters else "",
            strict=bool(function.get("strict")),
        )
    )


_TOOL_MODES = {
    "none": common_pb.TOOL_CHOICE_MODE_NONE,
    "auto": common_pb.TOOL_CHOICE_MODE_AUTO,
    "required": common_pb.TOOL_CHOICE_MODE_REQUIRED,
}


def tool_choice(choice: common_pb.ToolChoice | str | Mapping[str, Any]) -> common_pb.ToolChoice:
    """Convert ``"auto"`` / ``"required"`` / ``"none"`` or ``{"function": {"name": ...}}``."""
    if isinstance(choice, common_pb.ToolChoice):
        return choice
    if isinstance(choice, str):
        return common_pb.ToolChoice(mode=_TOOL_MODES[choice])
    return common_pb.ToolChoice(function_name=str(choice["function"]["name"]))


def response_format(
    value: common_pb.ResponseFormat | Mapping[str, Any],
) -> common_pb.ResponseFormat:
    """Convert OpenAI's ``{"type": "json_schema", "json_schema": {"name", "schema"}}``."""
    if isinstance(value, common_pb.ResponseFormat):
        return value
    kind = str(value.get("type", "text"))
    out = common_pb.ResponseFormat(type=f"RESPONSE_FORMAT_TYPE_{kind.upper()}")
    schema = value.get("json_schema")
    if schema:
        out.schema_name = str(schema.get("name", ""))
        out.json_schema = json.dumps(schema.get("schema", {}))
        out.strict = bool(schema.get("strict"))
    return out


def keep_alive(seconds: float | duration_pb2.Duration) -> duration_pb2.Duration:
    """Seconds (negative: keep loaded; 0: unload after the request) as a Duration."""
    if isinstance(seconds, duration_pb2.Duration):
        return seconds
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return duration


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "keep_alive": keep_alive,
    "tools": lambda tools: [tool(t) for t in tools],
    "tool_choice": tool_choice,
    "response_format": response_format,
}


def _content_part(part: common_pb.ContentPart | str | Mapping[str, Any]) -> common_pb.ContentPart:
    if isinstance(part, common_pb.ContentPart):
        return part
    if isinstance(part, str):
        return common_pb.ContentPart(text=part)
    if part.get("type") == "text":
        return common_pb.ContentPart(text=str(part.get("text", "")))
    if part.get("type") == "image":
        image = common_pb.Image(data=part["data"], mime_type=str(part.get("mime_type", "")))
        return common_pb.ContentPart(image=image)
    raise ValueError(f"unsupported content part {part.get('type')!r}")


def _apply(
    request: R, params: Mapping[str, Any], sampling: common_pb.SamplingParams | None = None
) -> R:
    fields = request.DESCRIPTOR.fields_by_name
    for key, value in params.items():
        if value is None:
            continue
        if key in _CONVERT:
            value = _CONVERT[key](value)
        if sampling is not None and key in _SAMPLING_FIELDS:
            _set_sampling(sampling, key, value)
        elif key in fields and key not in ("sampling", "messages", "inputs"):
            _set_field(request, key, value)
        else:
            raise TypeError(f"unexpected keyword argument {key!r}")
    return request


def _set_sampling(sampling: common_pb.SamplingParams, key: str, value: Any) -> None:
    if key == "stop":
        sampling.stop.extend([value] if isinstance(value, str) else list(value))
    elif key == "logit_bias":
        sampling.logit_bias.update({int(k): float(v) for k, v in value.items()})
    else:
        setattr(sampling, key, value)


def _set_field(request: Message, key: str, value: Any) -> None:
    target = getattr(request, key)
    if isinstance(value, Message):
        target.CopyFrom(value)
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        target.extend(value)
    else:
        setattr(request, key, value)


def chat_request(
    model: str, messages: Iterable[MessageLike], params: Mapping[str, Any]
) -> chat_pb.ChatRequest:
    """Build a ChatRequest from a model id, messages and keyword parameters."""
    request = chat_pb.ChatRequest(model=model, messages=[chat_message(m) for m in messages])
    return _apply(request, params, request.sampling)


def complete_request(
    model: str, prompt: str, params: Mapping[str, Any]
) -> completion_pb.CompleteRequest:
    """Build a CompleteRequest from a model id, a prompt and keyword parameters."""
    request = completion_pb.CompleteRequest(model=model, prompt=prompt)
    return _apply(request, params, request.sampling)


def embed_inputs(inputs: EmbedInputs) -> list[embedding_pb.EmbedInput]:
    """Convert OpenAI-style ``input`` to EmbedInput messages."""
    if isinstance(inputs, str):
        return [embedding_pb.EmbedInput(text=inputs)]
    items: list[Any] = list(inputs)
    if items and all(isinstance(item, int) for item in items):
        return [embedding_pb.EmbedInput(tokens=embedding_pb.TokenIds(ids=items))]
    return [
        embedding_pb.EmbedInput(text=item)
        if isinstance(item, str)
        else embedding_pb.EmbedInput(tokens=embedding_pb.TokenIds(ids=list(item)))
        for item in items
    ]


def embed_request(
    model: str, inputs: EmbedInputs, params: Mapping[str, Any]
) -> embedding_pb.EmbedRequest:
    """Build an EmbedRequest from a model id, inputs and keywords (``dimensions``...)."""
    request = embedding_pb.EmbedRequest(model=model, inputs=embed_inputs(inputs))
    return _apply(request, params)


def transcribe_request(
    model: str, audio: bytes, params: Mapping[str, Any]
) -> audio_pb.TranscribeRequest:
    """Build a TranscribeRequest from a model id, the audio's bytes and keywords."""
    return _apply(audio_pb.TranscribeRequest(model=model, audio=audio), params)


_DIFFUSION_FIELDS = frozenset(image_pb.DiffusionParams.DESCRIPTOR.fields_by_name)


def _image_request(request: R, params: Mapping[str, Any], diffusion: image_pb.DiffusionParams) -> R:
    rest = {}
    for key, value in params.items():
        if key in _DIFFUSION_FIELDS and value is not None:
            setattr(diffusion, key, value)
        else:
            rest[key] = value
    return _apply(request, rest)


def generate_image_request(
    model: str, prompt: str, params: Mapping[str, Any]
) -> image_pb.GenerateImageRequest:
    """Build a GenerateImageRequest; diffusion keywords (``width``, ``steps``, ``seed`` ...)
    go into ``params``."""
    request = image_pb.GenerateImageRequest(model=model, prompt=prompt)
    return _image_request(request, params, request.params)


def edit_image_request(
    model: str, image: bytes, prompt: str, mask: bytes | None, params: Mapping[str, Any]
) -> image_pb.EditImageRequest:
    """Build an EditImageRequest for ``image`` (and an optional ``mask``)."""
    request = image_pb.EditImageRequest(
        model=model, prompt=prompt, image=common_pb.Image(data=image)
    )
    if mask is not None:
        request.mask.CopyFrom(common_pb.Image(data=mask))
    return _image_request(request, params, request.params)
