"""A response's input items as ``GET /v1/responses/{id}/input_items`` lists them: each in
OpenAI's item shape with an id and a status, paged by cursor as OpenAI pages lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from inferline_bridge.errors import APIError
from inferline_bridge.responses.output import new_id
from inferline_bridge.responses.wire import ResponseRequest

_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    item = {key: value for key, value in raw.items() if value is not None}
    if item["type"] == "message" and isinstance(item["content"], str):
        if item["role"] == "assistant":
            part = {"type": "output_text", "text": item["content"], "annotations": []}
        else:
            part = {"type": "input_text", "text": item["content"]}
        item["content"] = [part]
    item.setdefault("id", new_id(_PREFIXES[item["type"]]))
    item.setdefault("status", "completed")
    return item


def input_items(request: ResponseRequest) -> list[dict[str, Any]]:
    """The request's input (a string is one user message), each item with an id."""
    if isinstance(request.input, str):
        raw: list[Any] = [{"type": "message", "role": "user", "content": request.input}]
    else:
        raw = msgspec.to_builtins(request.input or [])
    return [_item(item) for item in raw]


def page(
    items: Sequence[dict[str, Any]], *, limit: int, order: str, after: str | None
) -> dict[str, Any]:
    """One page of ``items``: ``limit`` of them in ``order``, after the item ``after``."""
    if not 1 <= limit <= 100:
        raise APIError(400, "limit must be between 1 and 100", param="limit")
    ordered = list(items) if order == "asc" else list(reversed(items))
    if after is not None:
        ids = [item["id"] for item in ordered]
        if after not in ids:
            raise APIError(400, f"no input item has id '{after}'", param="after")
        ordered = ordered[ids.index(after) + 1 :]
    data = ordered[:limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(ordered) > limit,
    }
