"""Which models exist, which are loaded, and which one serves a request.

Models are declared by configuration and listed before they load. A model loads on first use
(concurrent first requests share one load, which runs in a thread) and then owns one
ModelWorker. A request that names no model goes to the default model of the kind it needs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from core.config import ModelConfig, ModelType
from core.engines.base import Embedder, Engine, TextGenerator
from core.errors import ModelLoadFailed, ModelNotFound, WrongModelType
from core.loaders import Loader
from core.scheduler import ModelWorker

log = logging.getLogger(__name__)


class State(StrEnum):
    """Where a model is in its life."""

    AVAILABLE = "available"
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"


# Which model types can serve which kind of request.
SERVES: dict[str, frozenset[ModelType]] = {
    "chat": frozenset({"chat", "vision"}),
    "completion": frozenset({"chat", "completion"}),
    "embedding": frozenset({"embedding"}),
}
EngineT = TypeVar("EngineT", TextGenerator, Embedder)


@dataclass
class Entry:
    """One declared model and, once loaded, its engine and worker."""

    id: str
    config: ModelConfig
    created: int = field(default_factory=lambda: int(time.time()))
    state: State = State.AVAILABLE
    error: str = ""
    engine: Engine | None = None
    worker: ModelWorker | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class Loaded(Generic[EngineT]):
    """A model ready to take jobs."""

    id: str
    engine: EngineT
    worker: ModelWorker


class Registry:
    """The models of one core."""

    def __init__(self, models: Mapping[str, ModelConfig], loader: Loader, max_queue: int) -> None:
        self._entries = {name: Entry(name, config) for name, config in models.items()}
        self._loader = loader
        self._max_queue = max_queue

    def entries(self) -> list[Entry]:
        """Every declared model, sorted by id."""
        return sorted(self._entries.values(), key=lambda entry: entry.id)

    def entry(self, model_id: str) -> Entry:
        """One model; ModelNotFound when no model has this id."""
        try:
            return self._entries[model_id]
        except KeyError:
            raise ModelNotFound(f"the model {model_id!r} does not exist", param="model") from None

    def default_for(self, kind: str) -> Entry | None:
        """The first declared model that can serve ``kind``."""
        return next((e for e in self._entries.values() if e.config.type in SERVES[kind]), None)

    def resolve(self, model_id: str, kind: str) -> Entry:
        """The model for a request of ``kind``: the one named, or the default for the kind."""
        if not model_id:
            entry = self.default_for(kind)
            if entry is None:
                raise ModelNotFound(f"no {kind} model is configured", param="model")
            return entry
        entry = self.entry(model_id)
        if entry.config.type not in SERVES[kind]:
            raise WrongModelType(
                f"the model {model_id!r} is a {entry.config.type} model and cannot serve "
                f"{kind} requests",
                param="model",
            )
        return entry

    def is_default(self, entry: Entry) -> bool:
        """Whether ``entry`` answers requests of its type that name no model."""
        kind = next((k for k, types in SERVES.items() if entry.config.type in types), None)
        return kind is not None and self.default_for(kind) is entry

    async def text_model(self, model_id: str, kind: str) -> Loaded[TextGenerator]:
        """The loaded text model for a chat or completion request."""
        entry = self.resolve(model_id, kind)
        worker, engine = await self.load(entry)
        if not isinstance(engine, TextGenerator):
            raise WrongModelType(f"the model {entry.id!r} cannot generate text", param="model")
        return Loaded(entry.id, engine, worker)

    async def embedder(self, model_id: str) -> Loaded[Embedder]:
        """The loaded embedding model for an embedding request."""
        entry = self.resolve(model_id, "embedding")
        worker, engine = await self.load(entry)
        if not isinstance(engine, Embedder):
            raise WrongModelType(f"the model {entry.id!r} cannot embed", param="model")
        return Loaded(entry.id, engine, worker)

    async def load(self, entry: Entry) -> tuple[ModelWorker, Engine]:
        """Load ``entry`` unless it is loaded; concurrent callers share one load."""
        async with entry.lock:
            if entry.engine is None or entry.worker is None:
                entry.state = State.LOADING
                try:
                    entry.engine = await asyncio.to_thread(self._loader, entry.id, entry.config)
                except Exception as error:
                    entry.state, entry.error = State.FAILED, str(error)
                    log.exception("loading %s failed", entry.id)
                    raise ModelLoadFailed(
                        f"the model {entry.id!r} failed to load: {error}"
                    ) from None
                entry.worker = ModelWorker(entry.id, self._max_queue)
                entry.state, entry.error = State.LOADED, ""
                log.info("loaded %s", entry.id)
            return entry.worker, entry.engine

    async def unload(self, entry: Entry) -> None:
        """Free a loaded model once the jobs already queued on it have finished."""
        async with entry.lock:
            worker, engine = entry.worker, entry.engine
            entry.worker = entry.engine = None
            entry.state = State.AVAILABLE
            if worker is not None:
                await asyncio.to_thread(worker.close)
            if engine is not None:
                engine.close()

    async def close(self) -> None:
        """Unload every model."""
        for entry in self._entries.values():
            await self.unload(entry)
