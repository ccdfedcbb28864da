"""/v1/responses over a real core (tiny GGUF), through Litestar's test client: the SSE
framing on the wire, and the kept responses' bounds in count and time."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

from inferline_bridge.app import create_app
from inferline_bridge.settings import BridgeSettings, launch
from inferline_core.bridge_launch import settings_document
from inferline_core.config import ModelConfig, load_config
from tests.integration.core_server import threaded_core


@pytest.fixture(scope="module")
def core(tiny_chat_gguf: Path, tiny_projector: Path) -> Iterator[str]:
    models = {
        "tiny": ModelConfig(path=str(tiny_chat_gguf), context_length=512),
        "tiny-vision": ModelConfig(
            path=str(tiny_chat_gguf), type="vision", mmproj=str(tiny_projector), context_length=512
        ),
    }
    with threaded_core(models) as address:
        yield address


def _app(core: str, **settings: Any) -> Any:
    return create_app(BridgeSettings(core_address=core, **settings))


async def _create(http: AsyncTestClient[Any], **body: Any) -> Any:
    body = {"model": "tiny", "input": "hi", "max_output_tokens": 2, **body}
    return await http.post("/v1/responses", json=body)


def _png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 90)).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


async def test_input_image_reaches_a_vision_model(core: str) -> None:
    text = {"type": "input_text", "text": "Describe it."}
    image = {"type": "input_image", "image_url": _png(), "detail": "auto"}
    async with AsyncTestClient(_app(core)) as http:
        seen = await _create(
            http, model="tiny-vision", input=[{"role": "user", "content": [text, image]}]
        )
        plain = await _create(
            http, model="tiny-vision", input=[{"role": "user", "content": [text]}]
        )
        blind = await _create(http, input=[{"role": "user", "content": [text, image]}])
        by_id = await _create(
            http,
            model="tiny-vision",
            input=[{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}],
        )
    assert seen.status_code == plain.status_code == 200, seen.text
    # The projector turns the image into 4 tokens of the prompt.
    assert seen.json()["usage"]["input_tokens"] >= plain.json()["usage"]["input_tokens"] + 4
    assert blind.status_code == 400  # a model without a projector takes no images
    assert by_id.status_code == 400 and by_id.json()["error"]["param"] == "input[0].content[0]"


async def test_stream_names_every_event_and_sends_no_done(core: str) -> None:
    async with AsyncTestClient(_app(core)) as http:
        response = await _create(http, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = [block for block in response.text.split("\n\n") if block]
    assert "[DONE]" not in response.text
    for block in blocks:
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        assert json.loads(data_line.removeprefix("data: "))["type"] == event_line[7:]
    assert blocks[-1].startswith("event: response.incomplete")


async def test_kept_responses_are_bounded_in_count(core: str) -> None:
    async with AsyncTestClient(_app(core, responses_max_stored=2)) as http:
        ids = [(await _create(http)).json()["id"] for _ in range(3)]
        assert (await http.get(f"/v1/responses/{ids[0]}")).status_code == 404
        for kept in ids[1:]:
            assert (await http.get(f"/v1/responses/{kept}")).json()["id"] == kept
        gone = await _create(http, previous_response_id=ids[0])
        assert gone.status_code == 400
        assert gone.json()["error"]["code"] == "previous_response_not_found"


async def test_kept_responses_expire(core: str) -> None:
    async with AsyncTestClient(_app(core, responses_ttl_s=0.5)) as http:
        first = (await _create(http)).json()["id"]
        assert (await _create(http, previous_response_id=first)).status_code == 200
        await asyncio.sleep(1.0)
        missing = await http.get(f"/v1/responses/{first}")
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == f"Response with id '{first}' not found."


async def test_kept_response_is_not_replayed_as_a_stream(core: str) -> None:
    async with AsyncTestClient(_app(core)) as http:
        first = (await _create(http)).json()
        assert (await http.get(f"/v1/responses/{first['id']}")).json() == first
        replay = await http.get(f"/v1/responses/{first['id']}", params={"stream": "true"})
        assert replay.status_code == 400 and replay.json()["error"]["param"] == "stream"


async def test_nothing_kept_when_turned_off(core: str) -> None:
    async with AsyncTestClient(_app(core, responses_max_stored=0)) as http:
        first = (await _create(http)).json()["id"]
        assert (await http.get(f"/v1/responses/{first}")).status_code == 404
        assert (await http.delete(f"/v1/responses/{first}")).status_code == 404


def test_store_bounds_come_from_the_api_table(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[api]\nresponses_max_stored = 7\nresponses_ttl_s = 90\n")
    document = settings_document(load_config(config, environ={}), "127.0.0.1:1", "127.0.0.1", 1)
    settings = launch(document).settings
    assert (settings.responses_max_stored, settings.responses_ttl_s) == (7, 90)
    defaults = launch(settings_document(load_config(None, environ={}), "a:1", "b", 1)).settings
    assert (defaults.responses_max_stored, defaults.responses_ttl_s) == (1000, 3600)
