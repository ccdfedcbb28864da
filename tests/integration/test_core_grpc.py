"""The core over real gRPC with the tiny GGUF: services, errors, health and reflection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import inferline
from inferline.v1 import common_pb2, image_service_pb2, image_service_pb2_grpc
from inferline_core.config import ModelConfig
from tests.integration.core_server import running_core


@pytest.fixture(scope="module")
async def core(tiny_chat_gguf: Path) -> AsyncIterator[str]:
    # Flash attention off: answers are compared between calls, and with it on llama.cpp rounds a
    # row with where its KV cells lie (the tiny model's logits nearly tie now and then).
    tiny = ModelConfig(path=str(tiny_chat_gguf), context_length=512, flash_attention="off")
    async with running_core({"tiny": tiny}) as (_, address):
        yield address


@pytest.fixture
async def client(core: str) -> AsyncIterator[inferline.AsyncClient]:
    async with inferline.AsyncClient(core) as sdk:
        yield sdk


HI = [{"role": "user", "content": "hi"}]


async def test_chat_counts_tokens_exactly(client: inferline.AsyncClient) -> None:
    reply = await client.chat(messages=HI, max_tokens=9, temperature=0)
    assert reply.model == "tiny"  # no model named: the default chat model
    assert reply.id.startswith("chatcmpl-")
    assert reply.choices[0].finish_reason == common_pb2.FINISH_REASON_LENGTH
    assert reply.usage.completion_tokens == 9
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 9 > 9


async def test_stream_has_deltas_then_one_final(client: inferline.AsyncClient) -> None:
    chunks = [
        c async for c in client.chat_stream(model="tiny", messages=HI, max_tokens=12, temperature=0)
    ]
    kinds = [c.WhichOneof("chunk") for c in chunks]
    assert kinds[-1] == "final"
    assert kinds.count("final") == 1
    assert set(kinds[:-1]) == {"delta"}
    assert chunks[-1].final.usage.completion_tokens == 12
    text = "".join(c.delta.content for c in chunks[:-1])
    unary = await client.chat(model="tiny", messages=HI, max_tokens=12, temperature=0)
    assert text == unary.choices[0].message.content[0].text


async def test_n_choices_and_seed(client: inferline.AsyncClient) -> None:
    reply = await client.complete(prompt="The", max_tokens=6, n=2, temperature=1.0, seed=7)
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.usage.completion_tokens == 12
    again = await client.complete(prompt="The", max_tokens=6, n=2, temperature=1.0, seed=7)
    assert [c.text for c in again.choices] == [c.text for c in reply.choices]


async def test_stop_sequence_ends_with_stop(client: inferline.AsyncClient) -> None:
    free = await client.complete(prompt="Once", max_tokens=40, temperature=0)
    text = free.choices[0].text
    stop = text[10:12]
    stopped = await client.complete(prompt="Once", max_tokens=40, temperature=0, stop=[stop])
    assert stopped.choices[0].finish_reason == common_pb2.FINISH_REASON_STOP
    assert stopped.choices[0].text == text[: text.index(stop)]
    assert stop not in stopped.choices[0].text


async def test_unknown_model_is_not_found(client: inferline.AsyncClient) -> None:
    with pytest.raises(inferline.NotFoundError) as raised:
        await client.chat(model="nope", messages=HI)
    assert raised.value.reason == "MODEL_NOT_FOUND"
    assert raised.value.param == "model"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"temperature": 3.0}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"top_p": 1.5}, "top_p"),
        ({"n": 99}, "n"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ],
)
async def test_invalid_arguments_name_their_param(
    client: inferline.AsyncClient, params: dict[str, object], param: str
) -> None:
    with pytest.raises(inferline.InvalidArgumentError) as raised:
        await client.chat(messages=HI, **params)
    assert raised.value.param == param


async def test_prompt_longer_than_context_is_invalid(client: inferline.AsyncClient) -> None:
    with pytest.raises(inferline.InvalidArgumentError) as raised:
        await client.complete(prompt="the " * 600, max_tokens=4)
    assert raised.value.reason == "CONTEXT_LENGTH_EXCEEDED"


async def test_health_reflection_and_a_missing_model_kind(core: str) -> None:
    async with grpc.aio.insecure_channel(core) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        services = {s.name async for r in reflect for s in r.list_services_response.service}
        assert {"inferline.v1.ChatService", "inferline.v1.ModelService"} <= services
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await image_service_pb2_grpc.ImageServiceStub(channel).GenerateImage(
                image_service_pb2.GenerateImageRequest(prompt="a cat")
            )
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert "no image model" in (raised.value.details() or "")


async def test_models_are_listed_with_state(client: inferline.AsyncClient) -> None:
    models = await client.list_models()
    assert [m.id for m in models] == ["tiny"]
    assert models[0].is_default
    assert (await client.get_model("tiny")).context_length in (0, 512)
    with pytest.raises(inferline.NotFoundError):
        await client.get_model("nope")
