"""OpenAI-shaped errors: one table from gRPC codes to HTTP statuses, one body shape.

Every error the bridge returns is ``{"error": {"message", "type", "param", "code"}}``, framework
errors included. gRPC errors are mapped by code (google/rpc/code.proto's HTTP table) and the
core's ErrorInfo reason; messages are passed through, never parsed.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from litestar import Request, Response
from litestar.exceptions import HTTPException

from inferline import InferlineError

log = logging.getLogger(__name__)

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    # The core refusing the bridge's own credential is the server's misconfiguration, not the
    # caller's fault (the bridge checks callers' keys itself): a bad gateway, never a 401.
    grpc.StatusCode.UNAUTHENTICATED: 502,
    grpc.StatusCode.PERMISSION_DENIED: 502,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
# Seconds a client should wait before retrying while the core is away (restarting, say).
CORE_RETRY_AFTER_S = 1
_CORE_REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


class APIError(Exception):
    """An error the bridge itself detects, before or without calling the core."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}


def error_type(status: int) -> str:
    """OpenAI's ``type`` for an HTTP status."""
    if status >= 500:
        return "server_error"
    return _TYPES.get(status, "invalid_request_error")


def error_body(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The OpenAI error object."""
    return {"error": {"message": message, "type": error_type(status), "param": param, "code": code}}


def from_core(error: InferlineError) -> APIError:
    """The HTTP view of a core error."""
    status = HTTP_STATUS.get(error.code, 500)
    code = error.reason.lower() if error.reason else None
    message = error.message
    retry_after = error.retry_after
    if error.code in _CORE_REFUSED:
        log.error("the core refused the bridge's credentials: %s", error.message)
        message = "the server is misconfigured: its core refused the bridge's credentials"
        code = "core_auth_failed"
    elif error.code == grpc.StatusCode.UNAVAILABLE:
        retry_after = CORE_RETRY_AFTER_S if retry_after is None else retry_after
        if not error.reason:  # gRPC's own words: a transport failure, with internal addresses
            log.warning("the core is unavailable: %s", error.message)
            message = "the model server's core is unavailable; retry shortly"
            code = "core_unavailable"
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    return APIError(status, message, param=error.param, code=code, headers=headers)


def _response(error: APIError) -> Response[Any]:
    body = error_body(error.status, error.message, error.param, error.code)
    return Response(body, status_code=error.status, headers=error.headers)


def handle_api_error(request: Request[Any, Any, Any], error: APIError) -> Response[Any]:
    """Litestar handler for the bridge's own errors."""
    return _response(error)


def handle_core_error(request: Request[Any, Any, Any], error: InferlineError) -> Response[Any]:
    """Litestar handler for errors from the core."""
    return _response(from_core(error))


def handle_http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    """Litestar's own errors (unknown route, wrong method, body too large) in OpenAI's shape."""
    headers = dict(error.headers or {})
    return _response(APIError(error.status_code, str(error.detail), headers=headers))


def handle_unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """Anything else: log it, answer 500 without internals."""
    log.exception("unexpected error", exc_info=error)
    return _response(APIError(500, "internal error in the bridge; see its log"))
