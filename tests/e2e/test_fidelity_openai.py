"""Fields the official openai SDK sends that must mean on inferline what they mean on OpenAI:
n with a seed, max_tokens 0 with echo and logprobs, modalities, DELETE /v1/models/{id}, and
Nexa's completions shape."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from tests.e2e.conftest import MODEL
from tests.e2e.serve import Served, serve
from tests.fixtures.hub import Hub, running_hub

PROMPT = "the quick brown fox jumps over the lazy dog"


def test_n_with_seed_gives_distinct_repeatable_choices(client: openai.OpenAI) -> None:
    def texts() -> list[str]:
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Tell me something"}],
            max_tokens=16,
            n=3,
            seed=1234,
            temperature=1.5,
        )
        return [choice.message.content or "" for choice in reply.choices]

    first = texts()
    assert len(set(first)) == 3  # each choice draws from its own seed (seed + index)
    assert texts() == first  # and the same seed gives the same choices again


def test_completion_n_with_seed_gives_distinct_choices(client: openai.OpenAI) -> None:
    reply = client.completions.create(
        model=MODEL, prompt=PROMPT, max_tokens=16, n=2, seed=99, temperature=1.5
    )
    assert len({choice.text for choice in reply.choices}) == 2


def test_echo_with_max_tokens_zero_scores_the_prompt(client: openai.OpenAI) -> None:
    """lm-evaluation-harness' loglikelihood call: the prompt back with its tokens' logprobs."""
    reply = client.completions.create(
        model=MODEL, prompt=PROMPT, max_tokens=0, echo=True, logprobs=2, temperature=0
    )
    choice = reply.choices[0]
    assert choice.text == PROMPT
    assert choice.finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 0
    logprobs = choice.logprobs
    assert logprobs is not None and logprobs.tokens and logprobs.token_logprobs
    assert "".join(logprobs.tokens).strip() == PROMPT
    assert len(logprobs.token_logprobs) == len(logprobs.tokens) == reply.usage.prompt_tokens - 1
    assert all(lp is not None and lp <= 0 for lp in logprobs.token_logprobs)
    assert logprobs.top_logprobs is not None
    assert all(len(top) == 2 for top in logprobs.top_logprobs)
    assert logprobs.text_offset is not None and logprobs.text_offset[0] == 0


def test_prompt_logprobs_match_generation(client: openai.OpenAI) -> None:
    """A token's logprob when scored in an echoed prompt equals its logprob when generated."""
    made = client.completions.create(
        model=MODEL, prompt=PROMPT, max_tokens=1, logprobs=1, temperature=0
    )
    generated = made.choices[0].logprobs
    assert generated is not None and generated.token_logprobs and generated.tokens
    echoed = client.completions.create(
        model=MODEL, prompt=PROMPT, max_tokens=1, echo=True, logprobs=1, temperature=0
    )
    logprobs = echoed.choices[0].logprobs
    assert logprobs is not None and logprobs.token_logprobs and logprobs.tokens
    assert echoed.choices[0].text == PROMPT + made.choices[0].text
    # The echoed prompt's tokens come first, then the generated one, scored alike.
    assert logprobs.tokens[-1] == generated.tokens[0]
    assert math.isclose(logprobs.token_logprobs[-1], generated.token_logprobs[0], abs_tol=1e-4)


def test_echo_without_logprobs_and_streamed_echo(client: openai.OpenAI) -> None:
    plain = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=3, echo=True)
    assert plain.choices[0].text.startswith(PROMPT)
    assert plain.choices[0].logprobs is None
    chunks = list(
        client.completions.create(
            model=MODEL, prompt=PROMPT, max_tokens=0, echo=True, logprobs=0, stream=True
        )
    )
    text = "".join(choice.text for chunk in chunks for choice in chunk.choices)
    assert text == PROMPT
    scored = [c.choices[0].logprobs for c in chunks if c.choices and c.choices[0].logprobs]
    assert scored and scored[0].token_logprobs


def test_chat_refuses_max_tokens_zero(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=0
        )
    assert raised.value.param == "max_tokens"


def test_modalities_text_is_accepted_and_audio_refused(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=3,
        modalities=["text"],
    )
    assert reply.usage is not None and reply.usage.completion_tokens == 3
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=3,
            modalities=["text", "audio"],
        )
    assert raised.value.param == "modalities"


def test_nexa_completion_gets_result_beside_openai_fields(served: Served) -> None:
    """Nexa's client reads ``result``; OpenAI's fields stay for OpenAI clients."""
    nexa = httpx.post(
        served.base_url + "/v1/completions",
        json={"prompt": PROMPT, "max_new_tokens": 4, "stop_words": ["\x00"], "temperature": 0},
        timeout=60,
    ).json()
    assert nexa["result"] == nexa["choices"][0]["text"] and nexa["result"]
    assert nexa["object"] == "text_completion"
    assert nexa["usage"]["completion_tokens"] == 4
    plain = httpx.post(
        served.base_url + "/v1/completions",
        json={"model": MODEL, "prompt": PROMPT, "max_tokens": 4},
        timeout=60,
    ).json()
    assert "result" not in plain


def test_delete_model_removes_a_pulled_model(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    repos = {"tester/tiny": {"tiny.gguf": tiny_chat_gguf.read_bytes()}}
    with running_hub(Hub(repos)) as hub:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[core]\nmodel_store = "{tmp_path / "store"}"\nhub_endpoint = "{hub.url}"\n'
            "default_embedding_model = false\ndefault_speech_models = false\n"
        )
        with serve(["tester/tiny", "-hf", "--config", str(config)], tmp_path) as running:
            sdk = openai.OpenAI(base_url=running.base_url + "/v1", api_key="x", max_retries=0)
            assert [m.id for m in sdk.models.list().data] == ["tester/tiny"]
            with pytest.raises(openai.NotFoundError):
                sdk.models.delete("tester/never-pulled")
            deleted = sdk.models.delete("tester/tiny")
            assert (deleted.id, deleted.object, deleted.deleted) == ("tester/tiny", "model", True)
            assert sdk.models.list().data == []
            with pytest.raises(openai.NotFoundError):
                sdk.models.retrieve("tester/tiny")
    assert not list((tmp_path / "store").rglob("*.gguf"))


def test_unset_sampling_follows_openai_defaults(client: openai.OpenAI) -> None:
    """Unset: temperature 1, top_p 1, no top-k or min-p (OpenAI's), not llama.cpp's."""

    def text(**extra: object) -> str:
        reply = client.completions.create(
            model=MODEL,
            prompt=PROMPT,
            max_tokens=24,
            seed=5,
            **extra,  # type: ignore[call-overload]
        )
        return str(reply.choices[0].text)

    unset = text()
    assert unset == text(temperature=1, top_p=1, extra_body={"top_k": 0, "min_p": 0})
    llama_cpp = {"temperature": 0.8, "top_p": 0.95, "extra_body": {"top_k": 40, "min_p": 0.05}}
    assert unset != text(**llama_cpp)


STRICT_TOOL: dict[str, object] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "strict": True,
        "parameters": {
            "type": "object",
            # Bounded, so that the random model's string closes within max_tokens.
            "properties": {"city": {"type": "string", "maxLength": 12}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def test_strict_tools_are_enforced_when_forced_and_refused_in_auto(client: openai.OpenAI) -> None:
    hi = [{"role": "user", "content": "weather?"}]
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model=MODEL,
            messages=hi,  # type: ignore[arg-type]
            tools=[STRICT_TOOL],  # type: ignore[list-item]
            max_tokens=40,
        )
    assert raised.value.param == "tools[0].function.strict"
    forced = client.chat.completions.create(
        model=MODEL,
        messages=hi,  # type: ignore[arg-type]
        tools=[STRICT_TOOL],  # type: ignore[list-item]
        tool_choice="required",
        max_tokens=200,
        seed=1,
    )
    assert forced.choices[0].finish_reason == "tool_calls"
    calls = forced.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert set(json.loads(calls[0].function.arguments)) == {"city"}  # type: ignore[union-attr]


def test_image_detail_is_checked(client: openai.OpenAI) -> None:
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    part = {"type": "image_url", "image_url": {"url": url, "detail": "x"}}
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": [part]}],  # type: ignore[list-item]
            max_tokens=2,
        )
    assert raised.value.param == "messages[0].content[0].image_url.detail"
