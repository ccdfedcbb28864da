"""Vision chat over real gRPC: the tiny chat model with a tiny projector, through llama.cpp's
multimodal (mtmd) path."""

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


def png(size: tuple[int, int] = (40, 30), color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
async def client(
    tiny_chat_gguf: Path, tiny_projector: Path
) -> AsyncIterator[inferline.AsyncClient]:
    models = {
        "tiny-vision": ModelConfig(
            path=str(tiny_chat_gguf), type="vision", mmproj=str(tiny_projector), context_length=1024
        ),
        "tiny-chat": ModelConfig(path=str(tiny_chat_gguf), context_length=1024),
    }
    async with (
        # Flash attention off: answers are compared between the two models, and with it on
        # llama.cpp rounds a row with where its KV cells lie.
        running_core(
            models,
            default_embedding_model=False,
            default_speech_models=False,
            flash_attention="off",
        ) as (_, address),
        inferline.AsyncClient(address) as sdk,
    ):
        yield sdk


def _ask(*images: bytes) -> list[dict[str, object]]:
    parts: list[object] = [{"type": "text", "text": "What is in the picture?"}]
    parts += [{"type": "image", "data": image, "mime_type": "image/png"} for image in images]
    return [{"role": "user", "content": parts}]


async def test_images_add_their_tokens_to_the_prompt(client: inferline.AsyncClient) -> None:
    plain = await client.chat(model="tiny-vision", messages=_ask(), max_tokens=3)
    one = await client.chat(model="tiny-vision", messages=_ask(png()), max_tokens=3)
    two = await client.chat(model="tiny-vision", messages=_ask(png(), png((28, 28))), max_tokens=3)
    assert one.usage.completion_tokens == 3
    # Each image is 4 tokens (28x28 in 14-px patches); the text around it may split differently.
    assert one.usage.prompt_tokens - plain.usage.prompt_tokens >= 4
    assert two.usage.prompt_tokens - one.usage.prompt_tokens >= 4
    # A text request after an image one is not served from the image's cache.
    again = await client.chat(model="tiny-vision", messages=_ask(), max_tokens=3, temperature=0)
    first = await client.chat(model="tiny-chat", messages=_ask(), max_tokens=3, temperature=0)
    assert again.choices[0].message.content[0].text == first.choices[0].message.content[0].text


async def test_streaming_with_an_image(client: inferline.AsyncClient) -> None:
    deltas, final = 0, None
    async for chunk in client.chat_stream(model="tiny-vision", messages=_ask(png()), max_tokens=4):
        if chunk.HasField("delta"):
            deltas += 1
        else:
            final = chunk.final
    assert deltas >= 1 and final is not None and final.usage.completion_tokens == 4


async def test_refusals(client: inferline.AsyncClient) -> None:
    with pytest.raises(inferline.InvalidArgumentError, match="does not accept images"):
        await client.chat(model="tiny-chat", messages=_ask(png()), max_tokens=2)
    garbage = b"\x89PNG\r\n\x1a\n" + b"garbage" * 100
    with pytest.raises(inferline.InvalidArgumentError, match="could not be decoded"):
        await client.chat(model="tiny-vision", messages=_ask(garbage), max_tokens=2)
    reply = await client.chat(model="tiny-vision", messages=_ask(png()), max_tokens=2)
    assert reply.usage.completion_tokens == 2  # still serving


async def test_image_requests_batch_with_text_ones(client: inferline.AsyncClient) -> None:
    """Vision requests share the batched engine's decode steps: side by side with others,
    greedy answers equal the ones they get alone (the tiny model is exact under batching)."""
    greedy = {"max_tokens": 6, "temperature": 0}
    alone = await client.chat(model="tiny-vision", messages=_ask(png()), **greedy)
    text_alone = await client.chat(model="tiny-vision", messages=_ask(), **greedy)
    together = await asyncio.gather(
        client.chat(model="tiny-vision", messages=_ask(png()), **greedy),
        client.chat(model="tiny-vision", messages=_ask(), **greedy),
        client.chat(model="tiny-vision", messages=_ask(png()), **greedy),
    )
    texts = [reply.choices[0].message.content[0].text for reply in together]
    expected = [
        alone.choices[0].message.content[0].text,
        text_alone.choices[0].message.content[0].text,
    ]
    assert texts == [expected[0], expected[1], expected[0]]
    assert [r.usage.prompt_tokens for r in together] == [
        alone.usage.prompt_tokens,
        text_alone.usage.prompt_tokens,
        alone.usage.prompt_tokens,
    ]
