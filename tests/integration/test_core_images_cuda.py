"""ImageService on a CUDA GPU: the pipeline runs there in float16 and paints real pictures.
Skipped where torch sees no GPU (CI); run with the rest of the suite on a GPU machine (it
passed on an H200, torch 2.11 with CUDA 13, 2026-12-04)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image, ImageStat

import inferline
from inferline_core.config import ModelConfig
from inferline_core.server import CoreServer
from tests.integration.core_server import QUIET, running_core

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(scope="module")
async def core(tiny_diffusion: Path) -> AsyncIterator[tuple[CoreServer, inferline.AsyncClient]]:
    models = {"tiny-sd": ModelConfig(path=str(tiny_diffusion), type="image", backend="diffusers")}
    async with (
        running_core(models, device="auto", **QUIET) as (server, address),
        inferline.AsyncClient(address) as sdk,
    ):
        yield server, sdk


async def test_pictures_in_float16_on_the_gpu(
    core: tuple[CoreServer, inferline.AsyncClient],
) -> None:
    server, client = core
    first = await client.generate_image("a red cat", width=64, height=64, steps=4, seed=3)
    assert server.registry.entry("tiny-sd").engine.placement == "cuda float16"  # type: ignore[union-attr]
    picture = Image.open(io.BytesIO(first.images[0].image.data))
    assert picture.format == "PNG" and picture.size == (64, 64)
    # float16 overflow shows as NaN latents, which diffusers paints black: a picture has detail.
    assert max(ImageStat.Stat(picture.convert("L")).stddev) > 1.0
    again = await client.generate_image("a red cat", width=64, height=64, steps=4, seed=3)
    assert again.images[0].image.data == first.images[0].image.data
