"""CompletionService: pb <-> engine types for Complete and CompleteStream, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from inferline.v1 import completion_service_pb2 as pb
from inferline.v1 import completion_service_pb2_grpc as pb_grpc
from inferline_core.engines.base import Finish, Sampling, TextGenerator, ToolCallDelta
from inferline_core.errors import InvalidArgument, grpc_errors, grpc_stream_errors
from inferline_core.registry import Registry
from inferline_core.services import common


def _prepare(request: pb.CompleteRequest) -> tuple[Sampling, int]:
    if request.suffix:
        raise InvalidArgument("suffix is not supported yet", param="suffix")
    return common.sampling_from_pb(request.sampling), common.choice_count(request.n)


def _work(
    request: pb.CompleteRequest, sampling: Sampling, n: int
) -> Callable[[TextGenerator], common.Work]:
    # The engine sends the echoed prompt first, with its tokens' logprobs when asked for.
    return common.choices_work(
        n,
        lambda engine, index, cancel: engine.complete(
            request.prompt, sampling, index=index, cancel=cancel, echo=request.echo
        ),
    )


class CompletionServicer(pb_grpc.CompletionServiceServicer):
    """Complete and CompleteStream on the registry's text models."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @grpc_errors
    async def Complete(self, request: pb.CompleteRequest, context: Any) -> pb.CompleteResponse:
        """Continue the prompt with complete choices."""
        sampling, n = _prepare(request)
        model, events = await common.run(
            self._registry,
            request,
            "completion",
            _work(request, sampling, n),
            context,
        )
        answers, finishes = await common.collect(events)
        choices = []
        for finish in finishes:
            answer = answers.get(finish.index, common.Answer())
            choices.append(
                pb.CompletionChoice(
                    index=finish.index,
                    text=answer.text,
                    finish_reason=common.finish_pb(finish.reason),
                    logprobs=common.logprobs_pb(answer.logprobs),
                )
            )
        return pb.CompleteResponse(
            id=common.new_id("cmpl"),
            model=model,
            created=common.now(),
            choices=choices,
            usage=common.usage_pb(finishes),
        )

    @grpc_stream_errors
    async def CompleteStream(
        self, request: pb.CompleteRequest, context: Any
    ) -> AsyncIterator[pb.CompleteStreamResponse]:
        """Continue the prompt with deltas, then one final chunk."""
        sampling, n = _prepare(request)
        model, events = await common.run(
            self._registry,
            request,
            "completion",
            _work(request, sampling, n),
            context,
        )
        cid, created = common.new_id("cmpl"), common.now()
        finishes: list[Finish] = []
        async for event in events:
            if isinstance(event, Finish):
                finishes.append(event)
                continue
            if isinstance(event, ToolCallDelta) or not (event.text or event.logprobs):
                continue  # raw completions never carry tool calls
            delta = pb.CompletionDelta(
                index=event.index,
                text=event.text,
                logprobs=common.logprobs_pb(event.logprobs),
                tokens=event.tokens,
            )
            yield pb.CompleteStreamResponse(id=cid, model=model, created=created, delta=delta)
        yield pb.CompleteStreamResponse(
            id=cid, model=model, created=created, final=common.final_pb(finishes)
        )
