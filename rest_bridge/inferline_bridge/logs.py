"""The bridge's log lines: text or one JSON object per line, each with the request id of the
request that wrote it (``-`` outside a request). ``inferline serve`` and ``inferline bridge``
pass ``--log-level`` and ``--log-format`` down in INFERLINE_LOG_LEVEL and INFERLINE_LOG_FORMAT."""

from __future__ import annotations

import logging
import os

from pythonjsonlogger.json import JsonFormatter

import inferline

TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = inferline.current_request_id() or "-"
        return True


def setup_logging(level: str | None = None, log_format: str | None = None) -> None:
    """Log to stderr as text lines or JSON objects; defaults from the environment."""
    level = level or os.environ.get("INFERLINE_LOG_LEVEL", "info")
    log_format = log_format or os.environ.get("INFERLINE_LOG_FORMAT", "text")
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level"})
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
