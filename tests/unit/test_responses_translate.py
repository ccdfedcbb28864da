"""The Responses API's pure pieces: request parsing and translation to chat, and the stream's
event order for answers the tiny model cannot be made to give (text, then a tool call)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inferline.v1 import chat_service_pb2 as pb
from inferline.v1 import common_pb2
from inferline_bridge.errors import APIError
from inferline_bridge.responses import translate
from inferline_bridge.responses.events import EventWriter
from inferline_bridge.responses.wire import parse


def _parse(**body: Any) -> Any:
    return parse(json.dumps(body).encode())


def test_items_become_chat_messages() -> None:
    request = _parse(
        input=[
            {"role": "user", "content": "weather and time?"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "ok"}],
            },
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "noon"}],
            },
        ]
    )
    user, assistant, weather, time = translate.input_messages(request)
    assert (user.role, user.content) == ("user", "weather and time?")
    assert assistant.role == "assistant" and assistant.content[0].text == "ok"
    assert [call.id for call in assistant.tool_calls] == ["c1", "c2"]
    assert (weather.role, weather.tool_call_id, weather.content) == ("tool", "c1", "sunny")
    assert (time.tool_call_id, time.content) == ("c2", "noon")


def test_instructions_come_first_and_history_before_input() -> None:
    request = _parse(instructions="Be brief.", input="again", max_output_tokens=3)
    history = translate.input_messages(_parse(input="first"))
    chat = translate.chat_request(request, history, translate.input_messages(request))
    assert [(m.role, m.content) for m in chat.messages] == [
        ("system", "Be brief."),
        ("user", "first"),
        ("user", "again"),
    ]
    assert chat.max_completion_tokens == 3


def test_unknown_and_unsupported_fields_are_named() -> None:
    with pytest.raises(APIError) as unknown:
        _parse(input="hi", colour="blue")
    assert unknown.value.param == "colour" and unknown.value.code == "unknown_parameter"
    with pytest.raises(APIError) as unsupported:
        translate.check(_parse(input="hi", conversation="conv_1"))
    assert unsupported.value.param == "conversation"


@pytest.mark.parametrize(
    ("chat", "responses"),
    [
        ("messages[2].content[0].image_url", "input"),
        ("response_format", "text.format"),
        ("response_format.json_schema", "text.format"),
        ("tools[1].function.parameters", "tools[1].parameters"),
        ("tool_choice.function.name", "tool_choice.name"),
        ("max_completion_tokens", "max_output_tokens"),
        ("temperature", "temperature"),
        (None, None),
    ],
)
def test_chat_params_in_errors_are_renamed(chat: str | None, responses: str | None) -> None:
    assert translate.rename_param(chat) == responses


def _message(**chunk: Any) -> pb.ChatStreamResponse:
    return pb.ChatStreamResponse(id="x", model="m", created=7, **chunk)


def _delta(content: str = "", **call: Any) -> pb.ChatStreamResponse:
    calls = [common_pb2.ToolCallDelta(**call)] if call else []
    return _message(delta=pb.ChatDelta(content=content, tool_calls=calls))


def _final(reason: int) -> pb.ChatStreamResponse:
    usage = common_pb2.Usage(prompt_tokens=5, completion_tokens=4, total_tokens=9)
    finish = [common_pb2.ChoiceFinish(index=0, finish_reason=reason)]
    return _message(final=common_pb2.StreamFinal(choices=finish, usage=usage))


def _run(*messages: pb.ChatStreamResponse) -> tuple[EventWriter, list[dict[str, Any]]]:
    writer = EventWriter("resp_1", translate.echo(_parse(input="hi")))
    return writer, [event for message in messages for event in writer.events(message)]


def test_text_then_a_call_are_two_items_in_order() -> None:
    writer, events = _run(
        _delta("Let me look. "),
        _delta(index=0, id="call_1", name="weather", arguments='{"city"'),
        _delta(index=0, arguments=': "Oslo"}'),
        _final(common_pb2.FINISH_REASON_TOOL_CALLS),
    )
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e.get("output_index") for e in events[2:13]] == [0] * 6 + [1] * 5
    message, call = events[-1]["response"]["output"]
    assert message["content"][0]["text"] == "Let me look. " and message["status"] == "completed"
    assert call["arguments"] == '{"city": "Oslo"}' and call["call_id"] == "call_1"
    assert events[-1]["response"]["usage"]["total_tokens"] == 9
    assert writer.response is events[-1]["response"]


def test_an_empty_answer_is_one_empty_message() -> None:
    _, events = _run(_final(common_pb2.FINISH_REASON_LENGTH))
    assert events[-1]["type"] == "response.incomplete"
    response = events[-1]["response"]
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    (item,) = response["output"]
    assert item["content"][0]["text"] == "" and item["status"] == "incomplete"
    assert "response.output_text.delta" not in [e["type"] for e in events]


def test_a_failure_after_the_start_is_an_error_then_failed() -> None:
    writer, events = _run(_delta("a"))
    failed = writer.failed(APIError(503, "the core went away", code="core_unavailable"))
    assert [e["type"] for e in failed] == ["error", "response.failed"]
    assert failed[0]["code"] == "core_unavailable" and failed[0]["message"] == "the core went away"
    assert failed[1]["response"]["status"] == "failed"
    assert [e["sequence_number"] for e in events + failed] == list(range(len(events) + 2))
