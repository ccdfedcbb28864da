"""Turn a conversation into a prompt with the model's chat template or a named chat format.

Tools go to the template when it presents tools itself (it mentions ``tools``); otherwise they
are described in words (``tool_calls.instructions``): in a system message for a template, in
front of the first user message for a named format (some, like Gemma's, drop system messages).
Past tool calls and tool results travel the same way: as structures for a template that
handles them, as ``<tool_call>`` / ``<tool_response>`` text otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llama_cpp import llama_chat_format

from inferline_core.engines import tool_calls
from inferline_core.engines.base import ChatTurn, ToolSpec


@dataclass(frozen=True)
class ChatPrompt:
    """A formatted prompt, whether it already holds BOS, and the format's own stop strings."""

    text: str
    has_bos: bool
    stops: tuple[str, ...]


class ChatFormatter:
    """Formats conversations for one model: its GGUF template, or a llama-cpp-python format."""

    def __init__(self, metadata: dict[str, str], chat_format: str | None, bos: str, eos: str):
        template = metadata.get("tokenizer.chat_template")
        self._jinja: llama_chat_format.Jinja2ChatFormatter | None = None
        self._native_tools = False
        self._native_calls = False
        self._named: Any = None
        if chat_format:
            self._named = getattr(
                llama_chat_format, "format_" + chat_format.replace("-", "_"), None
            )
            if self._named is None:
                raise ValueError(f"unknown chat_format {chat_format!r}")
        elif template:
            self._jinja = llama_chat_format.Jinja2ChatFormatter(
                template=template, eos_token=eos, bos_token=bos, add_generation_prompt=True
            )
            self._native_tools = "tools" in template
            self._native_calls = "tool_calls" in template
        else:
            # No template and no format named: ChatML is the most common convention.
            self._named = llama_chat_format.format_chatml

    def format(self, turns: Sequence[ChatTurn], tools: Sequence[ToolSpec] = ()) -> ChatPrompt:
        """The prompt for ``turns``, ending where the assistant's answer begins."""
        turns = list(turns)
        if tools and not self._native_tools:
            turns = _with_instructions(
                turns, tool_calls.instructions(tools), self._jinja is not None
            )
        messages: Any = [_message(turn, self._native_calls) for turn in turns]
        if self._jinja is not None:
            listed: Any = [_tool(tool) for tool in tools] if tools and self._native_tools else None
            result = self._jinja(messages=messages, tools=listed)
            return ChatPrompt(result.prompt, True, _stops(result.stop))
        result = self._named(messages=messages)
        return ChatPrompt(result.prompt, bool(result.added_special), _stops(result.stop))


def _with_instructions(turns: list[ChatTurn], text: str, as_system: bool) -> list[ChatTurn]:
    if as_system:
        if turns and turns[0].role == "system":
            return [ChatTurn("system", f"{text}\n\n{turns[0].text}"), *turns[1:]]
        return [ChatTurn("system", text), *turns]
    first = next((i for i, turn in enumerate(turns) if turn.role == "user"), 0)
    turn = turns[first]
    return [
        *turns[:first],
        ChatTurn(turn.role, f"{text}\n\n{turn.text}", turn.name),
        *turns[first + 1 :],
    ]


def _tool(tool: ToolSpec) -> dict[str, Any]:
    function = {"name": tool.name, "description": tool.description}
    return {"type": "function", "function": {**function, "parameters": tool_calls.parameters(tool)}}


def _message(turn: ChatTurn, native_calls: bool) -> dict[str, Any]:
    if turn.role == "tool" and not native_calls:
        return {"role": "user", "content": f"<tool_response>\n{turn.text}\n</tool_response>"}
    message: dict[str, Any] = {"role": turn.role, "content": turn.text}
    if turn.name:
        message["name"] = turn.name
    if turn.tool_call_id:
        message["tool_call_id"] = turn.tool_call_id
    if turn.tool_calls and native_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": tool_calls.replayed_arguments(call)},
            }
            for call in turn.tool_calls
        ]
    elif turn.tool_calls:
        calls = "\n".join(tool_calls.call_text(call) for call in turn.tool_calls)
        message["content"] = f"{turn.text}\n{calls}" if turn.text else calls
    return message


def _stops(stop: str | list[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    return (stop,) if isinstance(stop, str) else tuple(stop)
