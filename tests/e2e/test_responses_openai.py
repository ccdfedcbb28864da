"""The Responses API (``/v1/responses``) through the official openai SDK against
`inferline serve` with the tiny GGUF (random weights: it never stops on its own, so plain
text runs to ``max_output_tokens``; only grammars make its output parse)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest

from tests.e2e.conftest import MODEL

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 12}, "unit": {"enum": ["c", "f"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TOOLS: Any = [{"type": "function", "name": "get_weather", "parameters": WEATHER, "strict": True}]
FORCED: Any = {"type": "function", "name": "get_weather"}


def _create(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.responses.create(model=MODEL, **kwargs)


def test_plain_text_answer(client: openai.OpenAI) -> None:
    response = _create(client, input="Say hi", max_output_tokens=8, temperature=0)
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.model == MODEL
    # The tiny model never ends on its own: it stops at max_output_tokens, as OpenAI reports.
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    (item,) = response.output
    assert item.type == "message" and item.role == "assistant" and item.id.startswith("msg_")
    assert item.content[0].type == "output_text"
    assert response.output_text == item.content[0].text and response.output_text
    usage = response.usage
    assert usage.output_tokens == 8 and usage.input_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert response.max_output_tokens == 8 and response.temperature == 0


def test_instructions_are_the_system_message(client: openai.OpenAI) -> None:
    args: Any = {"temperature": 0, "max_output_tokens": 6}
    response = _create(client, instructions="Answer briefly.", input="Say hi", **args)
    assert response.instructions == "Answer briefly."
    chat = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Say hi"},
        ],
        temperature=0,
        max_tokens=6,
    )
    assert response.output_text == chat.choices[0].message.content
    assert chat.usage is not None and response.usage.input_tokens == chat.usage.prompt_tokens
    bare = _create(client, input="Say hi", **args)
    assert bare.usage.input_tokens < response.usage.input_tokens


def test_input_items_equal_the_string_form(client: openai.OpenAI) -> None:
    args: Any = {"temperature": 0, "max_output_tokens": 5}
    items: Any = [
        {"role": "user", "content": [{"type": "input_text", "text": "Say hi"}]},
    ]
    assert (
        _create(client, input=items, **args).output_text
        == _create(client, input="Say hi", **args).output_text
    )


def test_streamed_events_and_final_text_agree(client: openai.OpenAI) -> None:
    args: Any = {"input": "Say hi", "temperature": 0, "max_output_tokens": 7}
    whole = _create(client, **args)
    events = list(_create(client, stream=True, **args))
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",
    ]
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert events[0].response.status == "in_progress" and events[0].response.output == []
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    final = events[-1].response
    assert text == events[-4].text == final.output_text == whole.output_text
    assert final.id == events[0].response.id and final.usage.output_tokens == 7
    assert events[-2].item.id == events[2].item.id == final.output[0].id
    assert client.responses.retrieve(final.id).output_text == final.output_text  # kept too


def test_stream_helper_accumulates_the_same_response(client: openai.OpenAI) -> None:
    # The SDK's helper checks every event against the items it has seen; it wants a
    # response.completed, so the answer is a forced call (a grammar ends it).
    args: Any = {"input": "Hi", "tools": TOOLS, "tool_choice": FORCED, "temperature": 0}
    with client.responses.stream(model=MODEL, max_output_tokens=200, **args) as stream:
        final = stream.get_final_response()
    whole = _create(client, max_output_tokens=200, **args)
    assert final.status == whole.status == "completed"
    assert final.output[0].arguments == whole.output[0].arguments
    assert final.output[0].name == "get_weather"


def test_tool_round_trip_with_previous_response_id(client: openai.OpenAI) -> None:
    ask = "What is the weather in Paris?"
    first = _create(client, input=ask, tools=TOOLS, tool_choice=FORCED, max_output_tokens=200)
    assert first.status == "completed"
    (call,) = first.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.call_id.startswith("call_") and call.id.startswith("fc_")
    jsonschema.validate(json.loads(call.arguments), WEATHER)
    result: Any = [{"type": "function_call_output", "call_id": call.call_id, "output": "21 C"}]
    args: Any = {"tools": TOOLS, "tool_choice": "none", "max_output_tokens": 4, "temperature": 0}
    answer = _create(client, previous_response_id=first.id, input=result, **args)
    assert answer.previous_response_id == first.id
    assert answer.output[0].type == "message" and answer.output_text
    # The same conversation sent whole, as items, is the same prompt and the same answer.
    history: Any = [
        {"role": "user", "content": ask},
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        *result,
    ]
    whole = _create(client, input=history, **args)
    assert whole.usage.input_tokens == answer.usage.input_tokens
    assert whole.output_text == answer.output_text


def test_streamed_tool_call(client: openai.OpenAI) -> None:
    args: Any = {"input": "Weather?", "tools": TOOLS, "tool_choice": "required"}
    events = list(_create(client, stream=True, max_output_tokens=200, temperature=0, **args))
    added = next(e for e in events if e.type == "response.output_item.added")
    assert added.item.type == "function_call" and added.item.name == "get_weather"
    fragments = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert "".join(fragments) == done.arguments
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output[0].arguments == done.arguments
    jsonschema.validate(json.loads(done.arguments), WEATHER)


def test_json_schema_output(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "size": {"enum": ["s", "m", "l"]}},
        "required": ["ok", "size"],
        "additionalProperties": False,
    }
    text: Any = {"format": {"type": "json_schema", "name": "answer", "schema": schema}}
    response = _create(client, input="Answer", text=text, max_output_tokens=100)
    assert response.status == "completed"
    jsonschema.validate(json.loads(response.output_text), schema)
    assert response.text.format.type == "json_schema"


def test_conversation_continues_and_is_kept(client: openai.OpenAI) -> None:
    first = _create(client, input="One", max_output_tokens=3, metadata={"k": "v"})
    second = _create(client, input="Two", previous_response_id=first.id, max_output_tokens=3)
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens
    kept = client.responses.retrieve(first.id)
    assert kept.output_text == first.output_text and kept.metadata == {"k": "v"}
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    unkept = _create(client, input="Three", max_output_tokens=2, store=False)
    assert unkept.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unkept.id)


def test_unknown_previous_response_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        _create(client, input="hi", previous_response_id="resp_nothing")
    assert raised.value.code == "previous_response_not_found"
    assert raised.value.param == "previous_response_id"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"background": True}, "background"),
        ({"extra_body": {"colour": "blue"}}, "colour"),
        ({"truncation": "auto"}, "truncation"),
        ({"include": ["reasoning.encrypted_content"]}, "include[0]"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format"),
        ({"tool_choice": {"type": "function", "name": "nope"}, "tools": TOOLS}, "tool_choice"),
        ({"text": {"verbosity": "low"}}, "text.verbosity"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_file"}]}]}, "input[0].content[0]"),
        ({"reasoning": {"effort": "high"}}, "reasoning"),
        ({"service_tier": "flex"}, "service_tier"),
        ({"stream_options": {"include_obfuscation": True}}, "stream_options.include_obfuscation"),
        ({"input": ""}, "input"),
    ],
)
def test_unsupported_fields_are_400_naming_them(
    client: openai.OpenAI, kwargs: Any, param: str
) -> None:
    kwargs.setdefault("input", "hi")
    with pytest.raises(openai.BadRequestError) as raised:
        _create(client, max_output_tokens=2, **kwargs)
    assert raised.value.param == param
    assert isinstance(raised.value.body, dict) and raised.value.body["message"]


def test_unknown_field_is_named_as_openai_does(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        _create(client, input="hi", extra_body={"colour": "blue"})
    assert raised.value.code == "unknown_parameter"
    assert raised.value.message.endswith("Unknown parameter: 'colour'.")


def test_input_longer_than_the_context_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        _create(client, input="word " * 3000, max_output_tokens=2)


def test_settings_are_echoed(client: openai.OpenAI) -> None:
    response = _create(
        client,
        input="hi",
        max_output_tokens=2,
        top_p=0.5,
        tools=TOOLS,
        tool_choice="none",
        parallel_tool_calls=False,
        user="u1",
        prompt_cache_key="k1",
        safety_identifier="s1",
    )
    assert response.top_p == 0.5 and response.user == "u1"
    assert response.prompt_cache_key == "k1" and response.safety_identifier == "s1"
    assert response.tool_choice == "none" and response.parallel_tool_calls is False
    assert response.tools[0].name == "get_weather" and response.tools[0].strict is True
    assert response.text.format.type == "text" and response.store is True


def test_logprobs_when_included(client: openai.OpenAI) -> None:
    args: Any = {
        "input": "Say hi",
        "max_output_tokens": 4,
        "temperature": 0,
        "include": ["message.output_text.logprobs"],
        "top_logprobs": 2,
    }
    response = _create(client, **args)
    part = response.output[0].content[0]
    assert len(part.logprobs) == 4 and response.top_logprobs == 2
    assert "".join(item.token for item in part.logprobs) == part.text
    for item in part.logprobs:
        assert item.logprob <= 0 and len(item.top_logprobs) == 2
        assert bytes(item.bytes).decode() == item.token
    events = list(_create(client, stream=True, **args))
    streamed = [
        item.token
        for event in events
        if event.type == "response.output_text.delta"
        for item in event.logprobs
    ]
    assert streamed == [item.token for item in part.logprobs]
    done = next(e for e in events if e.type == "response.output_text.done")
    assert [item.token for item in done.logprobs] == streamed
    plain = _create(client, input="Say hi", max_output_tokens=2)
    assert plain.output[0].content[0].logprobs == []


def test_input_items_are_listed_and_paged(client: openai.OpenAI) -> None:
    given: Any = [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_9", "output": "sunny"},
    ]
    response = _create(client, input=given, max_output_tokens=2)
    newest_first = client.responses.input_items.list(response.id)
    assert [item.type for item in newest_first.data] == [
        "function_call_output",
        "function_call",
        "message",
    ]
    message = newest_first.data[-1]
    assert message.id.startswith("msg_") and message.content[0].text == "weather?"
    assert newest_first.data[0].output == "sunny" and newest_first.has_more is False
    one_by_one = client.responses.input_items.list(response.id, order="asc", limit=1)
    assert len(one_by_one.data) == 1 and one_by_one.has_more is True
    walked = [item.id for item in one_by_one]  # the SDK follows `after` page by page
    assert walked == [item.id for item in reversed(newest_first.data)]
    plain = _create(client, input="just text", max_output_tokens=2)
    (only,) = client.responses.input_items.list(plain.id).data
    assert only.role == "user" and only.content[0].type == "input_text"
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list("resp_nothing")


def test_unknown_fields_inside_tools_and_formats_are_400(client: openai.OpenAI) -> None:
    tool: Any = {**TOOLS[0], "defer_loading": True}
    with pytest.raises(openai.BadRequestError) as raised:
        _create(client, input="hi", tools=[tool], max_output_tokens=2)
    assert raised.value.param == "tools[0]" and "defer_loading" in raised.value.message


def test_errors_name_responses_fields_not_chat_fields(client: openai.OpenAI) -> None:
    bad: Any = [{"type": "function", "name": "bad name"}]
    with pytest.raises(openai.BadRequestError) as raised:
        _create(client, input="hi", tools=bad)
    assert raised.value.param == "tools[0].name"
    assert "tools[0].name must be" in raised.value.message
    with pytest.raises(openai.BadRequestError) as zero:
        _create(client, input="hi", max_output_tokens=0)
    assert zero.value.param == "max_output_tokens"


def test_tools_left_to_the_model_need_no_strict(client: openai.OpenAI) -> None:
    """OpenAI's tools default to strict; here only forced calls are constrained, so a tool the
    model may call on its own (tool_choice auto, the Agents SDK's default) is served as not
    strict, and saying strict explicitly is refused by name."""
    loose: Any = [{"type": "function", "name": "get_weather", "parameters": WEATHER}]
    response = _create(client, input="Weather?", tools=loose, max_output_tokens=4)
    assert response.status == "incomplete" and response.tools[0].strict is False
    forced = _create(client, input="Weather?", tools=loose, tool_choice="required")
    assert forced.tools[0].strict is True
    assert forced.output[0].type == "function_call"
    with pytest.raises(openai.BadRequestError) as strict:
        _create(client, input="Weather?", tools=TOOLS, tool_choice="auto")
    assert strict.value.param is not None and "strict" in strict.value.param
