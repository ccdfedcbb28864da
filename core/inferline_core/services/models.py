"""ModelService: the registry as protos; Pull and Delete on the model store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from inferline.v1 import model_service_pb2 as pb
from inferline.v1 import model_service_pb2_grpc as pb_grpc
from inferline_core.config import model_from_path
from inferline_core.engines.base import Embedder, Transcriber
from inferline_core.errors import InvalidArgument, ModelNotFound, grpc_errors, grpc_stream_errors
from inferline_core.registry import Entry, Registry, State
from inferline_core.services import common
from inferline_core.store import PullError, Store, StoredModel

_TYPES = {
    "chat": pb.MODEL_TYPE_CHAT,
    "completion": pb.MODEL_TYPE_COMPLETION,
    "embedding": pb.MODEL_TYPE_EMBEDDING,
    "image": pb.MODEL_TYPE_IMAGE,
    "audio": pb.MODEL_TYPE_AUDIO,
    "vision": pb.MODEL_TYPE_VISION,
}
_STATES = {
    State.AVAILABLE: pb.MODEL_STATE_AVAILABLE,
    State.LOADING: pb.MODEL_STATE_LOADING,
    State.LOADED: pb.MODEL_STATE_LOADED,
    State.FAILED: pb.MODEL_STATE_FAILED,
}
_CAPABILITIES = {
    "chat": [pb.CAPABILITY_CHAT, pb.CAPABILITY_COMPLETION],
    "completion": [pb.CAPABILITY_COMPLETION],
    "embedding": [pb.CAPABILITY_EMBEDDING],
    "image": [pb.CAPABILITY_IMAGE_GENERATION, pb.CAPABILITY_IMAGE_EDIT],
    "audio": [pb.CAPABILITY_TRANSCRIPTION, pb.CAPABILITY_TRANSLATION],
    "vision": [pb.CAPABILITY_CHAT, pb.CAPABILITY_VISION],
}


def model_pb(entry: Entry, registry: Registry) -> pb.Model:
    """The proto description of a registry entry."""
    config = entry.config
    engine = entry.engine
    context = getattr(engine, "context_length", None) or config.context_length or 0
    dimensions = engine.dimensions if isinstance(engine, Embedder) else config.dimensions or 0
    model = pb.Model(
        id=entry.id,
        type=_TYPES[config.type],
        state=_STATES[entry.state],
        capabilities=capabilities(entry),
        context_length=context,
        dimensions=dimensions,
        backend=config.backend,
        owned_by="inferline",
        created=entry.created,
        error=entry.error,
        is_default=registry.is_default(entry),
        loaded_bytes=entry.size,
        running_requests=entry.worker.running if entry.worker else 0,
        queued_requests=entry.worker.queued if entry.worker else 0,
        keep_loaded=entry.engine is not None and entry.expires is None and not entry.active,
        placement=engine.placement if engine is not None else "",
    )
    if (unload := registry.unload_time(entry)) is not None:
        model.expire_time.FromNanoseconds(int(unload * 1e9))
    return model


def capabilities(entry: Entry) -> list[pb.Capability]:
    """What the model can do; an English-only speech model does not translate (the loaded
    model says so, or its configuration before it loads)."""
    found = list(_CAPABILITIES[entry.config.type])
    multilingual = entry.config.multilingual
    if isinstance(entry.engine, Transcriber):
        multilingual = entry.engine.multilingual
    if multilingual is False:
        found.remove(pb.CAPABILITY_TRANSLATION)
    return found


class ModelServicer(pb_grpc.ModelServiceServicer):
    """List, get, load, unload, pull and delete models."""

    def __init__(self, registry: Registry, store: Store, hub_endpoint: str) -> None:
        self._registry = registry
        self._store = store
        self._hub = hub_endpoint

    def _pb(self, entry: Entry) -> pb.Model:
        return model_pb(entry, self._registry)

    @grpc_errors
    async def ListModels(
        self, request: pb.ListModelsRequest, context: Any
    ) -> pb.ListModelsResponse:
        """Every declared model, loaded or not."""
        return pb.ListModelsResponse(models=[self._pb(e) for e in self._registry.entries()])

    @grpc_errors
    async def GetModel(self, request: pb.GetModelRequest, context: Any) -> pb.GetModelResponse:
        """One model."""
        return pb.GetModelResponse(model=self._pb(self._registry.entry(request.id)))

    @grpc_errors
    async def LoadModel(self, request: pb.LoadModelRequest, context: Any) -> pb.LoadModelResponse:
        """Load a model now rather than on first use."""
        entry = self._registry.entry(request.id)
        await self._registry.load(entry, keep_alive=common.keep_alive(request))
        return pb.LoadModelResponse(model=self._pb(entry))

    @grpc_errors
    async def UnloadModel(
        self, request: pb.UnloadModelRequest, context: Any
    ) -> pb.UnloadModelResponse:
        """Free a model once its queued requests finish."""
        entry = self._registry.entry(request.id)
        await self._registry.unload(entry)
        return pb.UnloadModelResponse(model=self._pb(entry))

    @grpc_stream_errors
    async def PullModel(
        self, request: pb.PullModelRequest, context: Any
    ) -> AsyncIterator[pb.PullModelResponse]:
        """Download a model from the hub into the store, streaming progress, then serve it."""
        reference = request.repository + (f":{request.file}" if request.file else "")
        # The latest progress of each file not yet sent: bounded however slowly we are read.
        pending: dict[str, pb.PullProgress] = {}
        changed = asyncio.Event()
        finished = False

        def progress(file: str, done: int, total: int) -> None:
            pending[file] = pb.PullProgress(file=file, completed_bytes=done, total_bytes=total)
            changed.set()

        async def run() -> StoredModel:
            nonlocal finished
            from inferline_core.hub import pull  # and httpx: at the first pull, not in every core

            try:
                return await pull(
                    self._store,
                    reference,
                    endpoint=self._hub,
                    revision=request.revision or "main",
                    progress=progress,
                )
            finally:
                finished = True
                changed.set()

        task = asyncio.ensure_future(run())
        try:
            while not finished or pending:
                await changed.wait()
                changed.clear()
                while pending:
                    update = pending.pop(next(iter(pending)))
                    yield pb.PullModelResponse(progress=update)
            stored = await task
        except PullError as error:
            raise InvalidArgument(str(error), param="repository") from None
        finally:
            task.cancel()
        entry = self._registry.add(stored.id, model_from_path(str(stored.path)))
        yield pb.PullModelResponse(model=self._pb(entry))

    @grpc_errors
    async def DeleteModel(
        self, request: pb.DeleteModelRequest, context: Any
    ) -> pb.DeleteModelResponse:
        """Unload a pulled model and delete its files."""
        if self._store.find(request.id) is None:
            self._registry.entry(request.id)  # NOT_FOUND when it does not exist at all
            raise InvalidArgument(
                f"{request.id!r} is not a pulled model; only pulled models can be deleted",
                param="id",
            )
        with contextlib.suppress(ModelNotFound):  # stored but not served by this core
            await self._registry.remove(self._registry.entry(request.id))
        self._store.remove(request.id)
        return pb.DeleteModelResponse()
