"""AudioService: speech to text on the registry's Whisper models, whole or segment by segment.

Audio travels in one message: the core raises gRPC's message limit to 64 MiB for it (the bridge
takes files up to its body limit, 26 MB by default, like OpenAI's 25 MB).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from inferline.v1 import audio_service_pb2 as pb
from inferline.v1 import audio_service_pb2_grpc as pb_grpc
from inferline_core.engines.base import (
    SpeechEvent,
    SpeechInfo,
    SpeechOptions,
    SpeechSegment,
    Transcriber,
)
from inferline_core.errors import InvalidArgument, grpc_errors, grpc_stream_errors
from inferline_core.registry import Registry
from inferline_core.services import common

MAX_BEAM = 16
# The lowest log_prob_threshold taken: far below any real segment's average (-0.2 to -2), so
# it already means "keep every window"; a finite bound keeps -inf and float overflow out.
MIN_LOG_PROB = -100.0


def _ranged(request: pb.TranscribeRequest, field: str, low: float, high: float) -> Any:
    """The optional field's value (None when unset); outside [low, high] or NaN is a refusal."""
    if not request.HasField(field):
        return None
    value = getattr(request, field)
    if not low <= value <= high:  # NaN fails both comparisons
        raise InvalidArgument(f"{field} must be between {low:g} and {high:g}", param=field)
    return value


def _options(request: pb.TranscribeRequest, translate: bool) -> SpeechOptions:
    temperature = _ranged(request, "temperature", 0, 1)
    beam = _ranged(request, "beam_size", 1, MAX_BEAM)
    return SpeechOptions(
        translate=translate,
        language=request.language.strip().lower(),
        prompt=request.prompt,
        temperature=temperature,
        beam_size=beam,
        vad_filter=request.vad_filter,
        word_timestamps=request.word_timestamps,
        no_speech_threshold=_ranged(request, "no_speech_threshold", 0, 1),
        log_prob_threshold=_ranged(request, "log_prob_threshold", MIN_LOG_PROB, 0),
    )


def _info_pb(info: SpeechInfo) -> pb.TranscriptionInfo:
    return pb.TranscriptionInfo(
        language=info.language,
        language_probability=info.language_probability,
        duration=info.duration,
    )


def _segment_pb(segment: SpeechSegment) -> pb.Segment:
    return pb.Segment(
        id=segment.id,
        start=segment.start,
        end=segment.end,
        text=segment.text,
        tokens=segment.tokens,
        temperature=segment.temperature,
        avg_logprob=segment.avg_logprob,
        compression_ratio=segment.compression_ratio,
        no_speech_prob=segment.no_speech_prob,
        words=[
            pb.Word(word=w.word, start=w.start, end=w.end, probability=w.probability)
            for w in segment.words
        ],
    )


class AudioServicer(pb_grpc.AudioServiceServicer):
    """Transcribe and Translate, whole or streamed."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def _events(
        self, request: pb.TranscribeRequest, context: Any, translate: bool
    ) -> tuple[str, AsyncIterator[SpeechEvent]]:
        options = _options(request, translate)
        kind = "translation" if translate else "transcription"
        lease = await self._registry.transcriber(request.model, kind, common.keep_alive(request))
        engine: Transcriber = lease.engine

        def work(cancel: threading.Event) -> Iterator[SpeechEvent]:
            return engine.transcribe(request.audio, options, cancel=cancel)

        return lease.id, common.leased_events(lease, work, context)

    async def _whole(
        self, request: pb.TranscribeRequest, context: Any, translate: bool
    ) -> pb.TranscribeResponse:
        model, events = await self._events(request, context, translate)
        response = pb.TranscribeResponse(model=model)
        async for event in events:
            if isinstance(event, SpeechInfo):
                response.info.CopyFrom(_info_pb(event))
            else:
                response.segments.append(_segment_pb(event))
        response.text = "".join(segment.text for segment in response.segments).strip()
        return response

    async def _stream(
        self, request: pb.TranscribeRequest, context: Any, translate: bool
    ) -> AsyncIterator[pb.TranscribeStreamResponse]:
        model, events = await self._events(request, context, translate)
        final = pb.TranscribeResponse(model=model)
        async for event in events:
            if isinstance(event, SpeechInfo):
                final.info.CopyFrom(_info_pb(event))
                yield pb.TranscribeStreamResponse(info=final.info)
            else:
                segment = _segment_pb(event)
                final.segments.append(segment)
                yield pb.TranscribeStreamResponse(segment=segment)
        final.text = "".join(segment.text for segment in final.segments).strip()
        yield pb.TranscribeStreamResponse(final=final)

    @grpc_errors
    async def Transcribe(
        self, request: pb.TranscribeRequest, context: Any
    ) -> pb.TranscribeResponse:
        """The whole transcript."""
        return await self._whole(request, context, translate=False)

    @grpc_errors
    async def Translate(self, request: pb.TranscribeRequest, context: Any) -> pb.TranscribeResponse:
        """The whole transcript, in English."""
        return await self._whole(request, context, translate=True)

    @grpc_stream_errors
    async def TranscribeStream(
        self, request: pb.TranscribeRequest, context: Any
    ) -> AsyncIterator[pb.TranscribeStreamResponse]:
        """The info, each segment as it is decoded, then the whole transcript."""
        async for message in self._stream(request, context, translate=False):
            yield message

    @grpc_stream_errors
    async def TranslateStream(
        self, request: pb.TranscribeRequest, context: Any
    ) -> AsyncIterator[pb.TranscribeStreamResponse]:
        """As TranscribeStream, in English."""
        async for message in self._stream(request, context, translate=True):
            yield message
