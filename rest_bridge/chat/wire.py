"""The OpenAI chat completions request, as msgspec Structs in OpenAI's field order."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from rest_bridge.sampling import GenerationFields


class ImageURL(msgspec.Struct):
    """``image_url`` of a content part."""

    url: str
    detail: str | None = None


class TextPart(msgspec.Struct, tag_field="type", tag="text"):
    """A text content part."""

    text: str


class ImagePart(msgspec.Struct, tag_field="type", tag="image_url"):
    """An image content part."""

    image_url: ImageURL


class Message(msgspec.Struct, kw_only=True):
    """One message of ``messages``."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart | ImagePart] | None = None
    name: str | None = None
    tool_calls: Any = None
    tool_call_id: str | None = None


class ChatCompletionRequest(GenerationFields, kw_only=True):
    """``POST /v1/chat/completions``; unknown fields are ignored, as OpenAI's SDKs send extras."""

    messages: list[Message]
    model: str = ""
    max_completion_tokens: int | None = None
    top_logprobs: int | None = None
    response_format: Any = None
    tools: Any = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    functions: Any = None
    function_call: Any = None
    audio: Any = None
    modalities: Any = None
    prediction: Any = None
