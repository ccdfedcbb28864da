"""`inferline serve` with ``INFERLINE_CORE_STREAM_INTERVAL=4``, read with the openai SDK: the
stream's chunks carry several tokens each, and what they add up to is the whole answer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import openai
import pytest

from tests.e2e.serve import serve

HI = [{"role": "user", "content": "Say hi"}]


@pytest.fixture(scope="module")
def client(
    tiny_chat_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[openai.OpenAI]:
    workdir = tmp_path_factory.mktemp("serve-interval")
    config = workdir / "config.toml"
    config.write_text(  # flash attention off: a stream is compared with the same answer whole
        '[core]\nflash_attention = "off"\ndefault_embedding_model = false\n'
        "default_speech_models = false\n"
        f'[api.models.tiny]\npath = "{tiny_chat_gguf}"\ncontext_length = 512\n'
    )
    with (
        mock.patch.dict(os.environ, {"INFERLINE_CORE_STREAM_INTERVAL": "4"}),
        serve(["--config", str(config)], workdir) as served,
    ):
        yield openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)


def test_chunks_carry_four_tokens_and_add_up_to_the_answer(client: openai.OpenAI) -> None:
    asked = {"model": "tiny", "messages": HI, "max_tokens": 14, "temperature": 0, "logprobs": True}
    whole = client.chat.completions.create(**asked)
    stream = client.chat.completions.create(
        **asked, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 14
    deltas = [c.choices[0] for c in chunks if c.choices]
    counted = [len(d.logprobs.content or []) for d in deltas if d.logprobs]
    # The first alone, then four at a time; a pause of the machine may send a group early.
    assert counted[0] == 1 and max(counted) == 4 and sum(counted) == 14
    assert "".join(d.delta.content or "" for d in deltas) == whole.choices[0].message.content
    assert deltas[-1].finish_reason == "length"
    assert whole.choices[0].logprobs is not None
    tokens = [t.token for d in deltas if d.logprobs for t in d.logprobs.content or []]
    assert tokens == [t.token for t in whole.choices[0].logprobs.content or []]
