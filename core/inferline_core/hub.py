"""Pulls from a Hugging Face-compatible hub into the model store (``inferline_core.store``).

A pull lists the repository (``/api/models/REPO/tree/REVISION``), downloads the file from
``/REPO/resolve/REVISION/FILE`` into ``FILE.part`` with ranged requests (so a dropped
connection resumes where it stopped), checks its sha256 when the hub lists one, and only then
moves it into place. An ONNX model brings the ``tokenizer.json`` beside it. Progress is
reported at most every ``PROGRESS_EVERY_S`` per file (and once when a file is complete), not
once per HTTP chunk.

The core imports this module at its first pull, so httpx stays out of a core that never pulls
(with rich, which only the store commands use, it was 4.7 MiB of the core's resident size).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx

from inferline_core.store import (
    MODEL_SUFFIXES,
    PullError,
    Store,
    StoredModel,
    inside_repository,
    split_reference,
)

RETRIES = 5
CHUNK = 1024 * 1024
PROGRESS_EVERY_S = 0.25

Progress = Callable[[str, int, int], None]  # file, completed bytes, total bytes


@dataclass(frozen=True)
class HubFile:
    """A file the hub lists: its path in the repository, size and sha256 (if known)."""

    path: str
    size: int
    sha256: str | None


async def list_files(client: httpx.AsyncClient, repository: str, revision: str) -> list[HubFile]:
    """The repository's files, as the hub lists them."""
    response = await client.get(
        f"/api/models/{repository}/tree/{revision}", params={"recursive": "true"}
    )
    if response.status_code == 404:
        raise PullError(f"the hub has no repository {repository!r} (revision {revision!r})")
    response.raise_for_status()
    files = []
    for item in response.json():
        if item.get("type") != "file":
            continue
        lfs = item.get("lfs") or {}
        path = inside_repository(str(item.get("path", "")))  # a hostile hub writes nowhere else
        files.append(HubFile(path, int(lfs.get("size", item.get("size", 0))), lfs.get("oid")))
    return files


def choose(files: list[HubFile], wanted: str | None, repository: str) -> list[HubFile]:
    """The files to pull: the one named (plus an ONNX model's tokenizer), or the only model
    file; several GGUFs prefer Q4_K_M."""
    by_path = {f.path: f for f in files}
    if wanted is not None:
        if wanted not in by_path:
            raise PullError(f"{repository} has no file {wanted!r}")
        chosen = by_path[wanted]
    else:
        models = [f for f in files if f.path.endswith(MODEL_SUFFIXES)]
        preferred = [f for f in models if "q4_k_m" in f.path.lower()]
        if len(models) == 1 or len(preferred) == 1:
            chosen = (preferred or models)[0]
        elif not models:
            raise PullError(f"{repository} holds no .gguf or .onnx file")
        else:
            listed = ", ".join(f.path for f in models)
            raise PullError(f"{repository} holds several models; name one with :FILE ({listed})")
    extra = []
    if chosen.path.endswith(".onnx"):
        tokenizer = str(PurePosixPath(chosen.path).with_name("tokenizer.json"))
        if tokenizer in by_path:
            extra.append(by_path[tokenizer])
    return [chosen, *extra]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


async def download(
    client: httpx.AsyncClient,
    repository: str,
    revision: str,
    file: HubFile,
    target: Path,
    progress: Progress,
) -> None:
    """Download one file to ``target``, resuming after dropped connections, then verify it."""
    part = target.with_name(target.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    url = f"/{repository}/resolve/{revision}/{file.path}"
    for attempt in range(RETRIES + 1):
        done = part.stat().st_size if part.exists() else 0
        reported = 0.0
        headers = {"Range": f"bytes={done}-"} if done else {}
        try:
            async with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 416:  # already complete
                    break
                response.raise_for_status()
                total = done + int(response.headers.get("content-length", 0))
                if response.status_code != 206:  # the hub ignored the range: start over
                    done, total = 0, int(response.headers.get("content-length", file.size))
                with part.open("ab" if done else "wb") as sink:
                    # Written as it arrives: a dropped connection loses nothing.
                    async for block in response.aiter_bytes():
                        sink.write(block)
                        done += len(block)
                        if time.monotonic() - reported >= PROGRESS_EVERY_S:
                            reported = time.monotonic()
                            progress(file.path, done, total or file.size)
                progress(file.path, done, total or file.size)
            if not file.size or done >= file.size:
                break
        except httpx.TransportError as error:
            if attempt == RETRIES:
                raise PullError(f"{file.path}: the download kept failing: {error}") from None
            await asyncio.sleep(min(2.0**attempt * 0.1, 5.0))
    if file.sha256:
        actual = await asyncio.to_thread(_sha256, part)
        if actual != file.sha256:
            part.unlink()
            raise PullError(
                f"{file.path}: sha256 mismatch (the hub lists {file.sha256}, got {actual}); "
                "the download was discarded"
            )
    part.replace(target)


async def pull(
    store: Store,
    reference: str,
    *,
    endpoint: str,
    revision: str = "main",
    progress: Progress = lambda file, done, total: None,
) -> StoredModel:
    """Pull ``OWNER/REPO[:FILE]`` into the store and return the stored model."""
    repository, wanted = split_reference(reference)
    await asyncio.to_thread(store.sweep_parts)
    async with httpx.AsyncClient(base_url=endpoint, follow_redirects=True, timeout=60) as client:
        files = choose(await list_files(client, repository, revision), wanted, repository)
        for file in files:
            target = store.folder(repository) / file.path
            if not target.resolve().is_relative_to(store.hub.resolve()):  # a symlink out, say
                raise PullError(f"{file.path!r} would be written outside the model store")
            if target.exists() and (not file.size or target.stat().st_size == file.size):
                progress(file.path, file.size, file.size)
                continue
            await download(client, repository, revision, file, target, progress)
    model_path = store.folder(repository) / files[0].path
    stored = next((m for m in store.models() if m.path == model_path), None)
    if stored is None:
        raise PullError(f"{files[0].path} was downloaded but is not a model file")
    return stored
