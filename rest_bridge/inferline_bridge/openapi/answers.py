"""The bodies the bridge answers with, as msgspec Structs in OpenAI's field order.

Handlers build these answers as plain dicts (translation stays a pure function of the proto);
these Structs exist so the OpenAPI document describes them, and the schema fuzzing test holds
every answer to them. A field with a default may be absent from an answer.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"] | None


class Usage(msgspec.Struct, kw_only=True):
    """Token counts of a request."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class FunctionCall(msgspec.Struct, kw_only=True):
    """A called function: its name and its arguments as JSON text."""

    name: str
    arguments: str


class ToolCall(msgspec.Struct, kw_only=True):
    """One tool call of an assistant message."""

    id: str
    type: Literal["function"]
    function: FunctionCall


class TopLogprob(msgspec.Struct, kw_only=True):
    """One alternative token."""

    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(TopLogprob, kw_only=True):
    """A token's log probability and its alternatives."""

    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(msgspec.Struct, kw_only=True):
    """``logprobs`` of a chat choice."""

    content: list[TokenLogprob] | None
    refusal: list[TokenLogprob] | None


class AssistantMessage(msgspec.Struct, kw_only=True):
    """The answer's message; ``function_call`` only on Nexa's /v1/function-calling."""

    role: Literal["assistant"]
    content: str | None
    refusal: str | None
    tool_calls: list[ToolCall] = []
    function_call: FunctionCall | None = None


class ChatChoice(msgspec.Struct, kw_only=True):
    """One choice of a chat completion."""

    index: int
    message: AssistantMessage
    logprobs: ChoiceLogprobs | None
    finish_reason: FinishReason


class ChatCompletion(msgspec.Struct, kw_only=True):
    """``chat.completion``; streamed, ``chat.completion.chunk`` events instead."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str | None


class LegacyLogprobs(msgspec.Struct, kw_only=True):
    """``logprobs`` of a legacy completion choice."""

    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float] | None]
    text_offset: list[int]


class CompletionChoice(msgspec.Struct, kw_only=True):
    """One choice of a legacy completion."""

    index: int
    text: str
    logprobs: LegacyLogprobs | None
    finish_reason: FinishReason


class Completion(msgspec.Struct, kw_only=True):
    """``text_completion``; ``result`` (Nexa's) only for requests in Nexa's shape."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    system_fingerprint: str | None
    choices: list[CompletionChoice]
    usage: Usage
    result: str | None = None


class Embedding(msgspec.Struct, kw_only=True):
    """One vector: floats, or base64 of little-endian float32."""

    object: Literal["embedding"]
    index: int
    embedding: list[float] | str


class EmbeddingUsage(msgspec.Struct, kw_only=True):
    """Token counts of an embeddings request."""

    prompt_tokens: int
    total_tokens: int


class Embeddings(msgspec.Struct, kw_only=True):
    """The ``list`` of embeddings."""

    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class ImageData(msgspec.Struct, kw_only=True):
    """One image: ``url`` or ``b64_json`` (OpenAI), ``base64`` (Nexa)."""

    url: str | None = None
    b64_json: str | None = None
    base64: str | None = None


class Images(msgspec.Struct, kw_only=True):
    """The images response."""

    created: float
    data: list[ImageData]


class Transcription(msgspec.Struct, kw_only=True):
    """``json`` transcription; ``verbose_json`` adds the rest."""

    text: str
    task: Literal["transcribe", "translate"] | None = None
    language: str | None = None
    duration: float | None = None
    segments: list[dict[str, Any]] | None = None
    words: list[dict[str, Any]] | None = None


class Model(msgspec.Struct, kw_only=True):
    """OpenAI's model object, then inferline's fields."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    type: Literal["chat", "completion", "embedding", "image", "audio", "vision"] | None
    state: Literal["available", "loading", "loaded", "failed"] | None
    capabilities: list[str]
    context_length: int | None
    default: bool  # the default model of its type
    dimensions: int | None = None
    error: str | None = None


class ModelList(msgspec.Struct, kw_only=True):
    """``GET /v1/models``."""

    object: Literal["list"]
    data: list[Model]


class Deleted(msgspec.Struct, kw_only=True):
    """A deleted model or stored response."""

    id: str
    object: Literal["model", "response"]
    deleted: bool


class ResponseObject(msgspec.Struct, kw_only=True):
    """A Responses API ``response`` (its output items as OpenAI defines them)."""

    id: str
    object: Literal["response"]
    created_at: float
    status: str
    model: str
    output: list[dict[str, Any]]


class ItemList(msgspec.Struct, kw_only=True):
    """A stored response's input items."""

    object: Literal["list"]
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


class Health(msgspec.Struct, kw_only=True):
    """A health answer."""

    status: Literal["ok", "unavailable"]
    core: str | None = None


class ErrorDetail(msgspec.Struct, kw_only=True):
    """OpenAI's error object; ``param`` names the request field at fault."""

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every 4xx and 5xx answer, also after a stream has started (as one SSE event)."""

    error: ErrorDetail
