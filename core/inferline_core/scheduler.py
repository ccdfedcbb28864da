"""Per-model scheduling: one worker thread per loaded model, fed by a bounded queue.

A llama.cpp context must never be used by two threads at once, and the event loop must never
block on a model: each model gets one dedicated thread that runs jobs one after another. A job
is a callable that produces events in that thread; the job's watch sees each one, then an
optional ``pace`` may gather them into fewer (``engines.stream_interval``). They travel back
to the event loop through an asyncio.Queue that holds at most ``buffer`` events: a request
whose reader stops (a client that stays connected but reads nothing) pauses its model thread
rather than making the core buffer the whole answer, and after ``stall_s`` seconds without
room the job is cancelled, gives its model back and leaves ReaderStalled for the reader,
should it return. A job's cancel flag is checked by the engine once per token; a job
cancelled while still waiting is skipped. Each job carries a watch (metrics and spans) that
hears when it is refused, starts, yields an event and ends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from inferline_core.exceptions import QueueFull, ReaderStalled, ShuttingDown

log = logging.getLogger(__name__)
E = TypeVar("E")
_END = object()
STREAM_BUFFER = 64  # events a job may have waiting for its reader
STALL_S = 60.0  # how long a job waits for its reader to make room before it is cancelled
Pace = Callable[[Iterator[E]], Iterator[E]]  # a job's watched events in, the ones sent out


class Watch(Protocol):
    """What hears about a job's life (``inferline_core.watch.JobWatch``)."""

    def refused(self) -> None: ...
    def started(self) -> None: ...
    def event(self, event: object) -> None: ...
    def ended(self, outcome: str) -> None: ...


class Unwatched:
    """A watch that notes nothing."""

    def refused(self) -> None:
        pass

    def started(self) -> None:
        pass

    def event(self, event: object) -> None:
        pass

    def ended(self, outcome: str) -> None:
        pass


class Job(Generic[E]):
    """One request's work on a model, and the stream of its events back to the event loop."""

    def __init__(
        self,
        work: Callable[[threading.Event], Iterator[E]],
        watch: Watch | None = None,
        *,
        buffer: int = STREAM_BUFFER,
        stall_s: float = STALL_S,
        pace: Pace[E] | None = None,
    ) -> None:
        self.work = work
        self.watch = watch or Unwatched()
        self._pace = pace
        self.cancel = threading.Event()  # set it with stop(), which also wakes a full buffer
        self.stalled = False  # cancelled because its reader made no room for stall_s
        self.on_stall: Callable[[], None] = lambda: None  # called on the event loop
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[object] = asyncio.Queue()
        self._room = threading.Semaphore(buffer)  # one per event the reader may lag behind
        self._stall_s = stall_s

    def stop(self) -> None:
        """Cancel the job: the engine stops within a token, and a worker waiting for room in
        the reader's buffer wakes at once rather than when ``stall_s`` runs out."""
        self.cancel.set()
        self._room.release()

    def push(self, item: object) -> None:
        """Called from the worker thread: hand an exception or the end over (never waits)."""
        self._loop.call_soon_threadsafe(self._events.put_nowait, item)

    def push_event(self, event: object) -> bool:
        """Called from the worker thread: hand an event over once the reader has room; False
        (and the job cancelled) when it made none for ``stall_s`` seconds."""
        if self._room.acquire(timeout=self._stall_s):
            if self.cancel.is_set():  # woken by stop(): nobody reads any more
                return False
            self.push(event)
            return True
        self.stalled = True
        self.cancel.set()
        log.warning("a reader made no room for %.0f s; its request is cancelled", self._stall_s)
        self.push(
            ReaderStalled(f"the client read nothing for {self._stall_s:.0f} s; request cancelled")
        )
        self._loop.call_soon_threadsafe(self.on_stall)
        return False

    def run(self) -> None:
        """Called from the worker thread: run the work, pushing every event, then the end."""
        self.watch.started()
        outcome = "ok"
        try:
            if not self.cancel.is_set():
                events = self._watched(self.work(self.cancel))
                for event in self._pace(events) if self._pace else events:
                    if not self.push_event(event) or self.cancel.is_set():
                        break
            if self.cancel.is_set():
                outcome = "cancelled"
        except Exception as error:
            outcome = "error"
            self.push(error)
        finally:
            self.watch.ended(outcome)
            self.push(_END)

    def _watched(self, events: Iterator[E]) -> Iterator[E]:
        for event in events:
            self.watch.event(event)
            yield event

    async def events(self) -> AsyncIterator[E]:
        """The job's events; leaving early (or being cancelled) cancels the job."""
        try:
            while True:
                item = await self._events.get()
                if item is _END:
                    return
                if isinstance(item, Exception):
                    raise item
                self._room.release()
                yield item  # type: ignore[misc]
        finally:
            self.stop()


class ModelWorker:
    """The one thread that runs a model's jobs, and the bounded queue in front of it.

    Only jobs still wanted count against the bound: a job cancelled while waiting gives its
    place back at once, rather than when the worker reaches it.
    """

    def __init__(
        self,
        name: str,
        max_queue: int,
        *,
        threads: int = 1,
        buffer: int = STREAM_BUFFER,
        stall_s: float = STALL_S,
    ) -> None:
        self.name = name
        self._max_queue = max_queue
        self._buffer, self._stall_s = buffer, stall_s
        self._waiting: deque[Job[Any]] = deque()
        self._ready = threading.Condition()
        self._closing = False
        self.running = 0  # jobs in the worker threads now
        # One thread for a model that runs one request at a time; a batching engine gets one
        # per slot, each relaying its request while the engine decodes them all together.
        self._threads = [
            threading.Thread(target=self._loop, name=f"model:{name}:{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def max_queue(self) -> int:
        """How many jobs may wait."""
        return self._max_queue

    @property
    def queued(self) -> int:
        """Jobs waiting that are still wanted."""
        with self._ready:
            return sum(not j.cancel.is_set() for j in self._waiting)

    def submit(
        self,
        work: Callable[[threading.Event], Iterator[E]],
        watch: Watch | None = None,
        pace: Pace[E] | None = None,
    ) -> Job[E]:
        """Queue work; raise QueueFull at once when the queue is full."""
        job: Job[E] = Job(work, watch, buffer=self._buffer, stall_s=self._stall_s, pace=pace)
        with self._ready:
            if self._closing:
                job.watch.refused()
                raise ShuttingDown(f"model {self.name!r} is being unloaded")
            if sum(not j.cancel.is_set() for j in self._waiting) >= self._max_queue:
                job.watch.refused()
                raise QueueFull(
                    f"model {self.name!r} has {self._max_queue} requests waiting; try again later"
                )
            self._waiting.append(job)
            self._ready.notify()
        return job

    def _next(self) -> Job[Any] | None:
        with self._ready:
            while not self._waiting and not self._closing:
                self._ready.wait()
            return self._waiting.popleft() if self._waiting else None

    def _loop(self) -> None:
        while (job := self._next()) is not None:
            with self._ready:
                self.running += 1
            try:
                job.run()  # a job cancelled while waiting only reports its end
            finally:
                with self._ready:
                    self.running -= 1

    def close(self, timeout: float | None = None) -> None:
        """Stop taking jobs, let queued ones finish, and end the thread."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout)
