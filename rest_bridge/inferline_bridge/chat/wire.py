"""The OpenAI chat completions request, as msgspec Structs in OpenAI's field order."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from inferline_bridge.numbers import Int32
from inferline_bridge.sampling import GenerationFields


class ImageURL(msgspec.Struct, kw_only=True):
    """``image_url`` of a content part: OpenAI's ``url`` (data:, http(s)://, or, where
    allowed, a path or file://), or Nexa's ``path``."""

    url: str | None = None
    path: str | None = None
    # OpenAI's resolution hint (auto, low, high); the vision projector sees every image at its
    # own input size, whichever is asked.
    detail: str | None = None


class TextPart(msgspec.Struct, tag_field="type", tag="text"):
    """A text content part."""

    text: str


class ImagePart(msgspec.Struct, tag_field="type", tag="image_url"):
    """An image content part."""

    image_url: ImageURL


class FunctionCall(msgspec.Struct):
    """``function`` of a tool call: its name and its arguments as JSON text."""

    name: str
    arguments: str


class ToolCall(msgspec.Struct, kw_only=True):
    """One of an assistant message's ``tool_calls``."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(msgspec.Struct, kw_only=True):
    """One message of ``messages``."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart | ImagePart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionDefinition(msgspec.Struct, kw_only=True):
    """``function`` of a tool."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(msgspec.Struct, kw_only=True):
    """One of ``tools``."""

    type: Literal["function"] = "function"
    function: FunctionDefinition


class FunctionName(msgspec.Struct):
    """The function a tool choice names."""

    name: str


class NamedToolChoice(msgspec.Struct, kw_only=True):
    """``tool_choice`` naming one function."""

    type: Literal["function"] = "function"
    function: FunctionName


class JsonSchema(msgspec.Struct, kw_only=True):
    """``response_format.json_schema``."""

    name: str
    description: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class ResponseFormat(msgspec.Struct, kw_only=True):
    """``response_format``."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None


class ChatCompletionRequest(GenerationFields, kw_only=True):
    """``POST /v1/chat/completions``; unknown fields are ignored, as OpenAI's SDKs send extras."""

    messages: list[Message]
    model: str = ""
    max_completion_tokens: Int32 | None = None
    top_logprobs: Int32 | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    functions: Any = None
    function_call: Any = None
    audio: Any = None
    modalities: list[str] | None = None
    prediction: Any = None
    reasoning_effort: Any = None
    web_search_options: Any = None
    verbosity: Any = None
