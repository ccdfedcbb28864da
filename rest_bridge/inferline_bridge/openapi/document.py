"""Describe every body in the OpenAPI document Litestar builds.

Handlers read their bodies themselves (``calls.decode``, multipart forms), so Litestar sees no
body to describe. ``describe`` fills each operation in from the msgspec Structs the bridge
decodes into and the answer Structs in ``answers``: JSON schemas from msgspec, one component
per Struct, OpenAI's error body for every other status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar import Request, Response, get
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, RequestBody, Schema
from litestar.openapi.spec import OpenAPIResponse as ResponseSpec

from inferline_bridge.chat.wire import ChatCompletionRequest
from inferline_bridge.completions.wire import CompletionRequest
from inferline_bridge.embeddings.wire import EmbeddingRequest
from inferline_bridge.images.wire import GenerationRequest, NexaImageRequest
from inferline_bridge.openapi import answers
from inferline_bridge.openapi.forms import AUDIO_FORM, IMAGE_EDIT_FORM
from inferline_bridge.responses.wire import ResponseRequest

JSON = "application/json"
EVENTS = "text/event-stream"
DOCUMENT_PATH = "/schema/openapi.json"


@dataclass(frozen=True)
class Body:
    """What one operation reads and answers."""

    answer: type | None
    request: type | None = None
    form: dict[str, Any] | None = None
    streams: bool = False  # ``stream: true`` answers Server-Sent Events
    text: bool = False  # some formats answer plain text (audio: text, srt, vtt)
    binary: str | None = None  # a file of this media type, not JSON


_AUDIO = Body(answers.Transcription, form=AUDIO_FORM, text=True)
OPERATIONS: dict[tuple[str, str], Body] = {
    ("/v1/chat/completions", "post"): Body(
        answers.ChatCompletion, ChatCompletionRequest, streams=True
    ),
    ("/v1/function-calling", "post"): Body(answers.ChatCompletion, ChatCompletionRequest),
    ("/v1/completions", "post"): Body(answers.Completion, CompletionRequest, streams=True),
    ("/v1/embeddings", "post"): Body(answers.Embeddings, EmbeddingRequest),
    ("/v1/images/generations", "post"): Body(answers.Images, GenerationRequest),
    ("/v1/images/edits", "post"): Body(answers.Images, form=IMAGE_EDIT_FORM),
    ("/v1/images/files/{name}", "get"): Body(None, binary="image/png"),
    ("/v1/txt2img", "post"): Body(answers.Images, NexaImageRequest),
    ("/v1/img2img", "post"): Body(answers.Images, NexaImageRequest),
    ("/v1/audio/transcriptions", "post"): Body(
        answers.Transcription, form=AUDIO_FORM, text=True, streams=True
    ),
    ("/v1/audio/translations", "post"): _AUDIO,
    ("/v1/models", "get"): Body(answers.ModelList),
    ("/v1/models/{model_id}", "get"): Body(answers.Model),
    ("/v1/models/{model_id}", "delete"): Body(answers.Deleted),
    ("/v1/responses", "post"): Body(answers.ResponseObject, ResponseRequest, streams=True),
    ("/v1/responses/{response_id}", "get"): Body(answers.ResponseObject, streams=True),
    ("/v1/responses/{response_id}", "delete"): Body(answers.Deleted),
    ("/v1/responses/{response_id}/input_items", "get"): Body(answers.ItemList),
    ("/health", "get"): Body(answers.Health),
    ("/health/ready", "get"): Body(answers.Health),
    ("/health/live", "get"): Body(answers.Health),
}


def _schemas() -> tuple[dict[type, dict[str, Any]], dict[str, Any]]:
    """A ``$ref`` for each Struct named in OPERATIONS, and the components they need."""
    kinds = sorted(
        {k for b in OPERATIONS.values() for k in (b.answer, b.request) if k is not None}
        | {answers.ErrorBody},
        key=lambda kind: kind.__qualname__,
    )
    refs, components = msgspec.json.schema_components(
        kinds, ref_template="#/components/schemas/{name}"
    )
    return dict(zip(kinds, refs, strict=True)), components


# One Server-Sent Event: ``data`` holds a JSON chunk (or ``[DONE]``); ``event`` names the
# Responses API's typed events.
_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {"type": "string", "description": "one JSON chunk, or [DONE]"},
        "event": {"type": "string"},
        "id": {"type": "string"},
    },
}


def _media(schema: dict[str, Any]) -> OpenAPIMediaType:
    return OpenAPIMediaType(schema=cast(Schema, schema))


def _responses(body: Body, refs: dict[type, dict[str, Any]]) -> dict[str, ResponseSpec]:
    content: dict[str, OpenAPIMediaType] = {}
    if body.binary:
        content[body.binary] = _media({"type": "string", "format": "binary"})
    if body.answer is not None:
        content[JSON] = _media(refs[body.answer])
    if body.streams:
        content[EVENTS] = _media(_EVENT)
    if body.text:
        content["text/plain"] = _media({"type": "string"})
        content["text/vtt"] = _media({"type": "string"})
    error = {JSON: _media(refs[answers.ErrorBody])}
    return {
        "200": ResponseSpec(description="Success.", content=content),
        "default": ResponseSpec(
            description="An OpenAI error body; param names the field at fault.", content=error
        ),
    }


def describe(openapi: OpenAPI) -> None:
    """Fill every known operation of ``openapi`` in with its bodies."""
    refs, components = _schemas()
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    schemas = cast(dict[str, Any], openapi.components.schemas)
    schemas.update(components)
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "post", "delete"):
            operation = getattr(item, method, None)
            body = OPERATIONS.get((path, method))
            if operation is None or body is None:
                continue
            operation.responses = _responses(body, refs)
            if body.request is not None:
                operation.request_body = RequestBody(
                    content={JSON: _media(refs[body.request])}, required=True
                )
            elif body.form is not None:
                form = {"multipart/form-data": _media(body.form)}
                operation.request_body = RequestBody(content=form, required=True)


@get(DOCUMENT_PATH, include_in_schema=False, sync_to_thread=False)
def schema_document(request: Request[Any, Any, Any]) -> Response[Any]:
    """``GET /schema/openapi.json``: the document where clients have looked for it (the docs
    page and its own copy live under /docs)."""
    return Response(request.app.openapi_schema.to_schema(), media_type=JSON)
