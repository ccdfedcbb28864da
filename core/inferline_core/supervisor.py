"""`inferline serve`: run the core and the bridge as two child processes and keep them running.

The core starts first; the bridge starts once the core has answered its health check, so the
REST port never opens before it can serve. A child that dies is restarted after a delay that
doubles with each death (``[supervisor] restart_backoff_s`` up to ``restart_backoff_max_s``)
and starts over once the child has run ``healthy_after_s``. Meanwhile the other child keeps
running: while the core is away the bridge answers 503 ``core_unavailable``, and a restarted
bridge finds the running core. A child that dies ``crash_loop_deaths`` times within
``crash_loop_window_s`` is a crash loop: `serve` stops the other one and exits 1, naming the
child and its last exit status. On SIGINT/SIGTERM the bridge stops first (it stops accepting and
drains its open requests), then the core; `serve` then exits 0.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from types import FrameType

from inferline import Client
from inferline_core.config import SupervisorConfig

log = logging.getLogger("inferline.serve")

TICK_S = 0.2
# How long a child may take to stop after SIGTERM beyond its drain time, before SIGKILL.
STOP_GRACE_S = 10.0


def core_command(args: Sequence[str]) -> list[str]:
    """The command line of ``inferline core ARGS`` in this Python."""
    return [sys.executable, "-m", "inferline_core.cli", "core", *args]


def exit_status(code: int) -> str:
    """A child's exit code in words: ``exit status 1`` or ``killed by SIGKILL``."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class CrashLoop(Exception):
    """A child kept dying; the message names it and its last exit status."""


class Child:
    """One supervised process: how to start it, and when to restart it after it dies."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        policy: SupervisorConfig,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self._command = list(command)
        self._env = dict(env) if env is not None else None
        self._policy = policy
        self.process: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._delay = policy.restart_backoff_s
        self._restart_at: float | None = None
        self._deaths: deque[float] = deque()

    def start(self) -> None:
        """Start the process (again)."""
        self.process = subprocess.Popen(self._command, env=self._env)
        self._started, self._restart_at = time.monotonic(), None
        log.info("started the %s (pid %d)", self.name, self.process.pid)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tend(self, now: float) -> None:
        """Notice a death and schedule the restart, or restart when it is due; CrashLoop when
        the child has died too often."""
        process = self.process
        if process is None:
            return
        code = process.poll()
        if code is None:
            if now - self._started >= self._policy.healthy_after_s:
                self._delay = self._policy.restart_backoff_s
            return
        if self._restart_at is None:
            self._died(now, code)
        elif now >= self._restart_at:
            self.start()

    def _died(self, now: float, code: int) -> None:
        policy = self._policy
        self._deaths.append(now)
        while self._deaths and now - self._deaths[0] > policy.crash_loop_window_s:
            self._deaths.popleft()
        status = exit_status(code)
        if len(self._deaths) >= policy.crash_loop_deaths:
            raise CrashLoop(
                f"the {self.name} died {len(self._deaths)} times within "
                f"{policy.crash_loop_window_s:g} s (last: {status}); giving up"
            )
        log.error("the %s died (%s); restarting it in %.1f s", self.name, status, self._delay)
        self._restart_at = now + self._delay
        self._delay = min(self._delay * 2, policy.restart_backoff_max_s)

    def stop(self, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the %s did not stop in %.0f s; killing it", self.name, timeout)
            process.kill()
            process.wait()


def supervise(
    core: Child,
    bridge: Child | None,
    health: Client,
    policy: SupervisorConfig,
    drain_seconds: float,
) -> int:
    """Run both children (the core alone when ``bridge`` is None: [api] enabled = false)
    until a signal (exit 0), a crash loop or a core that never becomes healthy (exit 1)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    core.start()
    healthy = False
    deadline = time.monotonic() + policy.core_start_timeout_s
    try:
        with health:
            while not stop.is_set():
                now = time.monotonic()
                core.tend(now)
                if not healthy:
                    if core.running and health.health(timeout=1.0):
                        healthy = True
                    elif now > deadline:
                        log.error(
                            "the core did not become healthy in %.0f s",
                            policy.core_start_timeout_s,
                        )
                        return 1
                if bridge is not None:
                    if healthy and bridge.process is None:
                        bridge.start()
                    bridge.tend(now)
                stop.wait(TICK_S)
        return 0
    except CrashLoop as error:
        log.error("%s", error)
        return 1
    finally:
        if bridge is not None:
            bridge.stop(drain_seconds + STOP_GRACE_S)
        core.stop(drain_seconds + STOP_GRACE_S)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
