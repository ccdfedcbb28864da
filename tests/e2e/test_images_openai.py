"""Image endpoints on `inferline serve` with a tiny random Stable Diffusion pipeline: OpenAI's
generations and edits through the openai SDK, Nexa's txt2img / img2img, stored URLs."""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from inferline_bridge.images.files import ImageFiles
from tests.e2e.serve import Served, serve

FAST: Any = {"steps": 2, "seed": 3}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="module")
def painted(tiny_diffusion: Path, tiny_chat_gguf: Path, workdir: Path) -> Iterator[Served]:
    allowed = workdir / "allowed"
    allowed.mkdir()
    config = workdir / "config.toml"
    config.write_text(
        f'[api]\noutput_folder = "{workdir / "outputs"}"\nimage_folders = ["{allowed}"]\n'
        "[core]\ndefault_embedding_model = false\ndefault_speech_models = false\n"
        f'[api.models.tiny-sd]\npath = "{tiny_diffusion}"\ntype = "image"\nbackend = "diffusers"\n'
        f'[api.models.tiny-chat]\npath = "{tiny_chat_gguf}"\n'
    )
    with serve(["--config", str(config)], workdir) as running:
        yield running


@pytest.fixture(scope="module")
def sdk(painted: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=painted.base_url + "/v1", api_key="unused", max_retries=0)


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


def _source(
    size: tuple[int, int] = (72, 64), mode: str = "RGB", color: Any = (200, 40, 40)
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format="PNG")
    return out.getvalue()


def test_generate_b64_of_the_size_asked_and_seeds(sdk: openai.OpenAI) -> None:
    def make(seed: int) -> bytes:
        result = sdk.images.generate(
            prompt="a red boat",
            size="64x96",
            response_format="b64_json",
            extra_body={**FAST, "seed": seed},
        )
        return base64.b64decode(result.data[0].b64_json or "")

    first = make(3)
    assert _png(first).size == (64, 96)
    assert make(3) == first
    assert make(4) != first


def test_url_answers_download_and_stay_in_the_output_folder(
    sdk: openai.OpenAI, workdir: Path
) -> None:
    result = sdk.images.generate(prompt="a cat", size="64x64", n=2, extra_body=FAST)
    assert len(result.data) == 2
    for item in result.data:
        assert item.url and "/v1/images/files/" in item.url
        assert _png(httpx.get(item.url).content).size == (64, 64)
    outputs = workdir / "outputs"
    assert len(list(outputs.glob("*.png"))) >= 2
    ours = {workdir / "elsewhere.png", *(workdir / "allowed").glob("*")}  # the tests' own files
    assert all(p.parent == outputs for p in set(workdir.rglob("*.png")) - ours)


def test_edit_keeps_the_input_size(sdk: openai.OpenAI) -> None:
    edited = sdk.images.edit(
        image=("in.png", _source(), "image/png"),
        prompt="a blue boat",
        response_format="b64_json",
        extra_body={"steps": 4, "strength": 0.5, "seed": 1},
    )
    assert _png(base64.b64decode(edited.data[0].b64_json or "")).size == (72, 64)
    masked = sdk.images.edit(
        image=("in.png", _source(), "image/png"),
        mask=("mask.png", _source(mode="L", color=255), "image/png"),
        prompt="a dog",
        response_format="b64_json",
        extra_body={"steps": 2, "strength": 1.0},
    )
    assert _png(base64.b64decode(masked.data[0].b64_json or "")).size == (72, 64)


def test_nexa_txt2img_and_img2img(painted: Served, workdir: Path) -> None:
    body = {
        "prompt": "a girl in a field",
        "image_path": "",
        "cfg_scale": 7,
        "width": 64,
        "height": 64,
        "sample_steps": 2,
        "seed": 0,
        "negative_prompt": "",
    }
    stored = sorted((workdir / "outputs").glob("*.*"))
    answer = httpx.post(painted.base_url + "/v1/txt2img", json=body, timeout=60).json()
    assert isinstance(answer["created"], float)
    item = answer["data"][0]
    assert _png(base64.b64decode(item["base64"])).size == (64, 64)
    assert set(item) == {"base64"}  # answered inline: nothing is written to the output folder
    assert sorted((workdir / "outputs").glob("*.*")) == stored
    inside = workdir / "allowed" / "photo.png"
    inside.write_bytes(_source((64, 80)))
    edited = httpx.post(
        painted.base_url + "/v1/img2img",
        json={**body, "image_path": str(inside), "sample_steps": 4},
        timeout=60,
    )
    # width and height are honoured: the 64x80 photo comes back at the 64x64 asked for.
    assert _png(base64.b64decode(edited.json()["data"][0]["base64"])).size == (64, 64)
    outside = workdir / "elsewhere.png"
    outside.write_bytes(_source())
    for path in (str(outside), str(workdir / "allowed" / ".." / "elsewhere.png"), "/etc/passwd"):
        refused = httpx.post(painted.base_url + "/v1/img2img", json={**body, "image_path": path})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "image_path"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"size": "huge"}, "size"),
        ({"size": "100x100"}, "size"),
        ({"steps": 500}, "steps"),
        ({"n": 20}, "n"),
        ({"quality": "hd"}, "quality"),
        ({"model": "tiny-chat"}, "model"),
    ],
)
def test_bad_generations_are_400(painted: Served, body: dict[str, Any], param: str) -> None:
    response = httpx.post(
        painted.base_url + "/v1/images/generations",
        json={"prompt": "x", **FAST, **body},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_bad_edits_are_400(painted: Served) -> None:
    files = {"image": ("in.png", b"not a picture", "image/png")}
    response = httpx.post(
        painted.base_url + "/v1/images/edits", files=files, data={"prompt": "x"}, timeout=60
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "image"
    missing = httpx.post(painted.base_url + "/v1/images/edits", files={"prompt": (None, "x")})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "image"
    assert httpx.get(painted.base_url + "/v1/images/files/..%2Fconfig.toml").status_code == 404
    assert httpx.get(painted.base_url + "/v1/images/files/" + "0" * 32 + ".png").status_code == 404


def test_stored_images_expire(tmp_path: Path) -> None:
    files = ImageFiles(tmp_path, ttl_s=60)
    name = files.save(b"\x89PNG fake")
    assert files.path(name) is not None
    old = time.time() - 120
    os.utime(tmp_path / name, (old, old))
    assert files.path(name) is None
    files.prune()
    assert not list(tmp_path.iterdir())
    assert files.path("../" + name) is None


def _decoded(result: Any) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json or "")))
    image.load()
    return image


def test_output_format_jpeg_and_webp(sdk: openai.OpenAI, painted: Served) -> None:
    for output_format, kind in (("jpeg", "JPEG"), ("webp", "WEBP")):
        result = sdk.images.generate(
            prompt="a red boat",
            size="64x64",
            response_format="b64_json",
            output_format=output_format,  # type: ignore[arg-type]
            output_compression=80,
            extra_body=FAST,
        )
        assert _decoded(result).format == kind
    url = sdk.images.generate(prompt="a boat", size="64x64", output_format="jpeg", extra_body=FAST)
    stored = httpx.get(url.data[0].url or "")
    assert stored.headers["content-type"] == "image/jpeg" and stored.content[:2] == b"\xff\xd8"
    edited = sdk.images.edit(
        image=("in.png", _source(), "image/png"),
        prompt="a boat",
        response_format="b64_json",
        output_format="webp",
        extra_body={"steps": 2, "strength": 1.0},
    )
    assert _decoded(edited).format == "WEBP"


def test_transparent_mask_area_is_edited_and_only_it(sdk: openai.OpenAI) -> None:
    """OpenAI's masks: transparent pixels may change, opaque ones stay."""
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 32, 64))  # the left half is transparent: edit it
    out = io.BytesIO()
    mask.save(out, format="PNG")
    result = sdk.images.edit(
        image=("in.png", _source((64, 64)), "image/png"),
        mask=("mask.png", out.getvalue(), "image/png"),
        prompt="a dog",
        response_format="b64_json",
        extra_body={"steps": 2, "strength": 1.0, "seed": 5},
    )
    image = _decoded(result).convert("RGB")
    red = (200, 40, 40)
    left = [image.getpixel((x, y)) for x in range(32) for y in range(64)]
    right = [image.getpixel((x, y)) for x in range(32, 64) for y in range(64)]
    assert all(pixel == red for pixel in right)
    assert sum(pixel != red for pixel in left) > len(left) // 2


def test_edit_size_and_nexa_img2img_size_are_honoured(
    sdk: openai.OpenAI, painted: Served, workdir: Path
) -> None:
    edited = sdk.images.edit(
        image=("in.png", _source(), "image/png"),
        prompt="a boat",
        size="96x64",  # type: ignore[arg-type]
        response_format="b64_json",
        extra_body={"steps": 2, "strength": 1.0},
    )
    assert _decoded(edited).size == (96, 64)
    photo = workdir / "allowed" / "sized.png"
    photo.write_bytes(_source((64, 80)))
    body = {"prompt": "a field", "image_path": str(photo), "width": 96, "height": 72}
    nexa = httpx.post(
        painted.base_url + "/v1/img2img", json={**body, "sample_steps": 2}, timeout=60
    ).json()
    assert _png(base64.b64decode(nexa["data"][0]["base64"])).size == (96, 72)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"style": "vivid"}, "style"),
        ({"quality": "hd"}, "quality"),
        ({"stream": "true"}, "stream"),
        ({"background": "transparent"}, "background"),
        ({"output_format": "gif"}, "output_format"),
        ({"output_compression": "50"}, "output_compression"),
    ],
)
def test_edit_fields_not_served_are_400(
    painted: Served, fields: dict[str, str], param: str
) -> None:
    response = httpx.post(
        painted.base_url + "/v1/images/edits",
        files={"image": ("in.png", _source(), "image/png")},
        data={"prompt": "x", "steps": "2", **fields},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_several_images_in_an_edit_are_400(painted: Served) -> None:
    response = httpx.post(
        painted.base_url + "/v1/images/edits",
        files=[
            ("image[]", ("a.png", _source(), "image/png")),
            ("image[]", ("b.png", _source(), "image/png")),
        ],
        data={"prompt": "x"},
        timeout=60,
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "image[]"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"stream": True}, "stream"),
        ({"background": "transparent"}, "background"),
        ({"output_compression": 50}, "output_compression"),
        ({"partial_images": 2}, "partial_images"),
    ],
)
def test_generation_fields_not_served_are_400(
    painted: Served, body: dict[str, Any], param: str
) -> None:
    response = httpx.post(
        painted.base_url + "/v1/images/generations",
        json={"prompt": "x", **FAST, **body},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_scheduler_is_honoured_on_edits(painted: Served) -> None:
    response = httpx.post(
        painted.base_url + "/v1/images/edits",
        files={"image": ("in.png", _source(), "image/png")},
        data={"prompt": "x", "steps": "2", "strength": "1.0", "scheduler": "no-such"},
        timeout=60,
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "scheduler"


def test_without_a_mask_the_images_transparent_area_is_edited(sdk: openai.OpenAI) -> None:
    """OpenAI: with no mask, the image's own transparency says where to edit."""
    source = Image.new("RGBA", (64, 64), (200, 40, 40, 255))
    source.paste((200, 40, 40, 0), (0, 0, 64, 32))  # the top half is transparent
    out = io.BytesIO()
    source.save(out, format="PNG")
    result = sdk.images.edit(
        image=("in.png", out.getvalue(), "image/png"),
        prompt="a dog",
        response_format="b64_json",
        extra_body={"steps": 2, "strength": 1.0, "seed": 5},
    )
    image = _decoded(result).convert("RGB")
    red = (200, 40, 40)
    top = [image.getpixel((x, y)) for x in range(64) for y in range(32)]
    bottom = [image.getpixel((x, y)) for x in range(64) for y in range(32, 64)]
    assert all(pixel == red for pixel in bottom)
    assert sum(pixel != red for pixel in top) > len(top) // 2
