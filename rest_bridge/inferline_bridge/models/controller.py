"""``GET /v1/models``, ``GET /v1/models/{id}`` and ``DELETE /v1/models/{id}``: OpenAI's model
objects plus our fields."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from inferline import AsyncClient, InferlineError
from inferline.v1 import model_service_pb2 as pb
from inferline_bridge.errors import from_core

_TYPES = {
    pb.MODEL_TYPE_CHAT: "chat",
    pb.MODEL_TYPE_COMPLETION: "completion",
    pb.MODEL_TYPE_EMBEDDING: "embedding",
    pb.MODEL_TYPE_IMAGE: "image",
    pb.MODEL_TYPE_AUDIO: "audio",
    pb.MODEL_TYPE_VISION: "vision",
}
_STATES = {
    pb.MODEL_STATE_AVAILABLE: "available",
    pb.MODEL_STATE_LOADING: "loading",
    pb.MODEL_STATE_LOADED: "loaded",
    pb.MODEL_STATE_FAILED: "failed",
}


def model_dict(model: pb.Model) -> dict[str, Any]:
    """OpenAI's model object, then inferline's own fields."""
    entry: dict[str, Any] = {
        "id": model.id,
        "object": "model",
        "created": model.created,
        "owned_by": model.owned_by or "inferline",
        "type": _TYPES.get(model.type),
        "state": _STATES.get(model.state),
        "capabilities": [
            pb.Capability.Name(c).removeprefix("CAPABILITY_").lower() for c in model.capabilities
        ],
        "context_length": model.context_length or None,
        "default": model.is_default,
    }
    if model.dimensions:
        entry["dimensions"] = model.dimensions
    if model.error:
        entry["error"] = model.error
    return entry


class ModelsController(Controller):
    """The models the core serves."""

    path = "/v1/models"

    @get()
    async def list_models(self, client: NamedDependency[AsyncClient]) -> dict[str, Any]:
        """Every model, loaded or not."""
        try:
            models = await client.list_models()
        except InferlineError as error:
            raise from_core(error) from None
        return {"object": "list", "data": [model_dict(m) for m in models]}

    @get("/{model_id:path}")
    async def retrieve(
        self, client: NamedDependency[AsyncClient], model_id: FromPath[str]
    ) -> dict[str, Any]:
        """One model; ids may contain slashes (``owner/name``)."""
        try:
            model = await client.get_model(model_id.lstrip("/"))
        except InferlineError as error:
            raise from_core(error) from None
        return model_dict(model)

    @delete("/{model_id:path}", status_code=200)
    async def remove(
        self, client: NamedDependency[AsyncClient], model_id: FromPath[str]
    ) -> dict[str, Any]:
        """Delete a pulled model (DeleteModel: unloaded, its files removed); OpenAI's answer."""
        model_id = model_id.lstrip("/")
        try:
            await client.delete_model(model_id)
        except InferlineError as error:
            raise from_core(error) from None
        return {"id": model_id, "object": "model", "deleted": True}
