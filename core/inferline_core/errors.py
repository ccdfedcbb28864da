"""The ONE table that maps the core's exceptions to gRPC statuses.

Engines and the registry raise the exceptions of ``inferline_core.exceptions``; servicers
never build statuses themselves: the ``grpc_errors`` decorator turns any of them into a status
code, a ``google.rpc.ErrorInfo`` (reason, and the offending request field as metadata
``param``) and, for a full queue, a ``google.rpc.RetryInfo``. Anything else becomes INTERNAL
with a generic message.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
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
    EngineFailed,
    InvalidArgument,
    ModelLoadFailed,
    ModelNotFound,
    QueueFull,
    ReaderStalled,
    ShuttingDown,
    WrongModelType,
)
from inferline_core.logs import request_scope

log = logging.getLogger(__name__)
DOMAIN = "inferline"


_TABLE: dict[type[CoreError], tuple[grpc.StatusCode, str]] = {
    InvalidArgument: (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    ContextLengthExceeded: (grpc.StatusCode.INVALID_ARGUMENT, "CONTEXT_LENGTH_EXCEEDED"),
    ModelNotFound: (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND"),
    WrongModelType: (grpc.StatusCode.INVALID_ARGUMENT, "WRONG_MODEL_TYPE"),
    # The server's fault, not the request's: a 500 that SDKs retry, never a 400.
    ModelLoadFailed: (grpc.StatusCode.INTERNAL, "MODEL_LOAD_FAILED"),
    EngineFailed: (grpc.StatusCode.INTERNAL, "ENGINE_FAILED"),
    QueueFull: (grpc.StatusCode.RESOURCE_EXHAUSTED, "QUEUE_FULL"),
    ReaderStalled: (grpc.StatusCode.DEADLINE_EXCEEDED, "READER_STALLED"),
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


# Polled by routers every second: logged only at debug level.
_QUIET = frozenset({"ListModels", "GetModel"})


def _outcome(error: object) -> str:
    """The status code's name an RPC ends with, for its log line."""
    if error is None:
        return "OK"
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return "CANCELLED"
    if isinstance(error, CoreError):
        return _TABLE[type(error)][0].name
    return "INTERNAL"


def _log_rpc(name: str, started: float, error: object) -> None:
    level = logging.DEBUG if name in _QUIET else logging.INFO
    took = time.perf_counter() - started
    log.log(level, "%s %s in %.3f s", name, _outcome(error), took)


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
    """Decorate a unary handler: core errors become statuses; one log line per call, with
    its request id."""

    @functools.wraps(handler)
    async def wrapper(self: Self_, request: Req, context: Any) -> Resp:
        with request_scope(context):
            started = time.perf_counter()
            failure: BaseException | None = None
            try:
                return await handler(self, request, context)
            except grpc.aio.AbortError:
                raise
            except asyncio.CancelledError as error:
                failure = error
                raise
            except Exception as error:  # every error leaves as a status, never a traceback
                failure = error
                await _abort(context, error)
                raise  # unreachable: abort raises
            finally:
                _log_rpc(handler.__name__, started, failure)

    return wrapper


def grpc_stream_errors(
    handler: Callable[[Self_, Req, Any], AsyncIterator[Resp]],
) -> Callable[[Self_, Req, Any], AsyncIterator[Resp]]:
    """Decorate a server-streaming handler: core errors become statuses; one log line per
    call, with its request id."""

    @functools.wraps(handler)
    async def wrapper(self: Self_, request: Req, context: Any) -> AsyncIterator[Resp]:
        with request_scope(context):
            started = time.perf_counter()
            failure: BaseException | None = None
            try:
                async for item in handler(self, request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except (asyncio.CancelledError, GeneratorExit) as error:
                failure = error
                raise
            except Exception as error:
                failure = error
                await _abort(context, error)
                raise
            finally:
                _log_rpc(handler.__name__, started, failure)

    return wrapper


__all__ = [
    "ContextLengthExceeded",
    "CoreError",
    "EngineFailed",
    "InvalidArgument",
    "ModelLoadFailed",
    "ModelNotFound",
    "QueueFull",
    "ReaderStalled",
    "ShuttingDown",
    "WrongModelType",
    "grpc_errors",
    "grpc_stream_errors",
    "to_status",
]
