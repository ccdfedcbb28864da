"""The OpenAI Responses request (``POST /v1/responses``), as msgspec Structs.

Input items and content parts are unions tagged by ``type``; a message item may leave its
``type`` out, as OpenAI's "easy" input messages do (``parse`` fills it in). Fields of OpenAI's
request that this server does not honour are declared too, so that they can be refused by name;
a field OpenAI does not have at all is refused as unknown, in tools and formats too. Input
items and parts are lenient: clients send earlier output back with fields (ids, statuses)
that mean nothing to the answer.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from inferline_bridge.calls import decode
from inferline_bridge.errors import APIError
from inferline_bridge.numbers import Int32


class InputText(msgspec.Struct, tag_field="type", tag="input_text"):
    """A text part of an input message."""

    text: str


class OutputText(msgspec.Struct, tag_field="type", tag="output_text", kw_only=True):
    """A text part of an earlier assistant message, sent back as input."""

    text: str
    annotations: list[Any] | None = None
    logprobs: list[Any] | None = None


class Refusal(msgspec.Struct, tag_field="type", tag="refusal"):
    """A refusal part of an earlier assistant message."""

    refusal: str


class InputImage(msgspec.Struct, tag_field="type", tag="input_image", kw_only=True):
    """An image part: a URL (``data:``, http(s), or an allowed path) or an uploaded file id."""

    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None


class InputFile(msgspec.Struct, tag_field="type", tag="input_file", kw_only=True):
    """A file part (PDFs and the like); declared so that it is refused by name."""

    file_id: str | None = None
    file_data: str | None = None
    file_url: str | None = None
    filename: str | None = None


Part = InputText | OutputText | Refusal | InputImage | InputFile


class MessageItem(msgspec.Struct, tag_field="type", tag="message", kw_only=True):
    """A message: the user's, the system's, the developer's, or an earlier answer."""

    role: Literal["user", "system", "developer", "assistant"]
    content: str | list[Part]
    id: str | None = None
    status: str | None = None
    phase: str | None = None


class FunctionCallItem(msgspec.Struct, tag_field="type", tag="function_call", kw_only=True):
    """A function call the model made earlier, sent back as input."""

    call_id: str
    name: str
    arguments: str
    id: str | None = None
    status: str | None = None


class FunctionCallOutputItem(
    msgspec.Struct, tag_field="type", tag="function_call_output", kw_only=True
):
    """The result of a function call, for the model to read."""

    call_id: str
    output: str | list[Part]
    id: str | None = None
    status: str | None = None


InputItem = MessageItem | FunctionCallItem | FunctionCallOutputItem


class FunctionTool(
    msgspec.Struct, tag_field="type", tag="function", kw_only=True, forbid_unknown_fields=True
):
    """A function the model may call; ``strict`` defaults to true, as on OpenAI."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionChoice(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``tool_choice`` naming one function."""

    type: Literal["function"]
    name: str


class TextFormat(msgspec.Struct, tag_field="type", tag="text", forbid_unknown_fields=True):
    """Plain text output."""


class JsonObjectFormat(
    msgspec.Struct, tag_field="type", tag="json_object", forbid_unknown_fields=True
):
    """Any JSON object."""


class JsonSchemaFormat(
    msgspec.Struct, tag_field="type", tag="json_schema", kw_only=True, forbid_unknown_fields=True
):
    """JSON that follows ``schema``."""

    name: str
    schema: dict[str, Any]
    description: str | None = None
    strict: bool | None = None


Format = TextFormat | JsonObjectFormat | JsonSchemaFormat


class TextConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``text``: the output's format."""

    format: Format | None = None
    verbosity: str | None = None


class StreamOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``stream_options``."""

    include_obfuscation: bool | None = None


class ResponseRequest(msgspec.Struct, kw_only=True):
    """``POST /v1/responses``."""

    model: str = ""
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    max_output_tokens: Int32 | None = None
    temperature: float | None = None
    top_p: float | None = None
    store: bool | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    previous_response_id: str | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    include: list[str] | None = None
    top_logprobs: Int32 | None = None
    reasoning: dict[str, Any] | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    # Declared to be refused by name (see translate.UNSUPPORTED).
    background: bool | None = None
    conversation: Any = None
    prompt: Any = None
    max_tool_calls: Any = None
    prompt_cache_retention: Any = None
    context_management: Any = None
    moderation: Any = None
    image: Any = None
    access_programs: Any = None
    background_options: Any = None
    prompt_cache_options: Any = None


FIELDS = frozenset(ResponseRequest.__struct_fields__)


def _with_message_types(raw: dict[str, Any]) -> dict[str, Any]:
    """Input items that have a ``role`` but no ``type`` are messages (OpenAI's easy form)."""
    items = raw.get("input")
    if not isinstance(items, list):
        return raw
    typed = [
        {**item, "type": "message"} if isinstance(item, dict) and "type" not in item else item
        for item in items
    ]
    return {**raw, "input": typed}


def parse(body: bytes) -> ResponseRequest:
    """The request in ``body``; a field OpenAI's API does not have is a 400 naming it."""
    raw = decode(body, dict[str, Any])
    for name in raw:
        if name not in FIELDS:
            raise APIError(
                400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter"
            )
    # Encoded again so that decode's messages name the field at fault, path and all.
    return decode(msgspec.json.encode(_with_message_types(raw)), ResponseRequest)
