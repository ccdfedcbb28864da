"""Per-model scheduling: one worker thread per loaded model, fed by a bounded queue.

A llama.cpp context must never be used by two threads at once, and the event loop must never
block on a model: each model gets one dedicated thread that runs jobs one after another. A job
is a callable that produces events in that thread; the events travel back to the event loop
through an asyncio.Queue. A job's cancel flag is checked by the engine once per token; a job
cancelled while still waiting is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Generic, TypeVar

from core.errors import QueueFull, ShuttingDown

log = logging.getLogger(__name__)
E = TypeVar("E")
_END = object()


class Job(Generic[E]):
    """One request's work on a model, and the stream of its events back to the event loop."""

    def __init__(self, work: Callable[[threading.Event], Iterator[E]]) -> None:
        self.work = work
        self.cancel = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[object] = asyncio.Queue()

    def push(self, item: object) -> None:
        """Called from the worker thread: hand an event (or an exception, or the end) over."""
        self._loop.call_soon_threadsafe(self._events.put_nowait, item)

    def run(self) -> None:
        """Called from the worker thread: run the work, pushing every event, then the end."""
        try:
            if not self.cancel.is_set():
                for event in self.work(self.cancel):
                    self.push(event)
                    if self.cancel.is_set():
                        break
        except Exception as error:
            self.push(error)
        finally:
            self.push(_END)

    async def events(self) -> AsyncIterator[E]:
        """The job's events; leaving early (or being cancelled) cancels the job."""
        try:
            while True:
                item = await self._events.get()
                if item is _END:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            self.cancel.set()


class ModelWorker:
    """The one thread that runs a model's jobs, and the bounded queue in front of it."""

    def __init__(self, name: str, max_queue: int) -> None:
        self.name = name
        self._queue: queue.Queue[Job[object] | None] = queue.Queue(maxsize=max_queue)
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name=f"model:{name}", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[threading.Event], Iterator[E]]) -> Job[E]:
        """Queue work; raise QueueFull at once when the queue is full."""
        if self._closing:
            raise ShuttingDown(f"model {self.name!r} is being unloaded")
        job: Job[E] = Job(work)
        try:
            self._queue.put_nowait(job)  # type: ignore[arg-type]
        except queue.Full:
            raise QueueFull(
                f"model {self.name!r} has {self._queue.maxsize} requests waiting; try again later"
            ) from None
        return job

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None:
            job.run()

    def close(self, timeout: float | None = None) -> None:
        """Stop taking jobs, let queued ones finish, and end the thread."""
        self._closing = True
        self._queue.put(None)
        self._thread.join(timeout)
