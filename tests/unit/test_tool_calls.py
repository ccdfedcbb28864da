"""Tool-call shapers, schema checks and prompts for templates without tools: pure pieces."""

from __future__ import annotations

import json

import pytest

from inferline_core.engines import json_schema, tool_calls
from inferline_core.engines.base import (
    ChatTurn,
    ToolCall,
    ToolCallDelta,
    ToolMode,
    ToolSpec,
    ToolUse,
)
from inferline_core.engines.chat_prompt import ChatFormatter
from inferline_core.exceptions import InvalidArgument

WEATHER = ToolSpec(name="get_weather", parameters={"type": "object", "properties": {}})
TIME = ToolSpec(name="get_time")


def _run(shaper: tool_calls.Shaper, pieces: list[str]) -> tuple[str, list[tuple[str, str]]]:
    """Feed ``pieces``; return the text and each call's (name, arguments)."""
    out = [piece for text in pieces for piece in shaper.feed(text)] + shaper.finish()
    text = "".join(p for p in out if isinstance(p, str))
    calls: list[tuple[str, str]] = []
    for piece in out:
        if isinstance(piece, ToolCallDelta) and piece.id:
            assert piece.id.startswith("call_") and piece.name
            calls.append((piece.name, piece.arguments))
        elif isinstance(piece, ToolCallDelta):
            name, arguments = calls[piece.call]
            calls[piece.call] = (name, arguments + piece.arguments)
    return text, calls


def _split(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_auto_finds_tagged_calls_between_text() -> None:
    answer = (
        'Let me check. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        '</tool_call><tool_call>{"name": "get_time", "arguments": {}}</tool_call> Done <tool'
    )
    shaper = tool_calls.AutoShaper([WEATHER, TIME], parallel=True)
    text, calls = _run(shaper, _split(answer))
    assert text == "Let me check.  Done <tool"
    assert calls == [("get_weather", '{"city": "Paris"}'), ("get_time", "{}")]
    one = tool_calls.AutoShaper([WEATHER, TIME], parallel=False)
    assert len(_run(one, _split(answer))[1]) == 1


def test_auto_leaves_unknown_or_broken_blocks_as_text() -> None:
    answer = '<tool_call>{"name": "launch", "arguments": {}}</tool_call> and <tool_call>{oops'
    text, calls = _run(tool_calls.AutoShaper([WEATHER], parallel=True), _split(answer, 5))
    assert calls == []
    assert text == answer


def test_auto_takes_a_whole_json_answer_as_a_call() -> None:
    answer = ' {"name": "get_weather", "parameters": {"city": "Oslo"}}'
    assert _run(tool_calls.AutoShaper([WEATHER], parallel=True), _split(answer))[1] == [
        ("get_weather", '{"city": "Oslo"}')
    ]
    plain = '{"weather": "sunny"}'
    assert _run(tool_calls.AutoShaper([WEATHER], parallel=True), [plain]) == (plain, [])


def test_forced_shapers_stream_exact_arguments() -> None:
    arguments = '{"a": {"b": [1, {}]}}'
    choice = f'{{"name": "get_time", "arguments": {arguments} }} '
    assert _run(tool_calls.ChoiceShaper(), _split(choice, 2)) == ("", [("get_time", arguments)])
    named = tool_calls.ArgumentsShaper("get_weather")
    assert _run(named, _split(f" {arguments}  ", 4)) == ("", [("get_weather", arguments)])


def test_forced_schema_shapes() -> None:
    use = ToolUse(tools=[WEATHER, TIME], mode=ToolMode.REQUIRED)
    schema = tool_calls.forced_schema(use)
    assert [option["properties"]["name"]["const"] for option in schema["anyOf"]] == [
        "get_weather",
        "get_time",
    ]
    named = ToolUse(tools=[WEATHER, TIME], mode=ToolMode.FUNCTION, function="get_time")
    assert tool_calls.forced_schema(named) == {"type": "object"}


@pytest.mark.parametrize(
    ("schema", "named"),
    [
        ({"type": "integer", "minimum": 0}, "'minimum' at /minimum"),
        ({"properties": {"x": {"not": {}}}}, "'not' at /properties/x/not"),
        ({"type": "string", "format": "email"}, "format 'email'"),
        ({"$ref": "https://example.com/s.json"}, "non-local reference"),
        ({"anyOf": [{"type": "string"}, {"uniqueItems": True}]}, "/anyOf/1/uniqueItems"),
    ],
)
def test_unenforceable_schemas_are_refused_by_name(schema: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        json_schema.grammar(schema, "response_format")
    assert named in raised.value.message
    assert raised.value.param == "response_format"


def test_enforceable_schema_becomes_a_grammar() -> None:
    schema = {
        "$defs": {"unit": {"enum": ["c", "f"]}},
        "type": "object",
        "properties": {
            "unit": {"$ref": "#/$defs/unit"},
            "when": {"type": "string", "format": "date"},
        },
        "required": ["unit"],
        "title": "Weather",
    }
    assert "root ::=" in json_schema.grammar(schema, "tools")


def test_prompt_without_template_tools_describes_them_and_the_history() -> None:
    formatter = ChatFormatter({}, "chatml", bos="<s>", eos="</s>")
    call = ToolCall("call_1", "get_weather", json.dumps({"city": "Paris"}))
    turns = [
        ChatTurn("user", "Weather?"),
        ChatTurn("assistant", "", tool_calls=(call,)),
        ChatTurn("tool", '{"celsius": 21}', tool_call_id="call_1"),
    ]
    prompt = formatter.format(turns, [WEATHER]).text
    assert "<tools>" in prompt and '"name": "get_weather"' in prompt
    assert prompt.index("<tools>") < prompt.index("Weather?")
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}' in prompt
    assert '<tool_response>\n{"celsius": 21}\n</tool_response>' in prompt
