"""Conversions and checks shared by the text servicers: sampling, choices, usage, streaming."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from inferline.v1 import common_pb2 as pb
from inferline_core.engines.base import (
    Finish,
    FinishReason,
    GenerationEvent,
    Sampling,
    TextDelta,
    TextGenerator,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
)
from inferline_core.engines.stream_interval import coalesce
from inferline_core.exceptions import InvalidArgument
from inferline_core.registry import Lease, Registry
from inferline_core.scheduler import Pace

MAX_CHOICES = 8
E = TypeVar("E")
MAX_TOP_LOGPROBS = 20
_FINISH: dict[FinishReason, pb.FinishReason] = {
    FinishReason.STOP: pb.FINISH_REASON_STOP,
    FinishReason.LENGTH: pb.FINISH_REASON_LENGTH,
    FinishReason.TOOL_CALLS: pb.FINISH_REASON_TOOL_CALLS,
}
# (field, lowest, highest): OpenAI's ranges where it has them, llama.cpp's otherwise.
_RANGES: tuple[tuple[str, float, float], ...] = (
    ("temperature", 0.0, 2.0),
    ("top_p", 0.0, 1.0),
    ("top_k", 0, 1_000_000),
    ("min_p", 0.0, 1.0),
    ("presence_penalty", -2.0, 2.0),
    ("frequency_penalty", -2.0, 2.0),
    ("repeat_penalty", 0.0, 10.0),
    ("max_tokens", 0, 2**31 - 1),
)


def sampling_from_pb(params: pb.SamplingParams) -> Sampling:
    """Check the request's sampling parameters and convert them; unset stays None."""
    for name, low, high in _RANGES:
        if params.HasField(name) and not low <= getattr(params, name) <= high:
            raise InvalidArgument(f"{name} must be between {low} and {high}", param=name)
    top_logprobs = params.top_logprobs if params.HasField("top_logprobs") else 0
    if not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
        raise InvalidArgument(
            f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}", param="top_logprobs"
        )
    if top_logprobs and not params.logprobs:
        raise InvalidArgument("top_logprobs needs logprobs to be true", param="top_logprobs")
    for token, bias in params.logit_bias.items():
        if not -100 <= bias <= 100:
            raise InvalidArgument(
                f"logit_bias for token {token} must be in [-100, 100]", param="logit_bias"
            )
    if len(params.stop) > 4 or any(not stop for stop in params.stop):
        raise InvalidArgument("stop takes up to 4 non-empty sequences", param="stop")

    def value(name: str) -> Any:
        return getattr(params, name) if params.HasField(name) else None

    return Sampling(
        **{name: value(name) for name, _, _ in _RANGES},
        seed=value("seed"),
        stop=tuple(params.stop),
        logit_bias=dict(params.logit_bias),
        logprobs=params.logprobs,
        top_logprobs=top_logprobs,
    )


def choice_count(n: int) -> int:
    """The number of choices asked for (0 means 1)."""
    if not 0 <= n <= MAX_CHOICES:
        raise InvalidArgument(f"n must be between 1 and {MAX_CHOICES}", param="n")
    return n or 1


def new_id(prefix: str) -> str:
    """A unique response id such as ``chatcmpl-3f2a...``."""
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    """Seconds since the Unix epoch."""
    return int(time.time())


def finish_pb(reason: FinishReason) -> pb.FinishReason:
    """The proto enum for a finish reason."""
    return _FINISH[reason]


def usage_pb(finishes: list[Finish]) -> pb.Usage:
    """Usage of a request: the prompt counted once (with the first choice's reuse of a cache),
    completion tokens summed over choices."""
    prompt = finishes[0].prompt_tokens if finishes else 0
    cached = finishes[0].cached_tokens if finishes else 0
    completion = sum(finish.completion_tokens for finish in finishes)
    return pb.Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cached_tokens=cached,
    )


def final_pb(finishes: list[Finish]) -> pb.StreamFinal:
    """The final chunk of a stream."""
    choices = [pb.ChoiceFinish(index=f.index, finish_reason=finish_pb(f.reason)) for f in finishes]
    return pb.StreamFinal(choices=choices, usage=usage_pb(finishes))


Work = Callable[[threading.Event], Iterator[GenerationEvent]]
OneChoice = Callable[[TextGenerator, int, threading.Event], Iterator[GenerationEvent]]


def choices_work(n: int, one: OneChoice) -> Callable[[TextGenerator], Work]:
    """Work that generates ``n`` choices one after another on the model's thread."""

    def make(engine: TextGenerator) -> Work:
        def work(cancel: threading.Event) -> Iterator[GenerationEvent]:
            for index in range(n):
                yield from one(engine, index, cancel)

        return work

    return make


def keep_alive(request: Any) -> float | None:
    """The request's keep_alive in seconds, or None when it sets none."""
    if not request.HasField("keep_alive"):
        return None
    return float(request.keep_alive.ToTimedelta().total_seconds())


async def run(
    registry: Registry,
    request: Any,
    kind: str,
    make_work: Callable[[TextGenerator], Work],
    context: Any,
) -> tuple[str, AsyncIterator[GenerationEvent]]:
    """Queue a request on its model; return the model's id and the events.

    ``make_work`` gets the loaded engine and returns the work to run in the model's thread. The
    RPC's end (client cancel, deadline) sets the job's cancel flag, so the engine stops within
    one token even while this coroutine is not reading. The request holds its model (no
    unloading) until its events end. Text deltas come in the model's ``stream_interval``.
    """
    lease = await registry.text_model(request.model, kind, keep_alive(request))
    interval = lease.stream_interval
    pace = partial(coalesce, interval=interval) if interval > 1 else None
    return lease.id, leased_events(lease, make_work(lease.engine), context, pace)


def leased_events(
    lease: Lease[Any],
    work: Callable[[threading.Event], Iterator[E]],
    context: Any,
    pace: Pace[E] | None = None,
) -> AsyncIterator[E]:
    """Queue ``work`` on the leased model; its events (through ``pace``, when given), with the
    lease held until they end.

    The RPC's end (client cancel, deadline) cancels the job and ends the lease too, so a
    cancelled request never holds its model.
    """
    try:
        job = lease.worker.submit(work, lease.watch(), pace)
    except BaseException:
        lease.release()
        raise

    def rpc_done(_: object) -> None:
        job.stop()
        lease.release()

    context.add_done_callback(rpc_done)
    job.on_stall = lease.release  # a stalled reader holds no model

    async def events() -> AsyncIterator[E]:
        try:
            async for event in job.events():
                yield event
        finally:
            lease.release()

    return events()


def logprobs_pb(logprobs: tuple[TokenLogprob, ...] | list[TokenLogprob]) -> list[pb.TokenLogprob]:
    """Token log probabilities as protos."""
    return [
        pb.TokenLogprob(
            token=item.token,
            logprob=item.logprob,
            bytes=item.bytes,
            top_logprobs=[
                pb.TopLogprob(token=alt.token, logprob=alt.logprob, bytes=alt.bytes)
                for alt in item.top
            ],
        )
        for item in logprobs
    ]


def tool_call_delta_pb(delta: ToolCallDelta) -> pb.ToolCallDelta:
    """A tool-call fragment as a proto."""
    return pb.ToolCallDelta(
        index=delta.call, id=delta.id, name=delta.name, arguments=delta.arguments
    )


@dataclass
class Answer:
    """One choice of a non-streamed answer, gathered from its events."""

    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)

    def add(self, event: TextDelta | ToolCallDelta) -> None:
        """Fold one event into the answer."""
        if isinstance(event, TextDelta):
            self.text += event.text
            self.logprobs.extend(event.logprobs)
        elif event.id:
            self.calls.append(ToolCall(event.id, event.name, event.arguments))
        else:
            last = self.calls[-1]
            self.calls[-1] = ToolCall(last.id, last.name, last.arguments + event.arguments)


async def collect(events: AsyncIterator[GenerationEvent]) -> tuple[dict[int, Answer], list[Finish]]:
    """Gather a non-streamed answer: each choice's text, tool calls and logprobs, and how each
    choice ended."""
    answers: dict[int, Answer] = {}
    finishes: list[Finish] = []
    async for event in events:
        if isinstance(event, Finish):
            finishes.append(event)
        else:
            answers.setdefault(event.index, Answer()).add(event)
    return answers, sorted(finishes, key=lambda finish: finish.index)
