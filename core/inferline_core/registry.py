"""Which models exist, which are loaded, for how long, and which one serves a request.

Models are declared by configuration and listed before they load. A model loads on first use
(concurrent first requests share one load, which runs in a thread) and then owns one
ModelWorker. A request holds a lease on its model while it runs; a model with a lease is never
unloaded. When a lease ends the model stays for its keep-alive (Ollama's semantics: a duration,
0 unloads at once, negative keeps it), after which the reaper unloads it. Loading a model that
would pass ``max_loaded`` models or the memory budget first unloads the least recently used
idle ones, waiting for one to become idle if all are busy.

Background work never dies quietly: a model whose unloading fails (its worker or its library
raising) is logged once with its traceback and left unloaded, so the next request loads it
afresh; the reaper logs a failed round and keeps reaping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from inferline_core.config import ModelConfig, ModelType
from inferline_core.engines.base import Embedder, Engine, Painter, TextGenerator, Transcriber
from inferline_core.exceptions import ModelLoadFailed, ModelNotFound, WrongModelType
from inferline_core.loaders import Loader
from inferline_core.metrics import ModelSnapshot
from inferline_core.scheduler import STALL_S, STREAM_BUFFER, ModelWorker, Unwatched, Watch

log = logging.getLogger(__name__)
REAP_INTERVAL_S = 0.5


class State(StrEnum):
    """Where a model is in its life (metrics call AVAILABLE "unloaded")."""

    AVAILABLE = "available"
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"


# Which model types can serve which kind of request.
SERVES: dict[str, frozenset[ModelType]] = {
    "chat": frozenset({"chat", "vision"}),
    "completion": frozenset({"chat", "completion"}),
    "embedding": frozenset({"embedding"}),
    "transcription": frozenset({"audio"}),
    "translation": frozenset({"audio"}),
    "image": frozenset({"image"}),
}
EngineT = TypeVar("EngineT", TextGenerator, Embedder, Transcriber, Painter)


def _size(path: str) -> int:
    """Bytes on disk: the memory a model is budgeted at."""
    target = Path(path)
    if target.is_dir():
        return sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    return target.stat().st_size if target.exists() else 0


@dataclass
class Entry:
    """One declared model and, once loaded, its engine, worker and leases."""

    id: str
    config: ModelConfig
    created: int = field(default_factory=lambda: int(time.time()))
    state: State = State.AVAILABLE
    error: str = ""
    engine: Engine | None = None
    worker: ModelWorker | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    active: int = 0
    last_used: float = 0.0
    expires: float | None = None  # monotonic time to unload at; None: keep
    size: int = 0


def unwatched(model: str, kind: str) -> Watch:
    """The watch factory that watches nothing."""
    return Unwatched()


@dataclass
class Lease(Generic[EngineT]):
    """A request's hold on a loaded model; ``release()`` ends it (once). ``watch()`` makes the
    watch (metrics, spans) for a job the request queues; ``stream_interval`` is the model's
    tokens per streamed message."""

    id: str
    engine: EngineT
    worker: ModelWorker
    _release: Callable[[], None]
    watch: Callable[[], Watch] = Unwatched
    stream_interval: int = 1
    _done: bool = False

    def release(self) -> None:
        if not self._done:
            self._done = True
            self._release()


class Registry:
    """The models of one core."""

    def __init__(
        self,
        models: Mapping[str, ModelConfig],
        loader: Loader,
        max_queue: int,
        *,
        max_loaded: int = 4,
        memory_budget: int = 0,
        keep_alive: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        watch: Callable[[str, str], Watch] = unwatched,
        on_load: Callable[[str, float], None] = lambda model, seconds: None,
        stream_buffer: int = STREAM_BUFFER,
        stall_s: float = STALL_S,
        stream_interval: int = 1,
    ) -> None:
        """``watch(model, kind)`` makes each job's watch; ``on_load`` hears load times;
        ``stream_interval`` is the default of the models that set none."""
        self._watch = watch
        self._stream_buffer, self._stall_s = stream_buffer, stall_s
        self._stream_interval = stream_interval
        self._on_load = on_load
        self._entries = {name: Entry(name, config) for name, config in models.items()}
        self._loader = loader
        self._max_queue = max_queue
        self._max_loaded = max(1, max_loaded)
        self._budget = memory_budget
        self._keep_alive = keep_alive
        self._clock = clock
        self._idle = asyncio.Event()  # set whenever a lease ends
        self._reaper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[bool]] = set()

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

    def is_default(self, entry: Entry) -> bool:
        """Whether ``entry`` answers requests of its type that name no model."""
        kind = next((k for k, types in SERVES.items() if entry.config.type in types), None)
        return kind is not None and self.default_for(kind) is entry

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

    def defaults(self) -> list[Entry]:
        """The models that requests naming no model go to, one per kind, without repeats."""
        found: list[Entry] = []
        for kind in SERVES:
            entry = self.default_for(kind)
            if entry is not None and all(e is not entry for e in found):
                found.append(entry)
        return found

    async def preload(self) -> None:
        """Load the default models now (as many as may stay loaded), rather than on first use."""
        for entry in self.defaults()[: self._max_loaded]:
            await self.load(entry)

    def add(self, model_id: str, config: ModelConfig) -> Entry:
        """Declare a model (a pulled one, say); an existing id keeps its entry."""
        return self._entries.setdefault(model_id, Entry(model_id, config))

    async def remove(self, entry: Entry) -> None:
        """Unload a model once idle and forget it."""
        await self.unload(entry)
        self._entries.pop(entry.id, None)

    def unload_time(self, entry: Entry) -> float | None:
        """When (Unix time) the idle loaded model will be unloaded; None while it is not loaded,
        is busy, or is kept loaded."""
        if entry.engine is None or entry.active or entry.expires is None:
            return None
        return time.time() + max(0.0, entry.expires - self._clock())

    def snapshot(self) -> list[ModelSnapshot]:
        """Every model's gauges now; safe to call from another thread (a scrape)."""
        states = {State.AVAILABLE: "unloaded"}
        shots = []
        for entry in list(self._entries.values()):
            worker = entry.worker
            shots.append(
                ModelSnapshot(
                    model=entry.id,
                    state=states.get(entry.state, entry.state.value),
                    queued=worker.queued if worker else 0,
                    queue_limit=self._max_queue,
                    running=worker.running if worker else 0,
                    loaded_bytes=entry.size,
                )
            )
        return shots

    # Leases

    async def _lease(
        self, model_id: str, kind: str, keep_alive: float | None, interface: Any, verb: str
    ) -> Lease[Any]:
        entry = self.resolve(model_id, kind)
        engine, worker = await self.load(entry, lease=True)
        if not isinstance(engine, interface):
            self._release(entry, keep_alive)
            raise WrongModelType(f"the model {entry.id!r} cannot {verb}", param="model")
        return Lease(
            entry.id,
            engine,
            worker,
            lambda: self._release(entry, keep_alive),
            lambda: self._watch(entry.id, kind),
            entry.config.stream_interval or self._stream_interval,
        )

    async def text_model(
        self, model_id: str, kind: str, keep_alive: float | None = None
    ) -> Lease[TextGenerator]:
        """A lease on the text model for a chat or completion request."""
        lease: Lease[TextGenerator] = await self._lease(
            model_id, kind, keep_alive, TextGenerator, "generate text"
        )
        return lease

    async def embedder(self, model_id: str, keep_alive: float | None = None) -> Lease[Embedder]:
        """A lease on the embedding model for an embedding request."""
        lease: Lease[Embedder] = await self._lease(
            model_id, "embedding", keep_alive, Embedder, "embed"
        )
        return lease

    async def transcriber(
        self, model_id: str, kind: str, keep_alive: float | None = None
    ) -> Lease[Transcriber]:
        """A lease on the speech model for a transcription or translation."""
        lease: Lease[Transcriber] = await self._lease(
            model_id, kind, keep_alive, Transcriber, "transcribe"
        )
        return lease

    async def painter(self, model_id: str, keep_alive: float | None = None) -> Lease[Painter]:
        """A lease on the image model for a generation or an edit."""
        lease: Lease[Painter] = await self._lease(
            model_id, "image", keep_alive, Painter, "make images"
        )
        return lease

    def _expiry(self, entry: Entry, keep_alive: float | None, now: float) -> float | None:
        """When to unload: the request's keep-alive, else the model's, else the core's;
        negative keeps the model loaded."""
        if keep_alive is None:
            keep_alive = entry.config.keep_alive_seconds(self._keep_alive)
        return None if keep_alive < 0 else now + keep_alive

    def _release(self, entry: Entry, keep_alive: float | None) -> None:
        entry.active -= 1
        now = self._clock()
        entry.last_used = now
        entry.expires = self._expiry(entry, keep_alive, now)
        self._idle.set()
        if entry.expires is not None and entry.expires <= now and entry.active == 0:
            task = asyncio.get_running_loop().create_task(self._unload_if_idle(entry))
            self._tasks.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._tasks.discard)

    # Loading and unloading

    async def load(
        self, entry: Entry, *, lease: bool = False, keep_alive: float | None = None
    ) -> tuple[Engine, ModelWorker]:
        """Load ``entry`` unless it is loaded (concurrent callers share one load); with
        ``lease`` the caller holds it until it calls ``_release``."""
        async with entry.lock:
            if entry.engine is None or entry.worker is None:
                size = _size(entry.config.path)
                await self._make_room(entry, size)
                entry.state = State.LOADING
                started = time.perf_counter()
                try:
                    entry.engine = await asyncio.to_thread(self._loader, entry.id, entry.config)
                except Exception as error:
                    failure = ModelLoadFailed.because(entry.id, error)
                    entry.state, entry.error = State.FAILED, failure.message
                    log.exception("loading %s failed", entry.id)
                    raise failure from None
                threads = int(getattr(entry.engine, "parallel", 1))
                entry.worker = ModelWorker(
                    entry.id,
                    self._max_queue,
                    threads=threads,
                    buffer=self._stream_buffer,
                    stall_s=self._stall_s,
                )
                entry.state, entry.error = State.LOADED, ""
                entry.size = size
                self._on_load(entry.id, time.perf_counter() - started)
                log.info("loaded %s", entry.id)
            entry.last_used = self._clock()
            if lease:
                entry.active += 1
            else:
                entry.expires = self._expiry(entry, keep_alive, entry.last_used)
            return entry.engine, entry.worker

    def _loaded(self, besides: Entry) -> list[Entry]:
        return [e for e in self._entries.values() if e.engine is not None and e is not besides]

    def _full(self, incoming: Entry, size: int) -> bool:
        loaded = self._loaded(incoming)
        if len(loaded) + 1 > self._max_loaded:
            return True
        return (
            bool(self._budget)
            and bool(loaded)
            and sum(e.size for e in loaded) + size > self._budget
        )

    async def _make_room(self, incoming: Entry, size: int) -> None:
        """Unload least recently used idle models until ``incoming`` (``size`` bytes) fits."""
        while self._full(incoming, size):
            idle = [e for e in self._loaded(incoming) if e.active == 0 and not e.lock.locked()]
            if not idle:  # every loaded model is serving: wait for a lease to end
                self._idle.clear()
                await self._idle.wait()
                continue
            victim = min(idle, key=lambda e: e.last_used)
            log.info("unloading %s to make room for %s", victim.id, incoming.id)
            await self._unload_if_idle(victim)

    async def _unload_if_idle(self, entry: Entry) -> bool:
        async with entry.lock:
            if entry.active or entry.engine is None:
                return False
            await self._free(entry)
            return True

    async def _free(self, entry: Entry) -> None:
        """Unload ``entry``; whatever fails, it ends unloaded and can load again."""
        worker, engine = entry.worker, entry.engine
        entry.worker = entry.engine = None
        entry.state, entry.expires, entry.size = State.AVAILABLE, None, 0
        try:
            if worker is not None:
                await asyncio.to_thread(worker.close)
            if engine is not None:
                engine.close()
        except Exception:
            log.exception("unloading %s failed; it is dropped and loads again when asked", entry.id)
            return
        log.info("unloaded %s", entry.id)

    async def unload(self, entry: Entry) -> None:
        """Free a loaded model once the requests running on it have finished."""
        while entry.active:
            self._idle.clear()
            await self._idle.wait()
        async with entry.lock:
            if entry.engine is not None and not entry.active:
                await self._free(entry)

    # The reaper

    def start(self) -> None:
        """Start unloading models whose keep-alive has passed."""
        self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            try:
                await self.reap()
            except Exception:
                log.exception("the keep-alive reaper failed a round; it goes on")

    async def reap(self) -> None:
        """Unload every idle model whose keep-alive has passed (the reaper's round)."""
        now = self._clock()
        for entry in list(self._entries.values()):
            if entry.engine is not None and entry.expires is not None and entry.expires <= now:
                await self._unload_if_idle(entry)

    async def close(self) -> None:
        """Stop the reaper and unload every model."""
        if self._reaper is not None:
            self._reaper.cancel()
        for entry in self._entries.values():
            async with entry.lock:
                if entry.engine is not None:
                    await self._free(entry)
