"""What travels with every call besides the request: the caller's request id and trace context.

A request id set with ``request_id()`` goes out as ``x-request-id`` metadata on each call made
in that context (the task that set it, and tasks it starts), so one id names a request in the
caller's logs and the core's. The current OpenTelemetry context goes out as W3C ``traceparent``
(and ``tracestate``) through OpenTelemetry's own propagator; with no active span it adds nothing.
OpenTelemetry is optional: the SDK alone needs only grpc and protobuf, and sends trace context
when ``opentelemetry-api`` is installed (``pip install 'inferline-client[tracing]'``; the
server and the bridge install it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

try:
    from opentelemetry import propagate
except ImportError:  # the SDK alone: no trace context to carry
    propagate = None  # type: ignore[assignment]

REQUEST_ID_KEY = "x-request-id"
_request_id: ContextVar[str | None] = ContextVar("inferline_request_id", default=None)


@contextmanager
def request_id(value: str) -> Iterator[None]:
    """Send ``value`` as ``x-request-id`` with every call made inside this block."""
    token = _request_id.set(value)
    try:
        yield
    finally:
        _request_id.reset(token)


def current_request_id() -> str | None:
    """The request id calls made now carry, if any."""
    return _request_id.get()


def outgoing(metadata: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """``metadata`` plus the request id and the trace context of the current context."""
    extra: dict[str, str] = {}
    if propagate is not None:
        propagate.inject(extra)
    value = _request_id.get()
    if value is not None:
        extra[REQUEST_ID_KEY] = value
    return (*metadata, *extra.items()) if extra else metadata


_SANE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


def sane_request_id(value: str | None) -> bool:
    """Whether ``value`` is fit to repeat in headers and logs: 1 to 128 characters, letters,
    digits and ``._:/+=-`` only."""
    return value is not None and _SANE.fullmatch(value) is not None
