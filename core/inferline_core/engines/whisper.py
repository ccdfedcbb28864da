"""The faster-whisper engine: CTranslate2 Whisper models from local folders only.

The hub is never asked: a bare name such as "tiny" is refused at load with a clear error
instead of a download attempt. The compute type follows the device: int8 on the CPU, float16
on CUDA. Audio is decoded with PyAV (inside faster-whisper), so anything FFmpeg reads works;
anything else is an INVALID_ARGUMENT naming ``file``.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
from faster_whisper import WhisperModel, decode_audio
from faster_whisper.tokenizer import _LANGUAGE_CODES

from inferline_core.engines.base import (
    SpeechEvent,
    SpeechInfo,
    SpeechOptions,
    SpeechSegment,
    SpokenWord,
)
from inferline_core.exceptions import InvalidArgument

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000


@dataclass(frozen=True, kw_only=True)
class WhisperSettings:
    """How to load one CTranslate2 Whisper folder."""

    path: str
    threads: int = 1
    device: str = "auto"  # auto | cpu | cuda


def _device(wanted: str) -> str:
    if wanted == "cpu":
        return "cpu"
    has_cuda = ctranslate2.get_cuda_device_count() > 0
    if wanted == "cuda" and not has_cuda:
        log.warning("device is cuda but CTranslate2 sees no CUDA device; using the CPU")
    return "cuda" if has_cuda else "cpu"


def _audio(data: bytes) -> object:
    if not data:
        raise InvalidArgument("the audio file is empty", param="file")
    try:
        samples = decode_audio(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
    except Exception as error:  # PyAV raises its own tree for unreadable input
        raise InvalidArgument(
            f"the file could not be read as audio ({type(error).__name__}); send WAV, MP3, "
            "FLAC, OGG, WebM or M4A",
            param="file",
        ) from None
    if not len(samples):
        raise InvalidArgument("the audio file holds no sound", param="file")
    return samples


class WhisperEngine:
    """One loaded Whisper model. Not thread-safe: one worker thread calls it."""

    def __init__(self, settings: WhisperSettings) -> None:
        folder = Path(settings.path)
        if not (folder / "model.bin").is_file():
            raise ValueError(
                f"{settings.path!r} is not a CTranslate2 Whisper folder (no model.bin); this "
                "server loads local folders only and never downloads by name"
            )
        device = _device(settings.device)
        self._model = WhisperModel(
            str(folder),
            device=device,
            compute_type="float16" if device == "cuda" else "int8",
            cpu_threads=settings.threads,
            local_files_only=True,
        )
        log.info("speech model %s on %s", settings.path, self.placement)

    @property
    def placement(self) -> str:
        """Where the model runs and in what precision, as CTranslate2 loaded it: such as
        ``cpu int8_float32`` (int8 weights, float32 arithmetic) or ``cuda float16``."""
        return f"{self._model.model.device} {self._model.model.compute_type}"

    @property
    def multilingual(self) -> bool:
        """Whether the model knows languages other than English."""
        return bool(self._model.model.is_multilingual)

    def _check(self, options: SpeechOptions) -> None:
        if options.language and options.language not in _LANGUAGE_CODES:
            raise InvalidArgument(
                f"{options.language!r} is not a language code Whisper knows (ISO-639-1, "
                "such as en, de, fr)",
                param="language",
            )
        if not self.multilingual:
            if options.translate:
                raise InvalidArgument(
                    "this model is English-only and cannot translate; use a multilingual model",
                    param="model",
                )
            if options.language not in ("", "en"):
                raise InvalidArgument(
                    f"this model is English-only; it cannot transcribe {options.language!r}",
                    param="language",
                )

    def transcribe(
        self, audio: bytes, options: SpeechOptions, *, cancel: threading.Event
    ) -> Iterator[SpeechEvent]:
        """The audio's language and length, then each segment as it is decoded."""
        self._check(options)
        samples = _audio(audio)
        extra = {
            key: value
            for key, value in (
                ("beam_size", options.beam_size),
                ("no_speech_threshold", options.no_speech_threshold),
                ("log_prob_threshold", options.log_prob_threshold),
            )
            if value is not None
        }
        segments, info = self._model.transcribe(
            samples,
            language=options.language or ("en" if not self.multilingual else None),
            task="translate" if options.translate else "transcribe",
            initial_prompt=options.prompt or None,
            temperature=0.0 if options.temperature is None else options.temperature,
            vad_filter=options.vad_filter,
            word_timestamps=options.word_timestamps,
            **extra,
        )
        yield SpeechInfo(info.language, float(info.language_probability), float(info.duration))
        for segment in segments:
            if cancel.is_set():
                return
            words = tuple(
                SpokenWord(w.word, float(w.start), float(w.end), float(w.probability))
                for w in segment.words or ()
            )
            yield SpeechSegment(
                id=segment.id,
                start=float(segment.start),
                end=float(segment.end),
                text=segment.text,
                tokens=tuple(segment.tokens),
                temperature=float(segment.temperature or 0.0),
                avg_logprob=float(segment.avg_logprob),
                compression_ratio=float(segment.compression_ratio),
                no_speech_prob=float(segment.no_speech_prob),
                words=words,
            )

    def close(self) -> None:
        """Drop the model."""
        del self._model
