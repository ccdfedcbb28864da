"""Transcripts in OpenAI's response formats: json, text, srt, vtt and verbose_json."""

from __future__ import annotations

from typing import Any

from inferline.v1 import audio_service_pb2 as pb
from inferline_bridge.audio.languages import name

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(response: pb.TranscribeResponse) -> str:
    """SubRip: numbered cues with comma-separated milliseconds."""
    cues = [
        f"{index}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text.strip()}\n"
        for index, s in enumerate(response.segments, start=1)
    ]
    return "\n".join(cues) + ("\n" if cues else "")


def vtt(response: pb.TranscribeResponse) -> str:
    """WebVTT: a header, then cues with dot-separated milliseconds."""
    cues = [
        f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text.strip()}\n"
        for s in response.segments
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def _segment(segment: pb.Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "seek": int(segment.start * 100),
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": list(segment.tokens),
        "temperature": segment.temperature,
        "avg_logprob": segment.avg_logprob,
        "compression_ratio": segment.compression_ratio,
        "no_speech_prob": segment.no_speech_prob,
    }


def verbose_json(
    response: pb.TranscribeResponse, *, translate: bool, granularities: set[str]
) -> dict[str, Any]:
    """The ``verbose_json`` object: task, language, duration, text, segments and/or words."""
    out: dict[str, Any] = {
        "task": "translate" if translate else "transcribe",
        "language": "english" if translate else name(response.info.language),
        "duration": response.info.duration,
        "text": response.text,
    }
    if "segment" in granularities:
        out["segments"] = [_segment(s) for s in response.segments]
    if "word" in granularities:
        out["words"] = [
            {"word": w.word.strip(), "start": w.start, "end": w.end}
            for s in response.segments
            for w in s.words
        ]
    return out
