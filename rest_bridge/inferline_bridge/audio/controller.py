"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``: multipart in, OpenAI's
formats out, through AudioService."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.response import Stream

from inferline import AsyncClient
from inferline.v1 import audio_service_pb2 as pb
from inferline_bridge.audio import formats
from inferline_bridge.calls import form_number, sse_response, unless_disconnected
from inferline_bridge.errors import APIError

# OpenAI's model names for its Whisper: served by the default speech model.
ALIASES = {"whisper-1": ""}
GRANULARITIES = {"word", "segment"}


def _streamed(form: Any, translate: bool, response_format: str) -> bool:
    """Whether the transcript streams (OpenAI's transcript.text events: transcriptions only,
    as json or text)."""
    if str(form.get("stream") or "false").lower() in ("false", "0"):
        return False
    if translate:
        raise APIError(400, "translations are not streamed", param="stream")
    if response_format not in ("json", "text"):
        raise APIError(400, "stream takes response_format json or text", param="stream")
    return True


async def _request(
    request: Request[Any, Any, Any], translate: bool
) -> tuple[pb.TranscribeRequest, str, set[str], bool]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise APIError(400, "send the audio as multipart/form-data with a 'file' field")
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise APIError(
            400, "file is required: the audio file, as a multipart file field", param="file"
        )
    if form.getall("include[]", []) or form.getall("include", []):
        raise APIError(400, "include (logprobs) is not supported", param="include[]")
    response_format = str(form.get("response_format") or "json")
    if response_format not in formats.FORMATS:
        raise APIError(
            400,
            f"response_format must be one of {', '.join(formats.FORMATS)}",
            param="response_format",
        )
    granularities = set(form.getall("timestamp_granularities[]", [])) or {"segment"}
    if not granularities <= GRANULARITIES:
        raise APIError(
            400,
            "timestamp_granularities[] takes word and segment",
            param="timestamp_granularities[]",
        )
    if granularities != {"segment"} and response_format != "verbose_json":
        raise APIError(
            400,
            "timestamp_granularities[] needs response_format verbose_json",
            param="timestamp_granularities[]",
        )
    model = str(form.get("model") or "")
    call = pb.TranscribeRequest(
        model=ALIASES.get(model, model),
        audio=await upload.read(),
        mime_type=upload.content_type or "",
        language=str(form.get("language") or ""),
        prompt=str(form.get("prompt") or ""),
        temperature=form_number(form, "temperature", float),
        beam_size=form_number(form, "beam_size", int),
        word_timestamps="word" in granularities,
        # Our extras beside OpenAI's fields (faster-whisper's names; the core checks ranges).
        no_speech_threshold=form_number(form, "no_speech_threshold", float),
        log_prob_threshold=form_number(form, "log_prob_threshold", float),
    )
    return call, response_format, granularities, _streamed(form, translate, response_format)


class _Deltas:
    """TranscribeStream messages as OpenAI's transcript.text.delta events, then one
    transcript.text.done with the whole text."""

    def __init__(self) -> None:
        self._started = False

    def events(self, message: pb.TranscribeStreamResponse) -> list[dict[str, Any]]:
        """The events for one stream message."""
        if message.HasField("segment"):
            text = message.segment.text
            if not self._started:  # the transcript is stripped; so is its first delta
                text = text.lstrip()
            self._started = self._started or bool(text)
            return [{"type": "transcript.text.delta", "delta": text}] if text else []
        if message.HasField("final"):
            return [{"type": "transcript.text.done", "text": message.final.text}]
        return []


def _render(
    response: pb.TranscribeResponse, response_format: str, translate: bool, granularities: set[str]
) -> Response[Any]:
    if response_format == "text":
        return Response(response.text + "\n", media_type="text/plain")
    if response_format == "srt":
        return Response(formats.srt(response), media_type="text/plain")
    if response_format == "vtt":
        return Response(formats.vtt(response), media_type="text/vtt")
    if response_format == "verbose_json":
        body = formats.verbose_json(response, translate=translate, granularities=granularities)
        return Response(body)
    return Response({"text": response.text})


class AudioController(Controller):
    """OpenAI speech to text."""

    path = "/v1/audio"

    @post("/transcriptions", status_code=200)
    async def transcriptions(
        self, request: Request[Any, Any, Any], client: NamedDependency[AsyncClient]
    ) -> Response[Any] | Stream:
        """Transcribe an audio file in its own language, whole or streamed."""
        call, response_format, granularities, streamed = await _request(request, False)
        if streamed:
            stream = client.transcribe_stream(request=call)
            return await sse_response(request, stream, _Deltas().events, done=None)
        reply = await unless_disconnected(request, client.transcribe(request=call))
        return _render(reply, response_format, False, granularities)

    @post("/translations", status_code=200)
    async def translations(
        self, request: Request[Any, Any, Any], client: NamedDependency[AsyncClient]
    ) -> Response[Any]:
        """Transcribe an audio file into English."""
        call, response_format, granularities, _ = await _request(request, True)
        reply = await unless_disconnected(request, client.translate(request=call))
        return _render(reply, response_format, True, granularities)
