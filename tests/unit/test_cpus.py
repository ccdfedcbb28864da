"""How many threads a model computes on by default: the physical cores this process may run on
(as llama.cpp counts them), at most its cgroup's CPU quota."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inferline_core.config.schema import CoreConfig
from inferline_core.cpus import cpu_quota, default_threads, physical_cores

PINNED = """
import os
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from inferline_core.config.schema import CoreConfig
print(CoreConfig().thread_count)
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux CPU affinity")
def test_a_process_pinned_to_one_cpu_computes_on_one_thread() -> None:
    # taskset, docker --cpuset-cpus and Kubernetes' static CPU manager all pin this way.
    done = subprocess.run(
        [sys.executable, "-c", PINNED], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "1"


def test_a_configured_thread_count_wins() -> None:
    assert CoreConfig(threads=7).thread_count == 7


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _topology(root: Path, siblings: dict[int, str]) -> Path:
    for cpu, shared in siblings.items():
        topology = root / "devices" / "system" / "cpu" / f"cpu{cpu}" / "topology"
        _write(topology / "thread_siblings_list", shared + "\n")
    return root


def test_hyperthreads_of_one_core_count_once(tmp_path: Path) -> None:
    sys_root = _topology(tmp_path, {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"})
    assert physical_cores({0, 1, 2, 3}, sys_root) == 2
    assert physical_cores({0, 2}, sys_root) == 1  # both threads of core 0
    assert physical_cores({0, 1}, sys_root) == 2


def test_without_topology_every_allowed_cpu_counts(tmp_path: Path) -> None:
    assert physical_cores({0, 1, 5}, tmp_path) == 3


def test_cgroup_v2_quota_is_the_tightest_on_the_way_up(tmp_path: Path) -> None:
    membership = tmp_path / "self-cgroup"
    membership.write_text("0::/kubepods/pod1/core\n")
    root = tmp_path / "cgroup"
    _write(root / "kubepods" / "pod1" / "core" / "cpu.max", "max 100000\n")
    _write(root / "kubepods" / "pod1" / "cpu.max", "250000 100000\n")
    _write(root / "kubepods" / "cpu.max", "800000 100000\n")
    assert cpu_quota(membership, root) == 2.5


def test_cgroup_v2_without_a_limit(tmp_path: Path) -> None:
    membership = tmp_path / "self-cgroup"
    membership.write_text("0::/\n")
    _write(tmp_path / "cgroup" / "cpu.max", "max 100000\n")
    assert cpu_quota(membership, tmp_path / "cgroup") is None


def test_cgroup_v1_container_sees_its_own_cgroup_at_the_mount(tmp_path: Path) -> None:
    # Without a cgroup namespace the path names the host's hierarchy, which the container's
    # mount does not hold: the mount's root is the container's own cgroup.
    membership = tmp_path / "self-cgroup"
    membership.write_text("5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n")
    root = tmp_path / "cgroup"
    _write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "150000\n")
    _write(root / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    assert cpu_quota(membership, root) == 1.5


def test_cgroup_v1_found_through_the_cpu_link(tmp_path: Path) -> None:
    membership = tmp_path / "self-cgroup"
    membership.write_text("3:cpuacct,cpu:/user.slice\n")
    root = tmp_path / "cgroup"
    _write(root / "cpu" / "user.slice" / "cpu.cfs_quota_us", "400000\n")
    _write(root / "cpu" / "user.slice" / "cpu.cfs_period_us", "100000\n")
    assert cpu_quota(membership, root) == 4


def test_cgroup_v1_unlimited(tmp_path: Path) -> None:
    membership = tmp_path / "self-cgroup"
    membership.write_text("1:cpu:/\n")
    _write(tmp_path / "cgroup" / "cpu" / "cpu.cfs_quota_us", "-1\n")
    _write(tmp_path / "cgroup" / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert cpu_quota(membership, tmp_path / "cgroup") is None


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path / "absent", tmp_path) is None


def test_default_is_cores_capped_by_the_quota(tmp_path: Path) -> None:
    sys_root = _topology(tmp_path / "sys", {n: str(n) for n in range(8)})
    membership = tmp_path / "self-cgroup"
    membership.write_text("0::/\n")
    cgroup = tmp_path / "cgroup"
    _write(cgroup / "cpu.max", "max 100000\n")
    assert default_threads(set(range(8)), sys_root, membership, cgroup) == 8
    _write(cgroup / "cpu.max", "300000 100000\n")
    assert default_threads(set(range(8)), sys_root, membership, cgroup) == 3
    _write(cgroup / "cpu.max", "150000 100000\n")  # 1.5 CPUs: two threads do more than one
    assert default_threads(set(range(8)), sys_root, membership, cgroup) == 2
    _write(cgroup / "cpu.max", "50000 100000\n")  # half a CPU still computes on one thread
    assert default_threads(set(range(8)), sys_root, membership, cgroup) == 1
