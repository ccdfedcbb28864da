"""The core's log lines: text or one JSON object per line, each with the request id of the RPC
that wrote it (the caller's ``x-request-id`` metadata; ``-`` outside a request)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

from inferline import sane_request_id

LogFormat = Literal["text", "json"]
_request_id: ContextVar[str] = ContextVar("inferline_core_request_id", default="-")
TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def setup_logging(level: str, log_format: LogFormat = "text") -> None:
    """Log to stderr at ``level``, as text lines or JSON objects, each with its request id."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level"})
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def metadata_request_id(context: Any) -> str | None:
    """The sane ``x-request-id`` in an RPC's metadata, if it carries one."""
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and sane_request_id(value):
            return value
    return None


@contextmanager
def request_scope(context: Any) -> Iterator[str]:
    """Log lines written inside carry the RPC's request id, which is yielded (``-`` if none)."""
    token = _request_id.set(metadata_request_id(context) or "-")
    try:
        yield _request_id.get()
    finally:
        with suppress(ValueError):  # a stream closed from another context keeps its value
            _request_id.reset(token)
