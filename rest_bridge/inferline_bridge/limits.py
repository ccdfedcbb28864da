"""Per-client rate limits over a sliding minute: requests, and tokens charged as they come.

A client is its API key (or its address when it sends none). Every response carries OpenAI's
``x-ratelimit-*`` headers for the limits that are set. Clients with nothing left in their
windows are forgotten (at most once a window, on the next request), so clients seen once do
not stay in memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_S = 60.0


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``1s``, ``6m0s``."""
    whole = max(0, math.ceil(seconds))
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


@dataclass
class _Window:
    events: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0

    def prune(self, now: float) -> None:
        while self.events and self.events[0][0] <= now - WINDOW_S:
            self.total -= self.events.popleft()[1]

    def add(self, now: float, amount: int) -> None:
        if amount:
            self.events.append((now, amount))
            self.total += amount

    def reset_in(self, now: float) -> float:
        return self.events[0][0] + WINDOW_S - now if self.events else 0.0


@dataclass(frozen=True)
class Verdict:
    """Whether a request may go ahead, and the headers to send either way."""

    allowed: bool
    retry_after: float
    headers: dict[str, str]


class Limiter:
    """Sliding-window request and token counts per client; 0 disables a limit."""

    def __init__(
        self, requests: int, tokens: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = {"requests": requests, "tokens": tokens}
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}
        self._lock = threading.Lock()
        self._swept = clock()

    @property
    def clients(self) -> int:
        """How many clients the limiter holds windows for."""
        with self._lock:
            return len({client for client, _ in self._windows})

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        return any(self._limits.values())

    def _window(self, client: str, kind: str, now: float) -> _Window:
        window = self._windows.setdefault((client, kind), _Window())
        window.prune(now)
        return window

    def _headers(self, client: str, now: float) -> dict[str, str]:
        headers = {}
        for kind, limit in self._limits.items():
            if limit:
                window = self._window(client, kind, now)
                headers[f"x-ratelimit-limit-{kind}"] = str(limit)
                headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, limit - window.total))
                headers[f"x-ratelimit-reset-{kind}"] = _duration(window.reset_in(now))
        return headers

    def admit(self, client: str) -> Verdict:
        """Count a new request, unless a limit is already used up."""
        with self._lock:
            now = self._clock()
            if now - self._swept >= WINDOW_S:
                self._forget_idle(now)
            waits = [
                self._window(client, kind, now).reset_in(now)
                for kind, limit in self._limits.items()
                if limit and self._window(client, kind, now).total >= limit
            ]
            if not waits:
                self._window(client, "requests", now).add(now, 1 if self._limits["requests"] else 0)
            return Verdict(not waits, max(waits, default=0.0), self._headers(client, now))

    def charge(self, client: str, tokens: int) -> None:
        """Count tokens a client's request consumed."""
        if self._limits["tokens"] and tokens > 0:
            with self._lock:
                now = self._clock()
                self._window(client, "tokens", now).add(now, tokens)

    def forget_idle(self) -> None:
        """Drop clients with nothing left in their windows."""
        with self._lock:
            self._forget_idle(self._clock())

    def _forget_idle(self, now: float) -> None:
        self._swept = now
        for key, window in list(self._windows.items()):
            window.prune(now)
            if not window.total:
                del self._windows[key]
