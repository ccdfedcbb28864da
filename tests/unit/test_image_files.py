"""The image output folder: capped in files and bytes (the oldest go first), expired images
deleted by the timer as well as on save."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from inferline_bridge.images.files import ImageFiles


def _age(folder: Path, name: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(folder / name, (then, then))


def test_the_file_cap_deletes_the_oldest(tmp_path: Path) -> None:
    files = ImageFiles(tmp_path, ttl_s=3600, max_files=3)
    names = []
    for n in range(5):
        names.append(files.save(b"x" * 10))
        _age(tmp_path, names[-1], 100 - n)  # each older than the next
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])
    assert files.path(names[0]) is None and files.path(names[4]) is not None


def test_the_byte_cap_deletes_the_oldest(tmp_path: Path) -> None:
    files = ImageFiles(tmp_path, ttl_s=3600, max_bytes=250)
    first = files.save(b"a" * 100)
    _age(tmp_path, first, 10)
    second = files.save(b"b" * 100)
    _age(tmp_path, second, 5)
    third = files.save(b"c" * 100)  # 300 bytes would pass the cap: the oldest goes
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([second, third])
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 250


def test_other_files_in_the_folder_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    files = ImageFiles(tmp_path, ttl_s=1, max_files=1)
    old = files.save(b"x")
    _age(tmp_path, old, 60)
    files.save(b"y")
    assert (tmp_path / "notes.txt").read_text() == "mine"


async def test_the_sweeper_deletes_expired_images_without_a_new_save(tmp_path: Path) -> None:
    files = ImageFiles(tmp_path, ttl_s=2)
    name = files.save(b"x")
    fresh = files.save(b"y")
    _age(tmp_path, name, 60)
    sweeper = asyncio.get_running_loop().create_task(files.sweep_forever())
    try:
        async with asyncio.timeout(10):
            while (tmp_path / name).exists():  # noqa: ASYNC110 (a folder has no event)
                await asyncio.sleep(0.1)
    finally:
        sweeper.cancel()
    assert (tmp_path / fresh).exists()
