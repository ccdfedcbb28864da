"""ImageService over real gRPC with a tiny random Stable Diffusion pipeline made by the test
session and loaded through diffusers' from_pretrained."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

import inferline
from inferline_core.config import ModelConfig
from tests.integration.core_server import running_core


@pytest.fixture(scope="module")
async def client(tiny_diffusion: Path) -> AsyncIterator[inferline.AsyncClient]:
    models = {"tiny-sd": ModelConfig(path=str(tiny_diffusion), type="image", backend="diffusers")}
    async with (
        running_core(models, default_embedding_model=False, default_speech_models=False) as (
            _,
            address,
        ),
        inferline.AsyncClient(address) as sdk,
    ):
        yield sdk


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_png_of_the_requested_size_and_seeds(client: inferline.AsyncClient) -> None:
    params = {"width": 64, "height": 96, "steps": 2, "seed": 7, "n": 2}
    first = await client.generate_image("a red cat", **params)
    assert first.model == "tiny-sd" and len(first.images) == 2
    assert [i.seed for i in first.images] == [7, 8]
    picture = _image(first.images[0].image.data)
    assert picture.format == "PNG" and picture.size == (64, 96)
    again = await client.generate_image("a red cat", **params)
    assert again.images[0].image.data == first.images[0].image.data
    other = await client.generate_image("a red cat", **{**params, "seed": 8})
    assert other.images[0].image.data != first.images[0].image.data


async def test_edit_keeps_the_input_size_and_masks(client: inferline.AsyncClient) -> None:
    source = io.BytesIO()
    Image.new("RGB", (72, 64), (200, 30, 30)).save(source, format="PNG")
    edited = await client.edit_image(source.getvalue(), "a blue cat", steps=4, strength=0.5, seed=1)
    assert _image(edited.images[0].image.data).size == (72, 64)
    mask = io.BytesIO()
    Image.new("L", (72, 64), 255).save(mask, format="PNG")
    inpainted = await client.edit_image(
        source.getvalue(), "a dog", mask=mask.getvalue(), steps=2, strength=1.0
    )
    assert _image(inpainted.images[0].image.data).size == (72, 64)


async def test_stream_reports_every_step(client: inferline.AsyncClient) -> None:
    chunks = [
        c
        async for c in client.generate_image_stream("a boat", steps=3, width=64, height=64, seed=1)
    ]
    progress = [(c.progress.step, c.progress.total_steps) for c in chunks if c.HasField("progress")]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert chunks[-1].HasField("final") and len(chunks[-1].final.images) == 1


async def test_cancelled_request_stops_before_its_last_step(client: inferline.AsyncClient) -> None:
    stream = client.generate_image_stream("a long one", steps=150, width=256, height=256, seed=1)
    steps = 0
    async for chunk in stream:
        if chunk.HasField("progress"):
            steps = chunk.progress.step
            if steps == 2:
                stream.cancel()
                break
    await asyncio.sleep(0.2)
    started = asyncio.get_running_loop().time()
    quick = await client.generate_image("quick", steps=1, width=64, height=64)
    assert quick.images  # the model was free again: the cancelled job stopped between steps
    assert asyncio.get_running_loop().time() - started < 10


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"width": 100}, "size"),
        ({"width": 32}, "size"),
        ({"steps": 500}, "steps"),
        ({"n": 11}, "n"),
        ({"scheduler": "nonesuch"}, "scheduler"),
        ({"guidance_scale": 99.0}, "guidance_scale"),
    ],
)
async def test_bad_generation_requests(
    client: inferline.AsyncClient, kwargs: dict[str, object], param: str
) -> None:
    with pytest.raises(inferline.InvalidArgumentError) as raised:
        await client.generate_image("x", **kwargs)  # type: ignore[arg-type]
    assert raised.value.param == param


async def test_bad_edits(client: inferline.AsyncClient) -> None:
    with pytest.raises(inferline.InvalidArgumentError) as raised:
        await client.edit_image(b"not an image", "x")
    assert raised.value.param == "image"
    with pytest.raises(inferline.InvalidArgumentError) as raised:
        await client.edit_image(b"", "x")
    assert raised.value.param == "image"
