"""Run `inferline serve` as a real subprocess on free loopback ports, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Served:
    """A running `inferline serve`: where to reach it and its process."""

    base_url: str
    grpc_address: str
    process: subprocess.Popen[bytes]
    log: Path


class Exited(RuntimeError):
    """A server process ended before it answered its health check."""


def wait_for_health(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float, name: str
) -> None:
    """Wait until GET ``url`` answers 200; Exited if ``process`` ends first, TimeoutError if
    ``timeout`` seconds pass. Both carry ``log``, the process's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Exited(f"{name} exited early ({process.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{name} did not become healthy:\n{log.read_text()}")


def wait_healthy(served: Served, timeout: float) -> None:
    wait_for_health(
        served.base_url + "/health", served.process, served.log, timeout, "inferline serve"
    )


def stop(served: Served, timeout: float = 30) -> int:
    """Send SIGINT (Ctrl-C) and wait for the supervisor to stop both children."""
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGINT)
    try:
        return served.process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(served.process.pid, signal.SIGKILL)
        raise


def launch(args: list[str], workdir: Path) -> Served:
    """Start `inferline serve ARGS` on free ports, without waiting for it."""
    port, grpc_port = free_port(), free_port()
    log = workdir / f"serve-{port}.log"
    command = [
        *(sys.executable, "-m", "inferline_core.cli", "serve", *args),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--grpc-address", f"127.0.0.1:{grpc_port}"),
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Served(f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}", process, log)


@contextmanager
def serve(args: list[str], workdir: Path, *, timeout: float = 120) -> Iterator[Served]:
    """Start `inferline serve ARGS` on free ports and yield it once /health answers 200."""
    served = launch(args, workdir)
    try:
        wait_healthy(served, timeout)
        yield served
    finally:
        stop(served)


def child_pid(served: Served, name: str) -> int:
    """The pid of the supervisor's ``core`` or ``bridge`` child (Linux /proc)."""
    pid = served.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        # python -m inferline_core.cli core ..., python -m inferline_bridge
        words = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        if words[2:4] == [b"inferline_core.cli", b"core"] and name == "core":
            return int(child)
        if words[2:3] == [b"inferline_bridge"] and name == "bridge":
            return int(child)
    raise LookupError(f"serve (pid {pid}) has no {name} child now: {children}")
