"""`inferline serve`: run the core and the bridge as two child processes and supervise them.

The core starts first; the bridge starts only once the core answers its health check, so the
REST port never accepts traffic it cannot serve. On SIGINT/SIGTERM the bridge stops first (its
in-flight HTTP requests drain), then the core. If either child dies, the other is stopped too.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

import grpc

from inferline import Client
from inferline_core import bridge_launch

log = logging.getLogger("inferline.serve")

CORE_START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 20.0


def _core(args: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "inferline_core.cli", "core", *args])


def _bridge(document: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(bridge_launch.COMMAND, env=bridge_launch.environment(document))


def _wait_core_healthy(
    core: subprocess.Popen[bytes], client: Client, stop: threading.Event
) -> bool:
    deadline = time.monotonic() + CORE_START_TIMEOUT_S
    with client:
        while time.monotonic() < deadline and not stop.is_set():
            if core.poll() is not None:
                return False
            if client.health(timeout=1.0):
                return True
            stop.wait(0.2)
    return False


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.warning("process %d did not stop in %.0f s; killing it", process.pid, STOP_TIMEOUT_S)
        process.kill()
        process.wait()


def supervise(
    core_args: Sequence[str],
    bridge_document: str,
    core_address: str,
    credentials: grpc.ChannelCredentials | None = None,
    token: str | None = None,
) -> int:
    """Run both children until a signal or a child's exit; return the exit status for `serve`."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    core = _core(core_args)
    bridge: subprocess.Popen[bytes] | None = None
    try:
        client = Client(core_address, api_key=token, credentials=credentials)
        if not _wait_core_healthy(core, client, stop):
            if stop.is_set():
                return 0
            log.error("the core did not become healthy at %s", core_address)
            return 1
        bridge = _bridge(bridge_document)
        while not stop.is_set():
            if core.poll() is not None or bridge.poll() is not None:
                log.error("a child process exited unexpectedly; stopping")
                return 1
            stop.wait(0.5)
        return 0
    finally:
        _terminate(bridge)
        _terminate(core)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
