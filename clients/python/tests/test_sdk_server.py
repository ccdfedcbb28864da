"""The SDK against a tiny gRPC server written here with the SDK's own generated servicer base
classes: calls, streams, keys, errors and health over a real channel on 127.0.0.1.

Needs nothing but the SDK and pytest, so CI runs it in a virtualenv holding only those.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2_grpc
from grpc_status import rpc_status

import inferline
from inferline.keys import matches
from inferline.v1 import chat_service_pb2 as chat_pb
from inferline.v1 import chat_service_pb2_grpc as chat_grpc
from inferline.v1 import common_pb2

KEY = "sdk-test-key"


class Echo(chat_grpc.ChatServiceServicer):
    """Answers with the last message's text; refuses a wrong key and an unknown model."""

    def _check(self, request: chat_pb.ChatRequest, context: Any) -> str:
        offered = dict(context.invocation_metadata()).get("authorization", "")
        if not matches(offered.removeprefix("Bearer "), [KEY]):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid key is required")
        if request.model != "echo":
            info = error_details_pb2.ErrorInfo(reason="MODEL_NOT_FOUND", domain="test")
            info.metadata["param"] = "model"
            status = status_pb2.Status(
                code=grpc.StatusCode.NOT_FOUND.value[0], message="no such model"
            )
            status.details.add().Pack(info)
            context.abort_with_status(rpc_status.to_status(status))
        return request.messages[-1].content[0].text

    def Chat(self, request: chat_pb.ChatRequest, context: Any) -> chat_pb.ChatResponse:
        text = self._check(request, context)
        message = chat_pb.ChatMessage(
            role=chat_pb.ROLE_ASSISTANT, content=[common_pb2.ContentPart(text=text)]
        )
        return chat_pb.ChatResponse(
            id="chat-1",
            model=request.model,
            choices=[chat_pb.ChatChoice(index=0, message=message)],
            usage=common_pb2.Usage(prompt_tokens=1, completion_tokens=len(text.split())),
        )

    def ChatStream(
        self, request: chat_pb.ChatRequest, context: Any
    ) -> Iterator[chat_pb.ChatStreamResponse]:
        words = self._check(request, context).split()
        for word in words:
            yield chat_pb.ChatStreamResponse(model="echo", delta=chat_pb.ChatDelta(content=word))
        final = common_pb2.StreamFinal(usage=common_pb2.Usage(completion_tokens=len(words)))
        yield chat_pb.ChatStreamResponse(model="echo", final=final)


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    chat_grpc.add_ChatServiceServicer_to_server(Echo(), server)
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


HELLO = [{"role": "user", "content": "hello there world"}]


def test_chat_sends_the_key_and_reads_the_answer(address: str) -> None:
    with inferline.Client(address, api_key=KEY, timeout=10) as client:
        reply = client.chat(model="echo", messages=HELLO, temperature=0)
        assert client.health()
    assert reply.choices[0].message.content[0].text == "hello there world"
    assert reply.usage.completion_tokens == 3


def test_stream_yields_deltas_then_the_final_chunk(address: str) -> None:
    with inferline.Client(address, api_key=KEY, timeout=10) as client:
        chunks = list(client.chat_stream(model="echo", messages=HELLO))
    assert [c.delta.content for c in chunks if c.HasField("delta")] == ["hello", "there", "world"]
    assert chunks[-1].HasField("final") and chunks[-1].final.usage.completion_tokens == 3


def test_statuses_become_typed_errors(address: str) -> None:
    with inferline.Client(address, api_key=KEY, timeout=10) as client:
        with pytest.raises(inferline.NotFoundError) as missing:
            client.chat(model="nope", messages=HELLO)
        assert missing.value.reason == "MODEL_NOT_FOUND" and missing.value.param == "model"
        with pytest.raises(inferline.NotFoundError):
            list(client.chat_stream(model="nope", messages=HELLO))
    with (
        inferline.Client(address, api_key="wrong", timeout=10) as client,
        pytest.raises(inferline.UnauthenticatedError),
    ):
        client.chat(model="echo", messages=HELLO)


def test_async_client_does_the_same(address: str) -> None:
    async def run() -> tuple[str, list[str]]:
        async with inferline.AsyncClient(address, api_key=KEY, timeout=10) as client:
            reply = await client.chat(model="echo", messages=HELLO)
            words = [
                chunk.delta.content
                async for chunk in client.chat_stream(model="echo", messages=HELLO)
                if chunk.HasField("delta")
            ]
            with pytest.raises(inferline.NotFoundError):
                await client.chat(model="nope", messages=HELLO)
            return reply.choices[0].message.content[0].text, words

    text, words = asyncio.run(run())
    assert text == "hello there world" and words == ["hello", "there", "world"]


def test_health_is_false_without_a_server() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")  # reserved, never started
    with inferline.Client(f"127.0.0.1:{port}") as client:
        assert not client.health(timeout=0.5)
    server.stop(None)


def test_key_matching_and_tls_arguments() -> None:
    assert matches("b", ["a", "b"]) and not matches("c", ["a", "b"]) and not matches("", [])
    with pytest.raises(ValueError, match="both cert and key"):
        inferline.tls_credentials(cert="client.pem")
    assert isinstance(inferline.tls_credentials(), grpc.ChannelCredentials)
