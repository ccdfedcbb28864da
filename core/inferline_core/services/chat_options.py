"""ChatRequest's tools, tool choice and response format -> ChatOptions, checked.

Every schema that a grammar will enforce is checked here, before the request queues, so an
unsupported keyword is a prompt INVALID_ARGUMENT naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from inferline.v1 import chat_service_pb2 as pb
from inferline.v1 import common_pb2
from inferline_core.engines import json_schema, tool_calls
from inferline_core.engines.base import ChatOptions, JsonOutput, ToolMode, ToolSpec, ToolUse
from inferline_core.exceptions import InvalidArgument

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MODES = {
    common_pb2.TOOL_CHOICE_MODE_NONE: ToolMode.NONE,
    common_pb2.TOOL_CHOICE_MODE_AUTO: ToolMode.AUTO,
    common_pb2.TOOL_CHOICE_MODE_REQUIRED: ToolMode.REQUIRED,
}


def _schema(text: str, param: str) -> Mapping[str, Any]:
    if not text:
        return {}
    try:
        schema = json.loads(text)
    except ValueError as error:
        raise InvalidArgument(f"{param} is not valid JSON: {error}", param=param) from None
    if not isinstance(schema, dict):
        raise InvalidArgument(f"{param} must be a JSON object", param=param)
    return schema


def _tools(request: pb.ChatRequest) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for index, tool in enumerate(request.tools):
        function = tool.function
        if not _NAME.match(function.name):
            raise InvalidArgument(
                f"tools[{index}].function.name must be 1-64 letters, digits, '_' or '-'",
                param=f"tools[{index}].function.name",
            )
        if any(spec.name == function.name for spec in specs):
            raise InvalidArgument(
                f"two tools are named {function.name!r}", param=f"tools[{index}].function.name"
            )
        parameters = _schema(function.parameters_json_schema, f"tools[{index}].function.parameters")
        specs.append(
            ToolSpec(name=function.name, description=function.description, parameters=parameters)
        )
    return specs


def _tool_use(request: pb.ChatRequest) -> ToolUse | None:
    tools = _tools(request)
    choice = request.tool_choice if request.HasField("tool_choice") else None
    kind = choice.WhichOneof("choice") if choice is not None else None
    if not tools:
        if kind is not None and not (
            kind == "mode" and choice and choice.mode == common_pb2.TOOL_CHOICE_MODE_NONE
        ):
            raise InvalidArgument("tool_choice needs tools", param="tool_choice")
        return None
    parallel = request.parallel_tool_calls if request.HasField("parallel_tool_calls") else True
    if kind == "function_name" and choice is not None:
        if all(tool.name != choice.function_name for tool in tools):
            raise InvalidArgument(
                f"tool_choice names {choice.function_name!r}, which is not among the tools",
                param="tool_choice",
            )
        use = ToolUse(
            tools=tools, mode=ToolMode.FUNCTION, function=choice.function_name, parallel=parallel
        )
    else:
        mode = (
            _MODES.get(choice.mode, ToolMode.AUTO) if choice is not None and kind else ToolMode.AUTO
        )
        use = ToolUse(tools=tools, mode=mode, parallel=parallel)
    if use.mode in (ToolMode.FUNCTION, ToolMode.REQUIRED):
        json_schema.check(tool_calls.forced_schema(use), "tools")
    return use


def _json_output(request: pb.ChatRequest) -> JsonOutput | None:
    response_format = request.response_format
    if response_format.type == common_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT:
        return JsonOutput()
    if response_format.type == common_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA:
        schema = _schema(response_format.json_schema, "response_format.json_schema.schema")
        if not schema:
            raise InvalidArgument(
                "response_format json_schema needs a schema", param="response_format"
            )
        json_schema.check(schema, "response_format")
        return JsonOutput(schema=schema)
    return None


def chat_options(request: pb.ChatRequest) -> ChatOptions:
    """The request's tools and output format, checked."""
    use = _tool_use(request)
    output = _json_output(request)
    if output is not None and use is not None and use.mode is not ToolMode.NONE:
        raise InvalidArgument(
            "response_format cannot be combined with tools unless tool_choice is 'none'",
            param="response_format",
        )
    return ChatOptions(tools=use, json=output)
