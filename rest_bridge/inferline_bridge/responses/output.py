"""The response object and its output items, from what ChatService answered; pure functions.

An answer becomes output items in OpenAI's shapes: its text one ``message`` item (with one
``output_text`` part), each tool call one ``function_call`` item whose ``call_id`` is the
call's id, which a later ``function_call_output`` item names.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from inferline.v1 import chat_service_pb2 as pb
from inferline.v1 import common_pb2
from inferline_bridge.chat import wire as chat
from inferline_bridge.sampling import logprob_dict

_INCOMPLETE: dict[int, str] = {
    common_pb2.FINISH_REASON_LENGTH: "max_output_tokens",
    common_pb2.FINISH_REASON_CONTENT_FILTER: "content_filter",
}


def new_id(prefix: str) -> str:
    """A fresh id in OpenAI's style: ``resp_…``, ``msg_…``, ``fc_…``."""
    return f"{prefix}_{uuid.uuid4().hex}"


def incomplete_reason(finish: int) -> str | None:
    """Why a response stopped short (OpenAI's ``incomplete_details.reason``), or None."""
    return _INCOMPLETE.get(finish)


def text_part(text: str, logprobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An ``output_text`` content part, with its tokens' logprobs when asked for."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs or []}


def logprobs(items: Sequence[common_pb2.TokenLogprob]) -> list[dict[str, Any]]:
    """Tokens' log probabilities in OpenAI's shape (``token``, ``bytes``, ``logprob``,
    ``top_logprobs``)."""
    return [logprob_dict(item) for item in items]


def message_item(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    """An assistant ``message`` output item."""
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def call_item(item_id: str, status: str, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A ``function_call`` output item."""
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def output_items(choice: pb.ChatChoice) -> list[dict[str, Any]]:
    """The output items of an answer: its text (if any, or if there is nothing else), then
    its tool calls."""
    message, finish = choice.message, choice.finish_reason
    status = "incomplete" if incomplete_reason(finish) else "completed"
    text = "".join(p.text for p in message.content if p.WhichOneof("part") == "text")
    items = []
    if text or not message.tool_calls:
        part = text_part(text, logprobs(choice.logprobs))
        items.append(message_item(new_id("msg"), status, [part]))
    items += [
        call_item(new_id("fc"), status, c.id, c.function.name, c.function.arguments)
        for c in message.tool_calls
    ]
    return items


def usage_dict(usage: common_pb2.Usage) -> dict[str, Any]:
    """Usage in the Responses API's shape."""
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def response_dict(
    response_id: str,
    settings: dict[str, Any],
    *,
    created: int,
    model: str,
    output: list[dict[str, Any]],
    finish: int | None,
    usage: common_pb2.Usage | None,
) -> dict[str, Any]:
    """The ``response`` object; ``finish`` None means still in progress. ``settings`` are
    the request's, as ``translate.echo`` repeats them."""
    reason = incomplete_reason(finish) if finish is not None else None
    status = "in_progress" if finish is None else ("incomplete" if reason else "completed")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": reason} if reason else None,
        "max_tool_calls": None,
        "model": model,
        "output": output,
        **settings,
        "usage": usage_dict(usage) if usage is not None else None,
    }


def from_chat(response_id: str, settings: dict[str, Any], reply: pb.ChatResponse) -> dict[str, Any]:
    """The finished response object for a (non-streamed) ChatResponse."""
    choice = reply.choices[0]
    return response_dict(
        response_id,
        settings,
        created=reply.created,
        model=reply.model,
        output=output_items(choice),
        finish=choice.finish_reason,
        usage=reply.usage,
    )


def as_messages(output: list[dict[str, Any]]) -> list[chat.Message]:
    """A response's output as chat messages, to continue the conversation from: one
    assistant message holding the text and every function call."""
    text = "".join(
        part["text"]
        for item in output
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )
    calls = [
        chat.ToolCall(
            id=item["call_id"],
            function=chat.FunctionCall(name=item["name"], arguments=item["arguments"]),
        )
        for item in output
        if item["type"] == "function_call"
    ]
    return [chat.Message(role="assistant", content=text or None, tool_calls=calls or None)]
