"""`/v1/audio/transcriptions` and `/v1/audio/translations` on `inferline serve` (the bundled
Whisper models) with the openai SDK and raw multipart."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from inferline_core.config import ENGLISH_SPEECH_MODEL_ID
from tests.e2e.serve import Served, serve


def _post(served: Served, path: str, audio: bytes, **fields: Any) -> httpx.Response:
    files = {"file": ("clip.wav", audio, "audio/wav")}
    return httpx.post(served.base_url + path, files=files, data=fields, timeout=120)


def test_sdk_transcription(client: openai.OpenAI, speech: dict[str, bytes]) -> None:
    result = client.audio.transcriptions.create(
        model=ENGLISH_SPEECH_MODEL_ID, file=("fox.wav", io.BytesIO(speech["en"]))
    )
    # Margin: both bundled models hear "The quick brown fox jump over the lazy dog." at beam 1
    # and 5 (avg_logprob about -0.5, no_speech_prob under 0.05).
    assert "fox" in result.text.lower()
    default = client.audio.transcriptions.create(model="whisper-1", file=("fox.wav", speech["en"]))
    assert "dog" in default.text.lower()  # OpenAI's model name reaches the default model


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK's, not ours
def test_sdk_translation(client: openai.OpenAI, speech: dict[str, bytes]) -> None:
    result = client.audio.translations.create(model="whisper-1", file=("de.wav", speech["de"]))
    # Margin: the clip's window has no_speech_prob 0.32 and avg_logprob -0.52 on Whisper base
    # (dropped only above 0.6 and below -1.0); "Good morning" at beam 1 and 5, int8 and float32.
    assert "morning" in result.text.lower()


def test_formats(served: Served, speech: dict[str, bytes]) -> None:
    model = {"model": ENGLISH_SPEECH_MODEL_ID}
    text = _post(served, "/v1/audio/transcriptions", speech["en"], response_format="text", **model)
    assert text.headers["content-type"].startswith("text/plain") and "fox" in text.text.lower()
    srt = _post(
        served, "/v1/audio/transcriptions", speech["en"], response_format="srt", **model
    ).text
    assert re.match(r"1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n.+\n", srt)
    vtt = _post(
        served, "/v1/audio/transcriptions", speech["en"], response_format="vtt", **model
    ).text
    assert vtt.startswith("WEBVTT\n\n")
    assert re.search(r"\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n", vtt)
    verbose = _post(
        served,
        "/v1/audio/transcriptions",
        speech["en"],
        response_format="verbose_json",
        **{"timestamp_granularities[]": ["word", "segment"]},
        **model,
    ).json()
    assert verbose["task"] == "transcribe" and verbose["language"] == "english"
    assert verbose["duration"] > 2 and "fox" in verbose["text"].lower()
    segment = verbose["segments"][0]
    assert {
        "id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
        "compression_ratio", "no_speech_prob",
    } <= set(segment)  # fmt: skip
    # tiny.en on this clip: no_speech_prob 0.04, avg_logprob -0.56 (far inside both ranges).
    assert 0 < segment["no_speech_prob"] < 1 and segment["avg_logprob"] < 0
    assert any(w["word"].lower().strip(".,") == "fox" for w in verbose["words"])
    translated = _post(
        served, "/v1/audio/translations", speech["de"], response_format="verbose_json"
    )
    assert translated.json()["task"] == "translate"
    # Margin as in test_sdk_translation: the German clip is far from the no-speech rule.
    assert "morning" in translated.json()["text"].lower()
    assert json.loads(_post(served, "/v1/audio/translations", speech["de"]).text)["text"]


@pytest.mark.parametrize(
    ("audio", "fields", "param"),
    [
        (b"", {}, "file"),
        (b"definitely not audio " * 100, {}, "file"),
        (None, {"language": "xx"}, "language"),
        (None, {"response_format": "xml"}, "response_format"),
        (None, {"temperature": "warm"}, "temperature"),
        (None, {"timestamp_granularities[]": "word"}, "timestamp_granularities[]"),
        (None, {"no_speech_threshold": "1.5"}, "no_speech_threshold"),
        (None, {"no_speech_threshold": "often"}, "no_speech_threshold"),
        (None, {"log_prob_threshold": "0.5"}, "log_prob_threshold"),
        (None, {"log_prob_threshold": "-inf"}, "log_prob_threshold"),
    ],
)
def test_bad_input_is_400(
    served: Served,
    speech: dict[str, bytes],
    audio: bytes | None,
    fields: dict[str, str],
    param: str,
) -> None:
    response = _post(
        served, "/v1/audio/transcriptions", speech["en"] if audio is None else audio, **fields
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert httpx.get(served.base_url + "/health").status_code == 200


# Our extra form fields (faster-whisper's names): 0 and 0 drop every window, since any decoded
# speech has no_speech_prob above 0 and avg_logprob below 0 (tiny.en: 0.04 and -0.56 here;
# Whisper base on the German clip: 0.32 and -0.52); 1 drops none.
DROP_ALL = {"no_speech_threshold": 0, "log_prob_threshold": 0}


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK's, not ours
def test_thresholds_as_extra_form_fields(client: openai.OpenAI, speech: dict[str, bytes]) -> None:
    fox = ("fox.wav", speech["en"])
    dropped = client.audio.transcriptions.create(
        model=ENGLISH_SPEECH_MODEL_ID, file=fox, response_format="verbose_json", extra_body=DROP_ALL
    )
    assert dropped.text == "" and not dropped.segments and dropped.duration > 3
    kept = client.audio.transcriptions.create(
        model=ENGLISH_SPEECH_MODEL_ID,
        file=fox,
        response_format="verbose_json",
        extra_body={"no_speech_threshold": 1},
    )
    assert "fox" in kept.text.lower() and kept.segments
    assert all(s.no_speech_prob > 0 and s.avg_logprob < 0 for s in kept.segments)
    silent = client.audio.translations.create(
        model="whisper-1", file=("de.wav", speech["de"]), extra_body=DROP_ALL
    )
    assert silent.text == ""
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.translations.create(
            model="whisper-1", file=("de.wav", speech["de"]), extra_body={"no_speech_threshold": 2}
        )
    assert refused.value.param == "no_speech_threshold"


def test_missing_file_and_json_body_are_400(served: Served) -> None:
    as_json = httpx.post(served.base_url + "/v1/audio/transcriptions", json={"model": "whisper-1"})
    assert as_json.status_code == 400
    no_file = httpx.post(served.base_url + "/v1/audio/transcriptions", files={"model": (None, "x")})
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"


def test_file_over_the_limit_is_413(tiny_chat_gguf: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[api]\nmax_body_mb = 1\n")
    with serve([str(tiny_chat_gguf), "--config", str(config)], tmp_path) as running:
        response = _post(running, "/v1/audio/transcriptions", b"\0" * (2 * 1024 * 1024))
        assert response.status_code == 413
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_english_only_model_does_not_list_translation(client: openai.OpenAI) -> None:
    listed = {m.id: getattr(m, "capabilities", None) for m in client.models.list().data}
    assert listed[ENGLISH_SPEECH_MODEL_ID] == ["transcription"]
    assert "translation" in listed["whisper-base"]


def test_streamed_transcription(client: openai.OpenAI, speech: dict[str, bytes]) -> None:
    """OpenAI's transcript.text.delta events as segments are decoded, then transcript.text.done
    with the whole text."""
    stream = client.audio.transcriptions.create(
        model="whisper-1", file=("fox.wav", speech["en"]), stream=True
    )
    events = list(stream)
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    done = [e.text for e in events if e.type == "transcript.text.done"]
    assert deltas and len(done) == 1 and events[-1].type == "transcript.text.done"
    assert "".join(deltas) == done[0]
    assert "fox" in done[0].lower()  # the same margin as test_sdk_transcription


def test_stream_limits_and_include_are_refused_by_name(
    served: Served, client: openai.OpenAI, speech: dict[str, bytes]
) -> None:
    for path, fields in (
        ("/v1/audio/transcriptions", {"stream": "true", "response_format": "srt"}),
        ("/v1/audio/translations", {"stream": "true"}),
    ):
        response = _post(served, path, speech["en"], **fields)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "stream"
    with pytest.raises(openai.BadRequestError) as included:
        client.audio.transcriptions.create(
            model="whisper-1",
            file=("fox.wav", speech["en"]),
            include=["logprobs"],
        )
    assert included.value.param == "include[]"
