"""Responses kept in memory so that ``previous_response_id`` can continue them.

Bounded in time and in count (``cachetools.TTLCache``): a response is forgotten after
``ttl_s`` seconds, or sooner when more than ``max_count`` are kept (least recently used first).
Each entry holds the response object and the conversation it ends, as chat messages without
the instructions (OpenAI does not carry instructions over to the next response).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from inferline_bridge.chat.wire import Message
from inferline_bridge.errors import APIError


@dataclass(frozen=True)
class Stored:
    """A kept response and the conversation up to and including its output."""

    response: dict[str, Any]
    conversation: tuple[Message, ...]
    input_items: tuple[dict[str, Any], ...]


class ResponseStore:
    """The kept responses of one bridge process."""

    def __init__(self, max_count: int, ttl_s: float) -> None:
        self._kept: TTLCache[str, Stored] | None = (
            TTLCache(maxsize=max_count, ttl=ttl_s) if max_count > 0 and ttl_s > 0 else None
        )

    def put(
        self,
        response: dict[str, Any],
        conversation: Sequence[Message],
        input_items: Sequence[dict[str, Any]],
    ) -> None:
        """Keep ``response`` (a no-op when keeping is turned off)."""
        if self._kept is not None:
            stored = Stored(response, tuple(conversation), tuple(input_items))
            self._kept[response["id"]] = stored

    def get(self, response_id: str, *, param: str | None = None) -> Stored:
        """The kept response, or an error as OpenAI's: 404 for a path's id, 400 for a field's."""
        stored = self._kept.get(response_id) if self._kept is not None else None
        if stored is None:
            status, code = (400, "previous_response_not_found") if param else (404, None)
            what = "Previous response" if param else "Response"
            raise APIError(
                status, f"{what} with id '{response_id}' not found.", param=param, code=code
            )
        return stored

    def delete(self, response_id: str) -> None:
        """Forget a kept response; an unknown id is a 404."""
        self.get(response_id)
        if self._kept is not None:
            self._kept.pop(response_id, None)
