"""A Responses request as a chat completions request, pure functions, no I/O.

The Responses API runs on ChatService: its input items (after the stored conversation of a
``previous_response_id``) become chat messages, and the chat family's own translation
(``chat.translate.request_pb``) makes the ChatRequest, so both routes check fields alike.
Errors that name a chat field are renamed to the Responses field (``rename_param``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from inferline_bridge.chat import wire as chat
from inferline_bridge.errors import APIError
from inferline_bridge.responses.wire import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputFile,
    InputImage,
    InputText,
    JsonObjectFormat,
    JsonSchemaFormat,
    MessageItem,
    OutputText,
    Part,
    Refusal,
    ResponseRequest,
)

# Fields this server does not honour, each with the reason: a 400 naming them beats
# silently ignoring them.
UNSUPPORTED = {
    "background": "background responses are not supported",
    "conversation": "conversations are not supported; use previous_response_id",
    "prompt": "prompt templates are not supported",
    "max_tool_calls": "max_tool_calls is not supported",
    "prompt_cache_retention": "prompt caching is not configurable here",
    "context_management": "context management is not supported",
    "moderation": "moderation is not supported",
    "image": "image generation settings are not supported here",
    "access_programs": "access programs are not supported",
    "background_options": "background responses are not supported",
    "prompt_cache_options": "prompt caching is not configurable here",
}
SERVICE_TIERS = ("auto", "default")
LOGPROBS = "message.output_text.logprobs"


def wants_logprobs(request: ResponseRequest) -> bool:
    """Whether the output text carries its tokens' log probabilities."""
    return LOGPROBS in (request.include or ())


def check(request: ResponseRequest) -> None:
    """Refuse, by name, every field this server cannot honour as asked."""
    for name, reason in UNSUPPORTED.items():
        if getattr(request, name) not in (None, False):
            raise APIError(400, f"{name} is not supported by this server: {reason}", param=name)
    for index, name in enumerate(request.include or ()):
        if name != LOGPROBS:
            raise APIError(400, f"include: only {LOGPROBS!r} is served", param=f"include[{index}]")
    if request.top_logprobs is not None and not wants_logprobs(request):
        raise APIError(400, f"top_logprobs needs include {LOGPROBS!r}", param="top_logprobs")
    if request.reasoning and any(v is not None for v in request.reasoning.values()):
        raise APIError(400, "the models served here take no reasoning settings", param="reasoning")
    if request.truncation == "auto":
        raise APIError(
            400, "truncation 'auto' is not supported: long inputs fail", param="truncation"
        )
    if request.service_tier is not None and request.service_tier not in SERVICE_TIERS:
        raise APIError(400, "only the 'auto' service tier exists here", param="service_tier")
    if request.stream_options and request.stream_options.include_obfuscation:
        raise APIError(
            400,
            "stream obfuscation is not supported",
            param="stream_options.include_obfuscation",
        )
    if request.text and request.text.verbosity is not None:
        raise APIError(400, "verbosity is not supported by this server", param="text.verbosity")
    if request.max_output_tokens is not None and request.max_output_tokens < 1:
        raise APIError(400, "max_output_tokens must be at least 1", param="max_output_tokens")
    if request.input is None or request.input == [] or request.input == "":
        raise APIError(400, "input must not be empty", param="input")


def _text(part: Part, param: str) -> str:
    if isinstance(part, InputText | OutputText):
        return part.text
    if isinstance(part, Refusal):
        return part.refusal
    raise APIError(400, "this content part takes text only", param=param)


def _part(part: Part, param: str) -> chat.TextPart | chat.ImagePart:
    if isinstance(part, InputImage):
        if part.file_id is not None:
            raise APIError(400, "file ids are not supported: send image_url", param=param)
        url = chat.ImageURL(url=part.image_url, detail=part.detail)
        return chat.ImagePart(image_url=url)
    if isinstance(part, InputFile):
        raise APIError(400, "input_file parts are not supported", param=param)
    return chat.TextPart(text=_text(part, param))


def _message(item: MessageItem, param: str) -> chat.Message:
    if isinstance(item.content, str):
        return chat.Message(role=item.role, content=item.content)
    parts = [_part(p, f"{param}.content[{i}]") for i, p in enumerate(item.content)]
    if item.role == "assistant" and any(isinstance(p, chat.ImagePart) for p in parts):
        raise APIError(400, "assistant messages take no images", param=f"{param}.content")
    return chat.Message(role=item.role, content=parts)


def _call(item: FunctionCallItem) -> chat.ToolCall:
    return chat.ToolCall(
        id=item.call_id, function=chat.FunctionCall(name=item.name, arguments=item.arguments)
    )


def _output(item: FunctionCallOutputItem, param: str) -> chat.Message:
    if isinstance(item.output, str):
        content = item.output
    else:
        content = "".join(_text(p, f"{param}.output[{i}]") for i, p in enumerate(item.output))
    return chat.Message(role="tool", content=content, tool_call_id=item.call_id)


def input_messages(request: ResponseRequest) -> list[chat.Message]:
    """The request's input items as chat messages; function calls that follow one another (or
    an answer's text) join one assistant message, as chat completions carry them."""
    if isinstance(request.input, str):
        return [chat.Message(role="user", content=request.input)]
    messages: list[chat.Message] = []
    for index, item in enumerate(request.input or ()):
        param = f"input[{index}]"
        if isinstance(item, MessageItem):
            messages.append(_message(item, param))
        elif isinstance(item, FunctionCallOutputItem):
            messages.append(_output(item, param))
        elif messages and messages[-1].role == "assistant":
            last = messages[-1]
            last.tool_calls = [*(last.tool_calls or ()), _call(item)]
        else:
            messages.append(chat.Message(role="assistant", tool_calls=[_call(item)]))
    return messages


def _strict(request: ResponseRequest, strict: bool | None) -> bool:
    """A tool's strict flag as served: what the request says, else strict exactly when a call is
    forced. OpenAI defaults strict to true, but only forced calls are constrained here (chat
    refuses strict otherwise), so an unset flag must not turn every auto request into a 400."""
    if strict is not None:
        return strict
    return request.tool_choice is not None and request.tool_choice not in ("none", "auto")


def _tools(request: ResponseRequest) -> list[chat.Tool] | None:
    if request.tools is None:
        return None
    return [
        chat.Tool(
            function=chat.FunctionDefinition(
                name=tool.name,
                description=tool.description,
                parameters=tool.parameters,
                strict=_strict(request, tool.strict),
            )
        )
        for tool in request.tools
    ]


def _tool_choice(
    request: ResponseRequest,
) -> Literal["none", "auto", "required"] | chat.NamedToolChoice | None:
    choice = request.tool_choice
    if choice is None or isinstance(choice, str):
        return choice
    return chat.NamedToolChoice(function=chat.FunctionName(name=choice.name))


def _response_format(request: ResponseRequest) -> chat.ResponseFormat | None:
    wanted = request.text.format if request.text else None
    if isinstance(wanted, JsonSchemaFormat):
        schema = chat.JsonSchema(
            name=wanted.name,
            description=wanted.description,
            schema=wanted.schema,
            strict=wanted.strict,
        )
        return chat.ResponseFormat(type="json_schema", json_schema=schema)
    if isinstance(wanted, JsonObjectFormat):
        return chat.ResponseFormat(type="json_object")
    return None


def chat_request(
    request: ResponseRequest, history: Sequence[chat.Message], messages: Sequence[chat.Message]
) -> chat.ChatCompletionRequest:
    """The chat completions request that answers ``request``: instructions, then the stored
    conversation (``history``), then this request's input ``messages``."""
    system = (
        [chat.Message(role="system", content=request.instructions)] if request.instructions else []
    )
    return chat.ChatCompletionRequest(
        model=request.model,
        messages=[*system, *history, *messages],
        max_completion_tokens=request.max_output_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        tools=_tools(request),
        tool_choice=_tool_choice(request),
        parallel_tool_calls=request.parallel_tool_calls,
        response_format=_response_format(request),
        user=request.user,
        stream=bool(request.stream),
        logprobs=wants_logprobs(request),
        top_logprobs=request.top_logprobs,
    )


# Chat field names in errors, as the Responses API names them.
_RENAMES = [
    (re.compile(r"^messages(\[.*)?$"), "input"),
    (re.compile(r"^response_format(\..*)?$"), "text.format"),
    (re.compile(r"^(max_completion_tokens|max_tokens)$"), "max_output_tokens"),
    (re.compile(r"^tools\[(\d+)\]\.function(.*)$"), r"tools[\1]\2"),
    (re.compile(r"^tool_choice\.function(.*)$"), r"tool_choice\1"),
]


def rename_param(param: str | None) -> str | None:
    """The Responses field behind a chat field named in an error."""
    for pattern, replacement in _RENAMES:
        if param is not None and pattern.match(param):
            return pattern.sub(replacement, param)
    return param


def echo(request: ResponseRequest) -> dict[str, Any]:
    """The request's settings as a response object repeats them."""
    text_format: Any = {"type": "text"}
    if request.text and request.text.format is not None:
        text_format = msgspec.to_builtins(request.text.format)
    return {
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "metadata": request.metadata or {},
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": request.previous_response_id,
        "prompt_cache_key": request.prompt_cache_key,
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": request.safety_identifier,
        "service_tier": request.service_tier or "default",
        "store": request.store is not False,
        "temperature": request.temperature,
        "text": {"format": text_format},
        "tool_choice": _echo_choice(request),
        "tools": [
            {
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
                "strict": _strict(request, tool.strict),
            }
            for tool in request.tools or ()
        ],
        "top_logprobs": request.top_logprobs,
        "top_p": request.top_p,
        "truncation": "disabled",
        "user": request.user,
    }


def _echo_choice(request: ResponseRequest) -> Any:
    choice = request.tool_choice
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        return choice
    return {"type": "function", "name": choice.name}
