"""The supervisor's restart schedule on real short-lived processes: delays that double up to
the cap, a reset after a healthy run, and a crash loop that names the child and its status."""

from __future__ import annotations

import itertools
import time

import pytest

from inferline_core.config import SupervisorConfig
from inferline_core.supervisor import Child, CrashLoop


def _run(child: Child, limit_s: float = 30) -> tuple[list[float], str]:
    """Tend ``child`` until its crash loop; the times it was started, and the error."""
    starts: list[float] = []
    child.start()
    starts.append(time.monotonic())
    pid = child.process.pid if child.process else 0
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            child.tend(time.monotonic())
        except CrashLoop as error:
            return starts, str(error)
        if child.process is not None and child.process.pid != pid:
            pid = child.process.pid
            starts.append(time.monotonic())
        time.sleep(0.01)
    raise AssertionError("no crash loop")


def test_delays_double_up_to_the_cap_then_the_crash_loop_names_the_child() -> None:
    policy = SupervisorConfig(restart_backoff_s=0.1, restart_backoff_max_s=0.4, crash_loop_deaths=5)
    starts, error = _run(Child("worker", ["sh", "-c", "exit 3"], policy))
    assert len(starts) == 5
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    for gap, least in zip(gaps, [0.1, 0.2, 0.4, 0.4], strict=True):
        assert gap >= least  # lower bounds only: the machine may be slow, never fast
    assert gaps[3] < gaps[2] + 0.5  # capped: the fourth delay does not double again
    assert error == "the worker died 5 times within 120 s (last: exit status 3); giving up"


def test_a_healthy_run_resets_the_delay() -> None:
    policy = SupervisorConfig(
        restart_backoff_s=0.4, restart_backoff_max_s=10, healthy_after_s=0.3, crash_loop_deaths=4
    )
    starts, error = _run(Child("worker", ["sh", "-c", "sleep 0.5; exit 1"], policy))
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # Each run lasts 0.5 s (healthy after 0.3 s), so every restart waits the first 0.4 s:
    # gaps of about 0.9 s, where doubling delays would make the third 0.5 + 1.6 = 2.1 s.
    assert len(gaps) == 3
    assert all(gap < 1.7 for gap in gaps), gaps
    assert "died 4 times" in error


def test_deaths_outside_the_window_do_not_count() -> None:
    policy = SupervisorConfig(
        restart_backoff_s=0.05,
        restart_backoff_max_s=0.05,
        crash_loop_deaths=3,
        crash_loop_window_s=0.2,
    )
    child = Child("worker", ["sh", "-c", "sleep 0.3; exit 1"], policy)
    with pytest.raises(AssertionError, match="no crash loop"):
        _run(child, limit_s=2)
    if child.process is not None:
        child.stop(1)
