"""How many threads a model computes on when ``[core] threads`` is not set.

llama.cpp's own default is the machine's physical cores: a hyperthread shares its core's
arithmetic units, and decoding waits on memory, so a second thread per core adds nothing but
contention. Here two more things count: the CPUs this process may run on (taskset, docker
``--cpuset-cpus``, Kubernetes' static CPU manager) and its cgroup's CPU quota (docker
``--cpus``, a Kubernetes CPU limit). llama.cpp's threads wait for each other at every step, so
one more thread than the CPUs it gets stalls them all; and the gRPC replies and the bridge need
a CPU too. Measured on 2 cores (Gemma 3 270M, REST, tokens/s at one and four streams): under a
1-CPU quota 2 threads ran 19.1 and 42.0, 1 thread 23.9 and 48.7; under 1.5 CPUs 2 threads ran
30.7 and 69.0, 1 thread 25.7 and 51.5, so a fractional quota rounds up.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

SYS = Path("/sys")
CGROUP_MEMBERSHIP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def allowed_cpus() -> set[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return set(range(os.cpu_count() or 1))


def physical_cores(cpus: set[int], sys_root: Path = SYS) -> int:
    """How many physical cores ``cpus`` lie on: CPUs that share a core (its hyperthreads) count
    once; a CPU whose topology is unknown counts by itself."""
    cores = set()
    for cpu in cpus:
        siblings = sys_root / "devices" / "system" / "cpu" / f"cpu{cpu}" / "topology"
        try:
            cores.add((siblings / "thread_siblings_list").read_text().strip())
        except OSError:
            cores.add(f"cpu{cpu}")
    return len(cores)


def _ancestors(mount: Path, path: str) -> list[Path]:
    """``mount/path`` and each folder above it up to ``mount``."""
    parts = [part for part in path.split("/") if part]
    return [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def cpu_quota(membership: Path = CGROUP_MEMBERSHIP, root: Path = CGROUP_ROOT) -> float | None:
    """The CPUs' worth of time this process's cgroup (and every cgroup above it) allows, the
    tightest of them; None without a limit. Reads cgroup v2's ``cpu.max`` and v1's CFS quota.

    A cgroup folder that is not there is skipped: a container without a cgroup namespace
    reads the host's path, and its mount's root is its own cgroup."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    quotas: list[float] = []
    for line in lines:  # "hierarchy-id:controllers:path"; cgroup v2's is "0::path"
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            folders, read = _ancestors(root, path), _v2_quota
        elif "cpu" in controllers.split(","):
            # Mounted as "cpu,cpuacct" (or "cpuacct,cpu"), with a "cpu" link where systemd runs.
            mount = root / "cpu" if (root / "cpu").is_dir() else root / controllers
            folders, read = _ancestors(mount, path), _v1_quota
        else:
            continue
        quotas.extend(quota for quota in map(read, folders) if quota is not None)
    return min(quotas, default=None)


def default_threads(
    cpus: set[int] | None = None,
    sys_root: Path = SYS,
    membership: Path = CGROUP_MEMBERSHIP,
    cgroup_root: Path = CGROUP_ROOT,
) -> int:
    """Threads per model: the physical cores of the CPUs this process may use, at most its
    CPU quota rounded up, at least 1."""
    cores = physical_cores(allowed_cpus() if cpus is None else cpus, sys_root)
    quota = cpu_quota(membership, cgroup_root)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)
