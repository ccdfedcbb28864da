"""Tools, structured output and every sampling parameter, through the openai SDK against
`inferline serve` with the tiny GGUF (random weights: only grammars make its output parse)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import llama_cpp
import openai
import pytest

from tests.e2e.conftest import MODEL
from tests.e2e.serve import Served

ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 12}, "unit": {"enum": ["c", "f"]}},
    "required": ["city", "unit"],
}
TIME_SCHEMA = {
    "type": "object",
    "properties": {"zone": {"enum": ["utc", "cet"]}, "seconds": {"type": "boolean"}},
    "required": ["zone", "seconds"],
}
TOOLS: Any = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}},
    {"type": "function", "function": {"name": "get_time", "parameters": TIME_SCHEMA}},
]
SCHEMAS = {"get_weather": WEATHER_SCHEMA, "get_time": TIME_SCHEMA}
NAMED: Any = {"type": "function", "function": {"name": "get_weather"}}


def _create(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model=MODEL, messages=kwargs.pop("messages", ASK), **kwargs
    )


def test_named_tool_call_validates(client: openai.OpenAI) -> None:
    reply = _create(client, tools=TOOLS, tool_choice=NAMED, max_tokens=200, seed=1)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_")
    assert call.type == "function"
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_SCHEMA)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_required_tool_call_validates_against_its_tool(client: openai.OpenAI, seed: int) -> None:
    reply = _create(client, tools=TOOLS, tool_choice="required", max_tokens=200, seed=seed)
    (call,) = reply.choices[0].message.tool_calls
    jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
    assert reply.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("tool_choice", [NAMED, "required"])
def test_streamed_tool_call_reassembles(client: openai.OpenAI, tool_choice: Any) -> None:
    args = {"tools": TOOLS, "tool_choice": tool_choice, "max_tokens": 200, "temperature": 0}
    whole = _create(client, **args).choices[0].message.tool_calls[0]
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in _create(client, stream=True, **args):
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or ():
            if delta.id:  # the first fragment names the call, as OpenAI's do
                assert delta.type == "function" and delta.function and delta.function.name
                calls[delta.index] = {"name": delta.function.name, "arguments": ""}
            else:
                assert delta.function and delta.function.name is None
            calls[delta.index]["arguments"] += (delta.function and delta.function.arguments) or ""
    assert finish == "tool_calls"
    assert calls == {0: {"name": whole.function.name, "arguments": whole.function.arguments}}


def test_tool_history_is_accepted(client: openai.OpenAI) -> None:
    history: Any = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city": "Paris", "unit": "c"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 21}'},
    ]
    reply = _create(client, messages=history, tools=TOOLS, tool_choice="none", max_tokens=4)
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content


def test_json_schema_and_json_object_answers(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "size": {"enum": ["s", "m", "l"]}},
        "required": ["ok", "size"],
        "additionalProperties": False,
    }
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema},
    }
    reply = _create(client, response_format=response_format, max_tokens=100, seed=4)
    jsonschema.validate(json.loads(reply.choices[0].message.content), schema)
    loose = _create(client, response_format={"type": "json_object"}, max_tokens=200, seed=5)
    if loose.choices[0].finish_reason == "stop":  # a random model may ramble past max_tokens
        assert isinstance(json.loads(loose.choices[0].message.content), dict)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"type": "integer", "multipleOf": 3}},
                }
            },
            "response_format",
        ),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "f",
                            "parameters": {"type": "object", "patternProperties": {"a": {}}},
                        },
                    }
                ],
                "tool_choice": "required",
            },
            "tools",
        ),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice",
        ),
        ({"tools": TOOLS, "response_format": {"type": "json_object"}}, "response_format"),
        ({"logprobs": False, "top_logprobs": 2}, "top_logprobs"),
    ],
)
def test_unsupported_combinations_are_400(client: openai.OpenAI, kwargs: Any, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        _create(client, max_tokens=4, **kwargs)
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == param
    assert raised.value.body["message"]


def test_n_gives_that_many_choices(client: openai.OpenAI) -> None:
    reply = _create(client, n=2, max_tokens=5)
    assert sorted(c.index for c in reply.choices) == [0, 1]
    assert reply.usage is not None and reply.usage.completion_tokens == 10


def test_logprobs_shape_and_count(client: openai.OpenAI) -> None:
    reply = _create(client, logprobs=True, top_logprobs=3, max_tokens=6, seed=7)
    content = reply.choices[0].logprobs.content
    assert len(content) == 6
    assert "".join(item.token for item in content) == reply.choices[0].message.content
    for item in content:
        assert item.logprob <= 0
        assert bytes(item.bytes or []).decode() == item.token
        assert len(item.top_logprobs) == 3
        assert item.top_logprobs[0].logprob >= item.top_logprobs[-1].logprob
    streamed = [
        item
        for chunk in _create(
            client, logprobs=True, top_logprobs=1, max_tokens=6, seed=7, stream=True
        )
        if chunk.choices and chunk.choices[0].logprobs
        for item in chunk.choices[0].logprobs.content or ()
    ]
    assert [item.token for item in streamed] == [item.token for item in content]


def test_completion_logprobs_legacy_shape(client: openai.OpenAI) -> None:
    reply = client.completions.create(model=MODEL, prompt="the", max_tokens=4, logprobs=2, seed=3)
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and len(logprobs.tokens or []) == 4
    assert "".join(logprobs.tokens or []) == reply.choices[0].text
    assert all(len(top) <= 2 for top in logprobs.top_logprobs or [])
    assert logprobs.text_offset == [
        sum(len(t) for t in (logprobs.tokens or [])[:i]) for i in range(4)
    ]


def test_same_seed_same_output(client: openai.OpenAI) -> None:
    texts = {
        _create(client, temperature=1.0, seed=42, max_tokens=12).choices[0].message.content
        for _ in range(3)
    }
    assert len(texts) == 1


def test_logit_bias_keeps_a_token_out(client: openai.OpenAI, tiny_chat_gguf: Path) -> None:
    greedy = _create(client, temperature=0, logprobs=True, max_tokens=1)
    banned = greedy.choices[0].logprobs.content[0].token
    vocab = llama_cpp.Llama(model_path=str(tiny_chat_gguf), vocab_only=True, verbose=False)
    pieces = {vocab.detokenize([i]).decode(errors="replace"): i for i in range(vocab.n_vocab())}
    vocab.close()
    token_id = pieces[banned]
    reply = _create(
        client, temperature=0, logprobs=True, max_tokens=20, logit_bias={str(token_id): -100}
    )
    assert banned not in [item.token for item in reply.choices[0].logprobs.content]


NEXA_BODY = {
    "messages": [{"role": "user", "content": "Extract Jason is 25 years old"}],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "UserDetail",
                "parameters": {
                    "properties": {
                        "name": {
                            "description": "The user's name",
                            "type": "string",
                            "maxLength": 16,
                        },
                        "age": {"description": "The user's age", "type": "integer"},
                    },
                    "required": ["name", "age"],
                    "type": "object",
                },
            },
        }
    ],
    "tool_choice": "auto",
}


def test_nexa_function_calling_shape(served: Served) -> None:
    url = served.base_url + "/v1/function-calling"
    auto = httpx.post(url, json={**NEXA_BODY, "max_tokens": 16}, timeout=60).json()
    assert auto["object"] == "chat.completion"
    assert auto["choices"][0]["message"]["role"] == "assistant"
    assert auto["choices"][0]["finish_reason"] in {"stop", "length", "tool_calls"}
    forced = httpx.post(
        url, json={**NEXA_BODY, "tool_choice": "required", "max_tokens": 120}, timeout=60
    )
    message = forced.json()["choices"][0]["message"]
    (call,) = message["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "UserDetail"
    assert message["function_call"] == call["function"]
    assert message["content"] is None
    if forced.json()["choices"][0]["finish_reason"] == "tool_calls":
        jsonschema.validate(
            json.loads(call["function"]["arguments"]),
            NEXA_BODY["tools"][0]["function"]["parameters"],
        )  # type: ignore[index]
    missing = httpx.post(url, json={"messages": NEXA_BODY["messages"]}, timeout=60)
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "tools"


def test_streamed_completion_logprobs_offsets(client: openai.OpenAI) -> None:
    offsets: list[int] = []
    tokens: list[str] = []
    text = ""
    for chunk in client.completions.create(
        model=MODEL, prompt="the", max_tokens=5, logprobs=1, seed=3, stream=True
    ):
        choice = chunk.choices[0]
        text += choice.text
        if choice.logprobs:
            offsets += choice.logprobs.text_offset or []
            tokens += choice.logprobs.tokens or []
    assert "".join(tokens) == text and len(tokens) == 5
    assert offsets == [sum(len(t) for t in tokens[:i]) for i in range(5)]
