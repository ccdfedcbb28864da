"""Completions: wire <-> proto, pure functions, no I/O."""

from __future__ import annotations

from typing import Any

from inferline.v1 import completion_service_pb2 as pb
from rest_bridge.completions.wire import CompletionRequest
from rest_bridge.errors import APIError
from rest_bridge.sampling import finish_reason, sampling_pb, usage_dict


def _prompt(prompt: str | list[Any]) -> str:
    if isinstance(prompt, str):
        return prompt
    if len(prompt) == 1 and isinstance(prompt[0], str):
        return prompt[0]
    if prompt and all(isinstance(item, str) for item in prompt):
        raise APIError(
            400,
            "send one prompt per request; lists of prompts are not supported yet",
            param="prompt",
        )
    raise APIError(400, "token-id prompts are not supported yet", param="prompt")


def request_pb(request: CompletionRequest) -> pb.CompleteRequest:
    """The CompleteRequest for an OpenAI completions request."""
    if request.best_of not in (None, 1):
        raise APIError(400, "best_of is not supported by this server yet", param="best_of")
    return pb.CompleteRequest(
        model=request.model,
        prompt=_prompt(request.prompt),
        sampling=sampling_pb(request, request.max_tokens),
        n=request.n or 0,
        echo=request.echo,
        suffix=request.suffix or "",
        user=request.user or "",
    )


def _object(
    message: pb.CompleteResponse | pb.CompleteStreamResponse, choices: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": message.id,
        "object": "text_completion",
        "created": message.created,
        "model": message.model,
        "system_fingerprint": None,
        "choices": choices,
    }


def _choice(index: int, text: str, finish: str | None) -> dict[str, Any]:
    return {"index": index, "text": text, "logprobs": None, "finish_reason": finish}


def response_dict(response: pb.CompleteResponse) -> dict[str, Any]:
    """The ``text_completion`` object for a CompleteResponse."""
    choices = [_choice(c.index, c.text, finish_reason(c.finish_reason)) for c in response.choices]
    return {**_object(response, choices), "usage": usage_dict(response.usage)}


def chunks(message: pb.CompleteStreamResponse, include_usage: bool) -> list[dict[str, Any]]:
    """The ``text_completion`` chunks to send for one stream message."""
    if message.HasField("delta"):
        if not message.delta.text:
            return []
        out = [_object(message, [_choice(message.delta.index, message.delta.text, None)])]
    else:
        out = [
            _object(message, [_choice(end.index, "", finish_reason(end.finish_reason))])
            for end in message.final.choices
        ]
        if include_usage:
            out.append({**_object(message, []), "usage": usage_dict(message.final.usage)})
            return [*({**chunk, "usage": None} for chunk in out[:-1]), out[-1]]
    return [{**chunk, "usage": None} for chunk in out] if include_usage else out
