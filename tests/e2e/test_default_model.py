"""The real default model (Gemma 3 270M from PyPI) behind `inferline serve` with no model named."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import jsonschema
import openai
import pytest

from inferline_core.config import CHAT_MODEL_SUGGESTION
from tests.e2e.serve import Served, serve

pytestmark = pytest.mark.default_model


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("default")
    config = workdir / "config.toml"
    config.write_text(f'[core]\nmodel_store = "{workdir / "store"}"\n')
    with serve(["--config", str(config)], workdir) as running:
        yield running


@pytest.fixture(scope="module")
def client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)


def test_default_model_answers_chat(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=24,
        temperature=0,
    )
    assert reply.model == "gemma-3-270m"
    # Margin: greedy Gemma runs to max_tokens here (24 of 24); only the text's presence is checked.
    assert reply.choices[0].message.content
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 24


def test_serve_says_the_default_is_a_base_model(served: Served) -> None:
    log = served.log.read_text()
    assert "Gemma 3 270M is a base model" in log
    assert f"inferline serve -hf {CHAT_MODEL_SUGGESTION}" in log


def test_default_model_is_listed(client: openai.OpenAI) -> None:
    assert "gemma-3-270m" in [m.id for m in client.models.list().data]


def test_abandoned_long_stream_stops_generation(client: openai.OpenAI) -> None:
    # ~60 tokens/s on 2 cores: 900 tokens would hold the model for ~15 s if the core kept going.
    stream = client.chat.completions.create(
        model="gemma-3-270m",
        messages=[{"role": "user", "content": "Tell a long story."}],
        max_tokens=900,
        stream=True,
        temperature=1.0,
        seed=1,
    )
    for seen, _chunk in enumerate(stream, start=1):
        if seen == 2:
            break
    stream.close()
    started = time.monotonic()
    reply = client.chat.completions.create(
        model="gemma-3-270m", messages=[{"role": "user", "content": "Hi"}], max_tokens=4
    )
    assert reply.choices[0].message.content is not None
    assert time.monotonic() - started < 8


USER_DETAIL = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "The user's name", "maxLength": 32},
        "age": {"type": "integer", "description": "The user's age"},
    },
    "required": ["name", "age"],
}


def test_default_model_forced_tool_call_validates(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemma-3-270m",
        messages=[{"role": "user", "content": "Extract: Jason is 25 years old."}],
        tools=[{"type": "function", "function": {"name": "UserDetail", "parameters": USER_DETAIL}}],
        tool_choice={"type": "function", "function": {"name": "UserDetail"}},
        max_tokens=60,
        temperature=0,
    )
    # Margin: the grammar closes the call after 14 of the 60 tokens (name is at most 32 chars).
    assert reply.choices[0].finish_reason == "tool_calls"
    (call,) = reply.choices[0].message.tool_calls or []
    jsonschema.validate(json.loads(call.function.arguments), USER_DETAIL)


def test_default_model_json_schema_answer_validates(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gemma-3-270m",
        messages=[{"role": "user", "content": "Describe Jason, who is 25, as JSON."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "UserDetail", "schema": USER_DETAIL},
        },
        max_tokens=60,
        temperature=0,
    )
    assert reply.choices[0].finish_reason == "stop"  # Margin: the object ends after 15 of 60 tokens
    jsonschema.validate(json.loads(reply.choices[0].message.content or ""), USER_DETAIL)


def test_default_model_answers_the_responses_api(client: openai.OpenAI) -> None:
    # The README's example: a response, then one that continues it by previous_response_id.
    first = client.responses.create(
        model="gemma-3-270m", input="Hello!", max_output_tokens=16, temperature=0
    )
    assert first.output_text and first.status in {"completed", "incomplete"}
    second = client.responses.create(
        model="gemma-3-270m",
        input="And again?",
        previous_response_id=first.id,
        max_output_tokens=16,
        temperature=0,
    )
    assert second.output_text
    assert second.usage is not None and first.usage is not None
    assert second.usage.input_tokens > first.usage.input_tokens + 3
