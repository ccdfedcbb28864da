"""The inferline Python SDK: typed gRPC clients for the inferline core.

>>> from inferline import Client
>>> with Client("127.0.0.1:50051") as client:
...     reply = client.chat(messages=[{"role": "user", "content": "Hi"}], max_tokens=16)
...     print(reply.choices[0].message.content[0].text)
"""

from inferline._async import AsyncClient, AsyncStream
from inferline._channel import tls_credentials
from inferline._context import current_request_id, request_id, sane_request_id
from inferline._sync import Client, Stream
from inferline.errors import (
    AbortedError,
    AlreadyExistsError,
    CancelledError,
    DataLossError,
    DeadlineExceededError,
    FailedPreconditionError,
    InferlineError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
)

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "AsyncClient",
    "AsyncStream",
    "CancelledError",
    "Client",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InferlineError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "OutOfRangeError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "Stream",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "current_request_id",
    "request_id",
    "sane_request_id",
    "tls_credentials",
]
