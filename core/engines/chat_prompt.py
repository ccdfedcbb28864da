"""Turn a conversation into a prompt with the model's chat template or a named chat format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llama_cpp import llama_chat_format

from core.engines.base import ChatTurn


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
        else:
            # No template and no format named: ChatML is the most common convention.
            self._named = llama_chat_format.format_chatml

    def format(self, turns: Sequence[ChatTurn]) -> ChatPrompt:
        """The prompt for ``turns``, ending where the assistant's answer begins."""
        messages: Any = [_message(turn) for turn in turns]
        if self._jinja is not None:
            result = self._jinja(messages=messages)
            return ChatPrompt(result.prompt, True, _stops(result.stop))
        result = self._named(messages=messages)
        return ChatPrompt(result.prompt, bool(result.added_special), _stops(result.stop))


def _message(turn: ChatTurn) -> dict[str, str]:
    message = {"role": turn.role, "content": turn.text}
    if turn.name:
        message["name"] = turn.name
    return message


def _stops(stop: str | list[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    return (stop,) if isinstance(stop, str) else tuple(stop)
