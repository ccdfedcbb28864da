"""The ONE table that maps the core's exceptions to gRPC statuses.

Engines and the registry raise the exceptions of ``inferline_core.exceptions``; servicers
never build statuses themselves: the ``grpc_errors`` decorator turns any of them into a status
code, a ``google.rpc.ErrorInfo`` (reason, and the offending request field as metadata
``param``) and, for a full queue, a ``google.rpc.RetryInfo``. Anything else becomes INTERNAL
with a generic message.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

# Servicers import the exceptions they raise from here too, beside the decorators.
from inferline_core.exceptions import (
    ContextLengthExceeded,
    CoreError,
    InvalidArgument,
    ModelLoadFailed,
    ModelNotFound,
    QueueFull,
    ShuttingDown,
    WrongModelType,
)

log = logging.getLogger(__name__)
DOMAIN = "inferline"


_TABLE: dict[type[CoreError], tuple[grpc.StatusCode, str]] = {
    InvalidArgument: (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    ContextLengthExceeded: (grpc.StatusCode.INVALID_ARGUMENT, "CONTEXT_LENGTH_EXCEEDED"),
    ModelNotFound: (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND"),
    WrongModelType: (grpc.StatusCode.INVALID_ARGUMENT, "WRONG_MODEL_TYPE"),
    # The server's fault, not the request's: a 500 that SDKs retry, never a 400.
    ModelLoadFailed: (grpc.StatusCode.INTERNAL, "MODEL_LOAD_FAILED"),
    QueueFull: (grpc.StatusCode.RESOURCE_EXHAUSTED, "QUEUE_FULL"),
    ShuttingDown: (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN"),
}


def to_status(error: CoreError) -> grpc.Status:
    """The gRPC status (with details) for a core error."""
    code, reason = _TABLE[type(error)]
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)
    if error.param:
        info.metadata["param"] = error.param
    details = [info]
    if isinstance(error, QueueFull):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(error.retry_after_s * 1000))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for detail in details:
        wrapper = any_pb2.Any()
        wrapper.Pack(detail)
        packed.append(wrapper)
    status = status_pb2.Status(code=code.value[0], message=error.message, details=packed)
    return rpc_status.to_status(status)


async def _abort(context: Any, error: Exception) -> None:
    if isinstance(error, CoreError):
        await context.abort_with_status(to_status(error))
    log.exception("unexpected error in a handler", exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the core's log")


Req = TypeVar("Req")
Resp = TypeVar("Resp")
Self_ = TypeVar("Self_")


def grpc_errors(
    handler: Callable[[Self_, Req, Any], Awaitable[Resp]],
) -> Callable[[Self_, Req, Any], Awaitable[Resp]]:
    """Decorate a unary handler: core errors become statuses."""

    @functools.wraps(handler)
    async def wrapper(self: Self_, request: Req, context: Any) -> Resp:
        try:
            return await handler(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:  # every error leaves as a status, never a traceback
            await _abort(context, error)
            raise  # unreachable: abort raises

    return wrapper


def grpc_stream_errors(
    handler: Callable[[Self_, Req, Any], AsyncIterator[Resp]],
) -> Callable[[Self_, Req, Any], AsyncIterator[Resp]]:
    """Decorate a server-streaming handler: core errors become statuses."""

    @functools.wraps(handler)
    async def wrapper(self: Self_, request: Req, context: Any) -> AsyncIterator[Resp]:
        try:
            async for item in handler(self, request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, error)
            raise

    return wrapper


__all__ = [
    "ContextLengthExceeded",
    "CoreError",
    "InvalidArgument",
    "ModelLoadFailed",
    "ModelNotFound",
    "QueueFull",
    "ShuttingDown",
    "WrongModelType",
    "grpc_errors",
    "grpc_stream_errors",
    "to_status",
]
