"""`inferline serve` as a subprocess with the tiny GGUF, driven by the official openai SDK."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.conftest import EMBEDDING_MODEL, MODEL
from tests.e2e.serve import Served, serve, stop


def test_chat_completion(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hi"}], max_tokens=12, temperature=0
    )
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-")
    assert reply.model == MODEL
    choice = reply.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason == "length"  # the tiny model never emits end-of-sequence
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 12
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 12


def test_chat_is_deterministic_at_temperature_zero(client: openai.OpenAI) -> None:
    texts = {
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Again"}],
            max_tokens=10,
            temperature=0,
        )
        .choices[0]
        .message.content
        for _ in range(2)
    }
    assert len(texts) == 1


def test_chat_stream_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count"}],
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["length"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 16
    assert all(c.usage is None for c in chunks[:-1])
    same = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Count"}], max_tokens=16, temperature=0
    )
    assert same.choices[0].message.content == text


def test_a_repeated_prompt_reports_cached_tokens(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Cache me: " + "one two three four " * 8}]
    ask = {"model": MODEL, "messages": messages, "max_tokens": 4, "temperature": 0}
    first = client.chat.completions.create(**ask)  # type: ignore[call-overload]
    again = client.chat.completions.create(**ask)  # type: ignore[call-overload]
    stream = client.chat.completions.create(
        **ask, stream=True, stream_options={"include_usage": True}
    )  # type: ignore[call-overload]
    usage = [first.usage, again.usage, list(stream)[-1].usage]
    details = [u.prompt_tokens_details for u in usage if u is not None]
    cached = [d.cached_tokens for d in details if d is not None]
    assert again.usage is not None and len(cached) == 3
    whole = again.usage.prompt_tokens - 1  # all but the last token, which must be evaluated
    assert cached[0] < whole  # at most the chat template's opening, shared with earlier tests
    assert cached[1:] == [whole, whole]


def test_raw_stream_ends_with_done(served: Served) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4,
        "stream": True,
    }
    with httpx.stream("POST", served.base_url + "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = [block for block in raw.split("\n\n") if block]
    assert all(block.startswith("data: ") for block in events)
    assert "event:" not in raw
    assert events[-1] == "data: [DONE]"
    for block in events[:-1]:
        json.loads(block.removeprefix("data: "))


def test_completion_and_stream(client: openai.OpenAI) -> None:
    reply = client.completions.create(model=MODEL, prompt="Once upon", max_tokens=8, temperature=0)
    assert reply.object == "text_completion"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 8
    streamed = "".join(
        chunk.choices[0].text
        for chunk in client.completions.create(
            model=MODEL, prompt="Once upon", max_tokens=8, temperature=0, stream=True
        )
        if chunk.choices
    )
    assert streamed == reply.choices[0].text


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    models = client.models.list().data
    # The named model, and the bundled embedding and speech models beside it.
    assert [m.id for m in models] == [EMBEDDING_MODEL, MODEL, "whisper-base", "whisper-tiny.en"]
    model = client.models.retrieve(MODEL)
    assert model.id == MODEL
    assert model.object == "model"
    assert (model.model_extra or {}).get("type") == "chat"


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["code"] == "model_not_found"
    assert "no-such-model" in error["message"]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_malformed_json_is_400(served: Served) -> None:
    response = httpx.post(
        served.base_url + "/v1/chat/completions",
        content=b'{"model": "x", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"


def test_wrong_type_names_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            temperature="hot",  # type: ignore[arg-type]
        )
    assert raised.value.status_code == 400
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == "temperature"


def test_abandoned_stream_leaves_server_responsive(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Go"}], max_tokens=400, stream=True
    )
    for seen, _chunk in enumerate(stream, start=1):
        if seen == 2:
            break
    stream.close()
    started = time.monotonic()
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    assert reply.choices[0].message.content
    assert time.monotonic() - started < 10


def test_ctrl_c_stops_core_and_bridge(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    with serve([str(tiny_chat_gguf), "--nctx", "256"], tmp_path) as running:
        assert httpx.get(running.base_url + "/health").json() == {"status": "ok"}
        assert stop(running) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(running.base_url + "/health", timeout=2)


def test_a_named_model_gets_no_base_model_note(served: Served) -> None:
    log = served.log.read_text()
    assert "inferline: REST on" in log and "base model" not in log
