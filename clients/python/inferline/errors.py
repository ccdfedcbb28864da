"""The SDK's error tree: one exception class per gRPC status code, rooted at InferlineError.

The core attaches a ``google.rpc.Status`` to every error; its ``ErrorInfo`` reason (such as
``MODEL_NOT_FOUND``) and metadata (``param``: the offending request field) and its
``RetryInfo`` are exposed here so callers never parse messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class InferlineError(Exception):
    """A call to the core failed; ``code`` is the gRPC status code."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        metadata: dict[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.reason = reason
        self.metadata = metadata or {}
        self.retry_after = retry_after

    @property
    def param(self) -> str | None:
        """The request field the error is about, when the core named one."""
        return self.metadata.get("param")

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class CancelledError(InferlineError):
    """The call was cancelled."""

    code = grpc.StatusCode.CANCELLED


class InvalidArgumentError(InferlineError):
    """The request is malformed or asks for something the model cannot do."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceededError(InferlineError):
    """The call's deadline passed before it finished."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFoundError(InferlineError):
    """The named model (or other resource) does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(InferlineError):
    """The resource to create exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDeniedError(InferlineError):
    """The caller may not do this."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(InferlineError):
    """A queue or a limit is full; ``retry_after`` says when to try again, if known."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(InferlineError):
    """The server is not in a state to do this."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class AbortedError(InferlineError):
    """The operation was aborted."""

    code = grpc.StatusCode.ABORTED


class OutOfRangeError(InferlineError):
    """A value is outside its valid range."""

    code = grpc.StatusCode.OUT_OF_RANGE


class UnimplementedError(InferlineError):
    """The server does not implement this call."""

    code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(InferlineError):
    """The server failed unexpectedly."""

    code = grpc.StatusCode.INTERNAL


class UnavailableError(InferlineError):
    """The core cannot be reached or is shutting down."""

    code = grpc.StatusCode.UNAVAILABLE


class DataLossError(InferlineError):
    """Data was lost or corrupted."""

    code = grpc.StatusCode.DATA_LOSS


class UnauthenticatedError(InferlineError):
    """The call carried no valid credentials."""

    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: dict[grpc.StatusCode, type[InferlineError]] = {
    cls.code: cls
    for cls in (
        CancelledError,
        InvalidArgumentError,
        DeadlineExceededError,
        NotFoundError,
        AlreadyExistsError,
        PermissionDeniedError,
        ResourceExhaustedError,
        FailedPreconditionError,
        AbortedError,
        OutOfRangeError,
        UnimplementedError,
        InternalError,
        UnavailableError,
        DataLossError,
        UnauthenticatedError,
    )
}


def _status_details(trailing: Sequence[Any] | None) -> status_pb2.Status | None:
    for key, value in trailing or ():
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except DecodeError:
                return None
            return status
    return None


def from_rpc_error(error: grpc.RpcError) -> InferlineError:
    """Turn a grpc error (sync or asyncio) into the matching InferlineError subclass."""
    code: grpc.StatusCode = error.code()
    message: str = error.details() or code.name
    reason = ""
    metadata: dict[str, str] = {}
    retry_after: float | None = None
    status = _status_details(error.trailing_metadata())
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            reason = info.reason
            metadata = dict(info.metadata)
        elif detail.Unpack(retry):
            retry_after = retry.retry_delay.ToTimedelta().total_seconds()
    cls = _BY_CODE.get(code, InferlineError)
    return cls(message, code=code, reason=reason, metadata=metadata, retry_after=retry_after)
