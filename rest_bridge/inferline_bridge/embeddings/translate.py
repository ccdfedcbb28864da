"""Embeddings: wire <-> proto, pure functions, no I/O."""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any

from inferline.v1 import embedding_service_pb2 as pb
from inferline_bridge.embeddings.wire import EmbeddingRequest
from inferline_bridge.errors import APIError

_SHAPE = "input must be a string, a list of strings, a list of token ids or a list of such lists"


def _is_ids(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    )


def _tokens(ids: list[int], param: str) -> pb.EmbedInput:
    if not ids:
        raise APIError(400, f"{param} is empty", param=param)
    if any(not 0 <= i < 2**31 for i in ids):
        raise APIError(400, f"{param} has a token id outside 0..2^31-1", param=param)
    return pb.EmbedInput(tokens=pb.TokenIds(ids=ids))


def _text(text: str, param: str) -> pb.EmbedInput:
    if not text:
        raise APIError(400, f"{param} is an empty string", param=param)
    return pb.EmbedInput(text=text)


def inputs_pb(value: str | list[Any]) -> list[pb.EmbedInput]:
    """One EmbedInput per input; a malformed or empty input is a 400 naming its index."""
    if isinstance(value, str):
        return [_text(value, "input")]
    if not value:
        raise APIError(400, "input must not be an empty list", param="input")
    if _is_ids(value):
        return [_tokens(value, "input")]
    out = []
    for index, item in enumerate(value):
        param = f"input[{index}]"
        if isinstance(item, str):
            out.append(_text(item, param))
        elif _is_ids(item):
            out.append(_tokens(item, param))
        else:
            raise APIError(400, f"{param}: {_SHAPE}", param=param)
    return out


def request_pb(request: EmbeddingRequest) -> pb.EmbedRequest:
    """The EmbedRequest for an OpenAI (or Nexa) embeddings request."""
    if request.dimensions is not None and request.dimensions < 1:
        raise APIError(400, "dimensions must be at least 1", param="dimensions")
    return pb.EmbedRequest(
        model=request.model,
        inputs=inputs_pb(request.input),
        normalize=request.normalize,
        truncate=request.truncate,
        dimensions=request.dimensions,
        user=request.user or "",
    )


def _encode(values: Sequence[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":  # little-endian float32, as OpenAI sends it
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return list(values)


def response_dict(response: pb.EmbedResponse, encoding_format: str) -> dict[str, Any]:
    """OpenAI's ``list`` of ``embedding`` objects, with usage."""
    tokens = response.usage.prompt_tokens
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": item.index,
                "embedding": _encode(item.values, encoding_format),
            }
            for item in response.embeddings
        ],
        "model": response.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
