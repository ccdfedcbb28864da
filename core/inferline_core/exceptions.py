"""The core's own exceptions, which engines, the registry and the scheduler raise.

Plain Python: no grpc here, so engines can raise them without knowing the transport. The ONE
table that turns them into gRPC statuses lives in ``inferline_core.errors``.
"""

from __future__ import annotations

import re

# Absolute, home and relative file paths in a library's message: clients never see where the
# server keeps its files (the core's log has the whole message).
_PATH = re.compile(r"(?<![\w.:/])(?:~|\.\.?)?/[^\s'\"]+")


class CoreError(Exception):
    """Base of the core's own errors; ``param`` names the request field at fault, if any."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidArgument(CoreError):
    """The request is malformed or asks for something unsupported."""


class ContextLengthExceeded(CoreError):
    """The prompt does not fit the model's context."""


class ModelNotFound(CoreError):
    """No model has this id."""


class WrongModelType(CoreError):
    """The model exists but cannot serve this kind of request."""


class ModelLoadFailed(CoreError):
    """The model's files could not be loaded."""

    @classmethod
    def because(cls, model_id: str, error: Exception) -> ModelLoadFailed:
        """The error for ``model_id`` failing with ``error``: names the model, not its files."""
        reason = _PATH.sub("<path>", str(error)) or type(error).__name__
        return cls(f"the model {model_id!r} failed to load: {reason}", param="model")


class QueueFull(CoreError):
    """The model's queue is full; try again after ``retry_after_s``."""

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ShuttingDown(CoreError):
    """The server is stopping and takes no new work."""


class ReaderStalled(CoreError):
    """The client kept its stream open but read nothing for ``[core] stalled_reader_timeout_s``:
    its request was cancelled."""


class EngineFailed(CoreError):
    """A model's library failed while serving a request (a failed decode, a pipeline that
    raised): the server's fault. The engine has logged the traceback once; the client sees a
    generic message."""

    def __init__(self, message: str = "the model failed while answering; see the core's log"):
        super().__init__(message)


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
]
