"""Servicers for the services this server does not implement yet: each RPC answers
UNIMPLEMENTED with a message naming it, so clients learn what is missing rather than guess."""

from __future__ import annotations

from typing import Any

import grpc

from inferline.v1 import image_service_pb2_grpc

_SERVICES = {
    "ImageService": (
        image_service_pb2_grpc,
        ["GenerateImage", "GenerateImageStream", "EditImage", "EditImageStream"],
    ),
}


def _handler(service: str, method: str) -> Any:
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{service}.{method} is not implemented yet in this server",
        )

    return handler


def add_unimplemented(server: grpc.aio.Server) -> None:
    """Register every not-yet-implemented service on ``server``."""
    for service, (module, methods) in _SERVICES.items():
        base = getattr(module, f"{service}Servicer")
        servicer = type(service, (base,), {m: _handler(service, m) for m in methods})()
        getattr(module, f"add_{service}Servicer_to_server")(servicer, server)
