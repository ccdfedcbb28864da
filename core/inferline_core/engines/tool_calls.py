"""Tool calls: how tools reach a prompt that has no place for them, the schema that forces a
call, and the stream shapers that turn generated text into typed tool-call deltas.

A shaper takes the answer's text as it is generated and gives back, in order, plain text (a
``str``) and ``ToolCallDelta`` pieces; ``finish()`` flushes what it held back.

- ``ArgumentsShaper``: a call of one named function was forced; the whole answer is its
  arguments object, streamed as argument fragments.
- ``ChoiceShaper``: some call was forced; the answer is ``{"name": ..., "arguments": ...}``:
  held until the name is known, then the arguments stream.
- ``AutoShaper``: the model chose. Calls come as ``<tool_call>{...}</tool_call>`` blocks (the
  Hermes / Qwen convention, which ``instructions()`` also teaches models whose template has no
  tools), or as an answer that is one JSON object naming a tool (Llama 3's convention).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from inferline_core.engines.base import ToolCall, ToolCallDelta, ToolMode, ToolSpec, ToolUse
from inferline_core.engines.json_schema import ANY_OBJECT, parse_object

OPEN, CLOSE = "<tool_call>", "</tool_call>"
Piece = str | ToolCallDelta
_NAME = re.compile(r'^\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*')


def new_call_id() -> str:
    """An OpenAI-style tool call id."""
    return f"call_{uuid.uuid4().hex[:24]}"


def parameters(tool: ToolSpec) -> Mapping[str, Any]:
    """The tool's arguments schema; a tool without one takes any object."""
    return tool.parameters or ANY_OBJECT


def forced_schema(use: ToolUse) -> Mapping[str, Any]:
    """The JSON schema a forced answer must follow."""
    if use.mode is ToolMode.FUNCTION:
        return parameters(next(t for t in use.tools if t.name == use.function))
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {"name": {"const": tool.name}, "arguments": parameters(tool)},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
            for tool in use.tools
        ]
    }


def instructions(tools: Sequence[ToolSpec]) -> str:
    """Tool instructions for a prompt whose template cannot present tools itself."""
    listed = "\n".join(
        json.dumps(
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": parameters(tool),
                },
            }
        )
        for tool in tools
    )
    return (
        "You may call functions to answer. The functions:\n"
        f"<tools>\n{listed}\n</tools>\n"
        "To call one, answer with a JSON object naming it and its arguments inside "
        f'{OPEN}{CLOSE} tags, such as:\n{OPEN}\n{{"name": "<function-name>", '
        f'"arguments": {{...}}}}\n{CLOSE}'
    )


def replayed_arguments(call: ToolCall) -> dict[str, Any] | str:
    """A past call's arguments for the prompt: the JSON object, or, when a client replays
    arguments that are not a JSON object, the text as it was sent (it is history, not ours)."""
    if not call.arguments.strip():
        return {}
    parsed = parse_object(call.arguments)
    return call.arguments if parsed is None else parsed


def call_text(call: ToolCall) -> str:
    """A past call written the way ``instructions()`` asks for it."""
    arguments = replayed_arguments(call)
    return f"{OPEN}\n{json.dumps({'name': call.name, 'arguments': arguments})}\n{CLOSE}"


class _Shaper:
    def __init__(self) -> None:
        self.calls = 0
        self._tail = ""  # held back: it may end the answer rather than the arguments
        self._began = False  # arguments text emitted

    def _arguments(self, text: str, hold: str) -> list[Piece]:
        """Argument fragments of call 0, holding back a trailing run of ``hold`` characters."""
        text = self._tail + text
        if not self._began:
            text = text.lstrip()
        body = text.rstrip(hold)
        self._tail = text[len(body) :]
        self._began = self._began or bool(body)
        return [ToolCallDelta(0, 0, arguments=body)] if body else []

    def _call(self, name: str, arguments: str = "") -> list[Piece]:
        index, self.calls = self.calls, self.calls + 1
        head = ToolCallDelta(0, index, id=new_call_id(), name=name)
        return [head, ToolCallDelta(0, index, arguments=arguments)] if arguments else [head]


class ArgumentsShaper(_Shaper):
    """The answer is the arguments of ``name``: stream them, less trailing whitespace."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def feed(self, text: str) -> list[Piece]:
        pieces: list[Piece] = self._call(self._name) if not self.calls else []
        return pieces + self._arguments(text, " \t\n\r")

    def finish(self) -> list[Piece]:
        return self._call(self._name) if not self.calls else []


class ChoiceShaper(_Shaper):
    """The answer is ``{"name": ..., "arguments": ...}``: name first, then arguments."""

    def __init__(self) -> None:
        super().__init__()
        self._head = ""

    def feed(self, text: str) -> list[Piece]:
        pieces: list[Piece] = []
        if not self.calls:
            self._head += text
            match = _NAME.match(self._head)
            if match is None:
                return []
            text = self._head[match.end() :]
            pieces = self._call(json.loads(f'"{match[1]}"'))
        # Hold back closing braces too: the last "}" closes the wrapper, not the arguments.
        return pieces + self._arguments(text, "} \t\n\r")

    def finish(self) -> list[Piece]:
        if not self.calls:  # cut off before the name: nothing parseable to report
            return [self._head] if self._head else []
        rest = self._tail.rstrip()
        rest = rest[:-1].rstrip() if rest.endswith("}") else rest
        return [ToolCallDelta(0, 0, arguments=rest)] if rest else []


class AutoShaper(_Shaper):
    """Text passes through; ``<tool_call>`` blocks (or a whole-answer JSON call) become calls."""

    def __init__(self, tools: Sequence[ToolSpec], *, parallel: bool) -> None:
        super().__init__()
        self._names = {tool.name for tool in tools}
        self._parallel = parallel
        self._pending = ""  # text that may start a block, or the open block itself
        self._started = False  # any non-space text seen
        self._whole_json = False

    def feed(self, text: str) -> list[Piece]:
        if not self._started and text.strip():
            self._started = True
            self._whole_json = text.lstrip().startswith("{")
        self._pending += text
        if self._whole_json:
            return []
        return self._drain()

    def _drain(self) -> list[Piece]:
        pieces: list[Piece] = []
        while self._pending:
            start = self._pending.find(OPEN)
            if start < 0:
                keep = _partial_prefix(self._pending, OPEN)
                cut = len(self._pending) - keep
                if cut:
                    pieces.append(self._pending[:cut])
                self._pending = self._pending[cut:]
                return pieces
            if start:
                pieces.append(self._pending[:start])
                self._pending = self._pending[start:]
            end = self._pending.find(CLOSE)
            if end < 0:
                return pieces
            block = self._pending[len(OPEN) : end]
            self._pending = self._pending[end + len(CLOSE) :]
            pieces.extend(self._block(block, f"{OPEN}{block}{CLOSE}"))
        return pieces

    def _block(self, body: str, raw: str) -> list[Piece]:
        call = parse_object(body.strip())
        name = call.get("name") if call else None
        arguments = call.get("arguments", call.get("parameters", {})) if call else None
        if not isinstance(name, str) or name not in self._names or not isinstance(arguments, dict):
            return [raw]  # not a call of a known tool: leave the text as the model wrote it
        if self.calls and not self._parallel:
            return []
        return self._call(name, json.dumps(arguments))

    def finish(self) -> list[Piece]:
        pending, self._pending = self._pending, ""
        if self._whole_json:
            return self._block(pending, pending)
        if pending.startswith(OPEN):
            return self._block(pending[len(OPEN) :], pending)
        return [pending] if pending else []


Shaper = ArgumentsShaper | ChoiceShaper | AutoShaper


def shaper(use: ToolUse) -> Shaper | None:
    """The shaper for a request's tool use; None when the answer is plain text."""
    if use.mode is ToolMode.FUNCTION:
        return ArgumentsShaper(use.function)
    if use.mode is ToolMode.REQUIRED:
        return ChoiceShaper()
    if use.mode is ToolMode.AUTO and use.tools:
        return AutoShaper(use.tools, parallel=use.parallel)
    return None


def _partial_prefix(text: str, marker: str) -> int:
    """The length of the longest end of ``text`` that begins ``marker``."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0
