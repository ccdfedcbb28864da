"""Images answered as ``url``: written to the output folder under random names and served back
until they expire. Nothing is written anywhere else; names are checked before any lookup."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpeg|webp)$")
ROUTE = "/v1/images/files"
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class ImageFiles:
    """The output folder, with expiry."""

    def __init__(self, folder: Path, ttl_s: int) -> None:
        self._folder = folder
        self._ttl = ttl_s

    def save(self, data: bytes, mime_type: str = "image/png") -> str:
        """Store an image (PNG, JPEG or WebP); return its file name."""
        self._folder.mkdir(parents=True, exist_ok=True)
        self.prune()
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

    def prune(self) -> None:
        """Delete expired images."""
        cutoff = time.time() - self._ttl
        for path in self._folder.glob("*.*"):
            if _NAME.match(path.name) and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
