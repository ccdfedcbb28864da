"""The core's doors: TLS credentials for its port and its clients, and the token check that
every RPC passes (health and reflection excepted unless configured otherwise)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from inferline import tls_credentials
from inferline.keys import matches
from inferline_core.config import ConfigError, CoreConfig

_OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
if TYPE_CHECKING:  # the stubs make it generic; the runtime class is not
    Handler = grpc.RpcMethodHandler[Any, Any]


def _read(path: str | None, key: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as error:
        raise ConfigError(f"core.{key}: cannot read {path}: {error}") from None


def server_credentials(core: CoreConfig) -> grpc.ServerCredentials | None:
    """TLS for the core's port, or None for plaintext."""
    if (core.tls_cert is None) != (core.tls_key is None):
        raise ConfigError("core.tls_cert and core.tls_key go together")
    cert, key = _read(core.tls_cert, "tls_cert"), _read(core.tls_key, "tls_key")
    if cert is None or key is None:
        if core.tls_client_ca:
            raise ConfigError("core.tls_client_ca needs core.tls_cert and core.tls_key")
        return None
    client_ca = _read(core.tls_client_ca, "tls_client_ca")
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def client_credentials(core: CoreConfig) -> grpc.ChannelCredentials | None:
    """TLS for calling the core, or None for plaintext."""
    if core.tls_ca is None and core.tls_client_cert is None:
        return None
    try:
        return tls_credentials(core.tls_ca, core.tls_client_cert, core.tls_client_key)
    except ValueError:
        raise ConfigError("core.tls_client_cert and core.tls_client_key go together") from None
    except OSError as error:
        raise ConfigError(f"core: cannot read a TLS client file: {error}") from None


def _bearer(metadata: Sequence[tuple[str, Any]] | None) -> str:
    for name, value in metadata or ():
        if name == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value.removeprefix("Bearer ")
    return ""


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuse an RPC without a valid ``authorization: Bearer`` token: UNAUTHENTICATED."""

    def __init__(self, tokens: Sequence[str], *, check_health: bool) -> None:
        self._tokens = list(tokens)
        self._open = () if check_health else _OPEN_SERVICES

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method or ""
        offered = _bearer(handler_call_details.invocation_metadata)
        if method.startswith(self._open) or matches(offered, self._tokens):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        return _refusal(handler, "a valid token is required: authorization: Bearer <core api_key>")


def _refusal(handler: Handler | None, message: str) -> Handler:
    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # unreachable; makes this a streaming handler

    if handler is not None and handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.unary_unary_rpc_method_handler(
        unary,
        request_deserializer=getattr(handler, "request_deserializer", None),
        response_serializer=getattr(handler, "response_serializer", None),
    )
