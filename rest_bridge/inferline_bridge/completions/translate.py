"""Completions: wire <-> proto, pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inferline.v1 import common_pb2
from inferline.v1 import completion_service_pb2 as pb
from inferline_bridge.completions.wire import CompletionRequest
from inferline_bridge.errors import APIError
from inferline_bridge.sampling import finish_reason, sampling_pb, usage_dict

MAX_LOGPROBS = 5  # OpenAI's limit for completions


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
    sampling = sampling_pb(request, request.max_tokens)
    if request.logprobs is not None:
        if isinstance(request.logprobs, bool) or not 0 <= request.logprobs <= MAX_LOGPROBS:
            raise APIError(
                400, f"logprobs must be an integer from 0 to {MAX_LOGPROBS}", param="logprobs"
            )
        sampling.logprobs = True
        sampling.top_logprobs = request.logprobs
    return pb.CompleteRequest(
        model=request.model,
        prompt=_prompt(request.prompt),
        sampling=sampling,
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


def _choice(
    index: int, text: str, finish: str | None, logprobs: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish}


def logprobs_dict(items: Sequence[common_pb2.TokenLogprob], offset: int) -> dict[str, Any]:
    """The legacy completions ``logprobs`` object; text offsets start at ``offset``."""
    offsets = []
    for item in items:
        offsets.append(offset)
        offset += len(item.token)
    return {
        "tokens": [item.token for item in items],
        "token_logprobs": [item.logprob for item in items],
        "top_logprobs": [{alt.token: alt.logprob for alt in item.top_logprobs} for item in items],
        "text_offset": offsets,
    }


def nexa_shaped(request: CompletionRequest) -> bool:
    """Whether a request comes from a Nexa client (no model, or Nexa's field names): such
    clients read ``result``."""
    return not request.model or request.max_new_tokens is not None or request.stop_words is not None


def response_dict(response: pb.CompleteResponse, *, logprobs: bool, nexa: bool) -> dict[str, Any]:
    """The ``text_completion`` object for a CompleteResponse (an echoed prompt's tokens carry
    logprobs too, so text offsets start at 0), with Nexa's ``result`` beside it for Nexa
    clients."""
    choices = [
        _choice(
            c.index,
            c.text,
            finish_reason(c.finish_reason),
            logprobs_dict(c.logprobs, 0) if logprobs else None,
        )
        for c in response.choices
    ]
    out = {**_object(response, choices), "usage": usage_dict(response.usage)}
    if nexa:
        out["result"] = response.choices[0].text if response.choices else ""
    return out


class ChunkWriter:
    """Turns CompleteStream messages into ``text_completion`` chunks; logprobs' text offsets
    count from the start of each choice's text."""

    def __init__(self, include_usage: bool) -> None:
        self._include_usage = include_usage
        self._offsets: dict[int, int] = {}

    def chunks(self, message: pb.CompleteStreamResponse) -> list[dict[str, Any]]:
        """The chunks to send for one stream message."""
        if message.HasField("delta"):
            delta = message.delta
            if not delta.text and not delta.logprobs:
                return []
            offset = self._offsets.get(delta.index, 0)
            self._offsets[delta.index] = offset + len(delta.text)
            logprobs = logprobs_dict(delta.logprobs, offset) if delta.logprobs else None
            out = [_object(message, [_choice(delta.index, delta.text, None, logprobs)])]
        else:
            out = [
                _object(message, [_choice(end.index, "", finish_reason(end.finish_reason))])
                for end in message.final.choices
            ]
            if self._include_usage:
                out.append({**_object(message, []), "usage": usage_dict(message.final.usage)})
                return [*({**chunk, "usage": None} for chunk in out[:-1]), out[-1]]
        return [{**chunk, "usage": None} for chunk in out] if self._include_usage else out
