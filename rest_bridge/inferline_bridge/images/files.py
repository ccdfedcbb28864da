"""Images answered as ``url``: written to the output folder under random names and served back
until they expire. Nothing is written anywhere else; names are checked before any lookup.

The folder is bounded: at most ``max_files`` images and ``max_bytes`` bytes (the oldest go
first when a new one would pass either), and expired images are deleted by ``sweep_forever``
on a timer as well as whenever an image is saved.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpeg|webp)$")
ROUTE = "/v1/images/files"
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
SWEEP_MAX_S = 60.0  # the sweeper runs at least this often (more often for short TTLs)


class ImageFiles:
    """The output folder, with expiry and caps."""

    def __init__(
        self, folder: Path, ttl_s: int, *, max_files: int = 1000, max_bytes: int = 1 << 30
    ) -> None:
        self._folder = folder
        self._ttl = ttl_s
        self._max_files = max_files
        self._max_bytes = max_bytes

    def save(self, data: bytes, mime_type: str = "image/png") -> str:
        """Store an image (PNG, JPEG or WebP); return its file name. Expired images go, then
        the oldest until the new one fits the caps."""
        self._folder.mkdir(parents=True, exist_ok=True)
        self.prune(room_for=len(data))
        suffix = mime_type.removeprefix("image/")
        name = f"{uuid.uuid4().hex}.{suffix if suffix in MEDIA_TYPES else 'png'}"
        (self._folder / name).write_bytes(data)
        return name

    def path(self, name: str) -> Path | None:
        """The stored file called ``name``, unless the name is foreign or the file expired."""
        if not _NAME.match(name):
            return None
        path = self._folder / name
        if not path.is_file() or path.stat().st_mtime + self._ttl < time.time():
            return None
        return path

    def _stored(self) -> list[tuple[float, int, Path]]:
        """Our images (modified time, size, path), oldest first."""
        found = []
        for path in self._folder.glob("*.*"):
            if _NAME.match(path.name):
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                found.append((stat.st_mtime, stat.st_size, path))
        return sorted(found)

    def prune(self, room_for: int | None = None) -> None:
        """Delete expired images; with ``room_for`` (a new image's bytes), also the oldest
        until one more image of that size fits the caps."""
        if not self._folder.is_dir():
            return
        cutoff = time.time() - self._ttl
        kept = []
        for mtime, size, path in self._stored():
            if mtime < cutoff:
                path.unlink(missing_ok=True)
            else:
                kept.append((size, path))
        if room_for is None:
            return
        total = sum(size for size, _ in kept)
        while kept and (len(kept) + 1 > self._max_files or total + room_for > self._max_bytes):
            size, path = kept.pop(0)
            path.unlink(missing_ok=True)
            total -= size

    async def sweep_forever(self) -> None:
        """Delete expired images on a timer (the bridge's lifespan runs this)."""
        interval = max(1.0, min(SWEEP_MAX_S, self._ttl / 2))
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.prune)
            except OSError:
                log.exception("sweeping the image output folder failed; trying again later")
