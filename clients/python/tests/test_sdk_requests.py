"""The SDK's pure parts: request building and the error tree."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

import inferline
from inferline import _channel, _requests, _routing
from inferline.errors import from_rpc_error
from inferline.v1 import chat_service_pb2 as chat_pb
from inferline.v1 import common_pb2
from inferline.v1 import model_service_pb2 as model_pb


class _Error(grpc.RpcError):
    """An RpcError as grpc raises it: code, details and trailing metadata."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple = ()) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return self._trailing


def _status_bin(*details: object) -> bytes:
    status = status_pb2.Status(code=8, message="busy")
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    return status.SerializeToString()


def test_chat_request_puts_sampling_keywords_in_sampling() -> None:
    request = _requests.chat_request(
        "m",
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        {"temperature": 0.0, "max_tokens": 5, "stop": "x", "n": 2, "logit_bias": {"7": -100}},
    )
    assert request.model == "m"
    assert [m.role for m in request.messages] == [chat_pb.ROLE_SYSTEM, chat_pb.ROLE_USER]
    assert request.messages[1].content[0].text == "hi"
    assert request.sampling.HasField("temperature")
    assert request.sampling.temperature == 0.0
    assert not request.sampling.HasField("top_p")
    assert list(request.sampling.stop) == ["x"]
    assert dict(request.sampling.logit_bias) == {7: -100.0}
    assert request.n == 2


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="temprature"):
        _requests.chat_request("m", [], {"temprature": 1})


def test_unknown_role_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="robot"):
        _requests.chat_message({"role": "robot", "content": "x"})


def test_error_reason_param_and_retry_after_come_from_status_details() -> None:
    info = error_details_pb2.ErrorInfo(
        reason="QUEUE_FULL", domain="inferline", metadata={"param": "model"}
    )
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2))
    error = from_rpc_error(
        _Error(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "queue full",
            (("grpc-status-details-bin", _status_bin(info, retry)),),
        )
    )
    assert isinstance(error, inferline.ResourceExhaustedError)
    assert isinstance(error, inferline.InferlineError)
    assert (error.reason, error.param, error.retry_after) == ("QUEUE_FULL", "model", 2.0)
    assert str(error) == "RESOURCE_EXHAUSTED: queue full"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.NOT_FOUND, inferline.NotFoundError),
        (grpc.StatusCode.INVALID_ARGUMENT, inferline.InvalidArgumentError),
        (grpc.StatusCode.UNAVAILABLE, inferline.UnavailableError),
        (grpc.StatusCode.UNIMPLEMENTED, inferline.UnimplementedError),
        (grpc.StatusCode.UNAUTHENTICATED, inferline.UnauthenticatedError),
    ],
)
def test_each_code_has_its_class(code: grpc.StatusCode, cls: type[Exception]) -> None:
    error = from_rpc_error(_Error(code, "x"))
    assert type(error) is cls
    assert error.reason == ""
    assert error.param is None


def test_several_cores_are_routed_and_resolved() -> None:
    assert not _routing.routed("127.0.0.1:1")
    assert _routing.routed("127.0.0.1:1, core-b:2") and _routing.routed("dns:///cores:50051")
    assert _routing.resolve("127.0.0.1:1, core-b:2,[::1]:3") == (
        ["127.0.0.1:1", "core-b:2", "[::1]:3"],
        None,
    )
    # A DNS name is resolved here (localhost, so nothing leaves the machine); the authority of
    # dns://AUTHORITY/NAME is not used, and the port defaults to 50051.
    addresses, tls_name = _routing.resolve("dns:///localhost:7")
    assert tls_name == "localhost" and "127.0.0.1:7" in addresses
    assert "127.0.0.1:50051" in _routing.resolve("dns://192.0.2.1/localhost")[0]
    assert _channel.call_metadata("k") == (("authorization", "Bearer k"),)
    assert _channel.call_metadata(None) == ()


def test_merged_model_lists_show_a_model_loaded_anywhere_as_loaded() -> None:
    loaded, available = model_pb.MODEL_STATE_LOADED, model_pb.MODEL_STATE_AVAILABLE
    merged = _routing.merge_models(
        [
            [model_pb.Model(id="b", state=available), model_pb.Model(id="a", state=available)],
            [model_pb.Model(id="a", state=loaded)],
        ]
    )
    assert [(m.id, m.state) for m in merged] == [("a", loaded), ("b", available)]


def test_openai_shaped_tools_choice_and_format_become_protos() -> None:
    request = _requests.chat_request(
        "m",
        [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        {
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_object"},
            "logprobs": True,
            "top_logprobs": 2,
        },
    )
    assert request.tools[0].function.name == "f"
    assert json.loads(request.tools[0].function.parameters_json_schema) == {"type": "object"}
    assert request.tool_choice.function_name == "f"
    assert request.response_format.type == common_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT
    assert request.messages[1].tool_calls[0].function.name == "f"
    assert request.messages[2].tool_call_id == "c1"
    assert request.sampling.logprobs and request.sampling.top_logprobs == 2
    assert _requests.tool_choice("required").mode == common_pb2.TOOL_CHOICE_MODE_REQUIRED
