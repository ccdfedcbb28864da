"""The model store: models pulled from a Hugging Face-compatible hub (``inferline_core.hub``),
kept under the store folder as ``hub/OWNER/REPO/FILE``, and how their ids map to files.

A ``.part`` left by a pull that never came back (a cancelled pull, a core that died) is deleted
by the next pull once ``PART_TTL_S`` old; a younger one is resumed.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

MODEL_SUFFIXES = (".gguf", ".onnx")
# An owner's or a repository's name, as the hub spells them.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
PART_TTL_S = 24 * 3600.0


class PullError(Exception):
    """The pull failed; the message says why."""


@dataclass(frozen=True)
class StoredModel:
    """A model file in the store and its id."""

    id: str
    path: Path
    size: int


def split_reference(reference: str) -> tuple[str, str | None]:
    """``OWNER/REPO[:FILE]`` as (repository, file or None); names that would lead out of the
    store (``..``, absolute paths) are refused."""
    repository, _, file = reference.partition(":")
    parts = repository.split("/")
    if len(parts) != 2 or not all(_NAME.match(part) and ".." not in part for part in parts):
        raise PullError(f"{reference!r} is not OWNER/REPO or OWNER/REPO:FILE")
    if file:
        inside_repository(file)
    return repository, file or None


def inside_repository(path: str) -> str:
    """``path`` when it names a file inside a repository folder: relative, without ``.`` or
    ``..`` steps or backslashes; else PullError. Every path written to the store passes here."""
    steps = path.split("/")
    if path.startswith("/") or "\\" in path or any(s in ("", ".", "..") for s in steps):
        raise PullError(f"{path!r} is not a file path inside the repository; refused")
    return path


class Store:
    """The store folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hub = root / "hub"

    def folder(self, repository: str) -> Path:
        return self.hub / repository

    def models(self) -> list[StoredModel]:
        """Every stored model file, with its id: ``OWNER/REPO`` when the repository holds one
        model file, else ``OWNER/REPO:FILE``."""
        found: list[StoredModel] = []
        for repo in sorted(p for p in self.hub.glob("*/*") if p.is_dir()):
            files = sorted(f for f in repo.rglob("*") if f.is_file() and f.suffix in MODEL_SUFFIXES)
            name = repo.relative_to(self.hub).as_posix()
            for file in files:
                model_id = (
                    name if len(files) == 1 else f"{name}:{file.relative_to(repo).as_posix()}"
                )
                found.append(StoredModel(model_id, file, file.stat().st_size))
        return found

    def find(self, model_id: str) -> StoredModel | None:
        """The stored model with this id (``OWNER/REPO`` also finds a repository's only file)."""
        return next((m for m in self.models() if m.id == model_id), None)

    def sweep_parts(self, max_age_s: float = PART_TTL_S) -> list[Path]:
        """Delete unfinished downloads (``.part``) untouched for ``max_age_s``; return them."""
        cutoff = time.time() - max_age_s
        swept = []
        for part in self.hub.rglob("*.part") if self.hub.is_dir() else ():
            try:
                if part.is_file() and part.stat().st_mtime < cutoff:
                    part.unlink()
                    swept.append(part)
            except FileNotFoundError:
                continue
        return swept

    def remove(self, model_id: str) -> StoredModel:
        """Delete a stored model (and its repository folder once empty of models)."""
        model = self.find(model_id)
        if model is None:
            raise KeyError(model_id)
        model.path.unlink()
        repo = self.folder(model_id.partition(":")[0])
        if not any(f.suffix in MODEL_SUFFIXES for f in repo.rglob("*") if f.is_file()):
            shutil.rmtree(repo, ignore_errors=True)
        return model
