"""The configuration's schema: frozen msgspec Structs that forbid unknown fields.

`config.toml` in the shape users know: ``[api]`` (the REST bridge and the models it offers),
``[api.models.NAME]`` and ``[core]`` (the gRPC core, which owns the models).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from inferline_core.cpus import default_threads

ModelType = Literal["chat", "completion", "embedding", "image", "audio", "vision"]
Backend = Literal["llama_cpp", "onnx", "diffusers", "whisper"]
FlashAttention = Literal["auto", "on", "off"]


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
    # llama.cpp models: "auto" | "on" | "off"; unset: [core] flash_attention.
    flash_attention: FlashAttention | None = None
    # Requests a llama.cpp text model serves at once (continuous batching), each with
    # context_length tokens; unset: [core] parallel. Vision models batch too.
    parallel: int | None = None
    # Tokens per streamed message after the first; unset: [core] stream_interval.
    stream_interval: Annotated[int, msgspec.Meta(ge=1)] | None = None
    # How long the model stays loaded after a request: "5m", "30s", "1h", "0" (unload at
    # once), "-1" (keep); unset: [core] keep_alive.
    keep_alive: str | None = None
    # Whisper models: whether the model knows languages besides English, and so translates;
    # unset: as the loaded model says (until it loads, translation is listed).
    multilingual: bool | None = None

    def keep_alive_seconds(self, default: float) -> float:
        """This model's keep-alive in seconds (negative: keep)."""
        return default if self.keep_alive is None else parse_duration(self.keep_alive)


class ApiConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The `[api]` table: the REST bridge and the models it offers."""

    # false: `serve` starts the gRPC core only, no REST bridge (CyxWiz's switch).
    enabled: bool = True
    address: str = "127.0.0.1:18181"
    # Keys clients must send (Authorization: Bearer, or x-api-key): one key as a string (as
    # CyxWiz writes it) or a list of keys; a key file holds one per line.
    api_key: str | list[str] = msgspec.field(default_factory=list)
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
    # At most this many images and megabytes there; the oldest go first to make room.
    output_max_files: Annotated[int, msgspec.Meta(ge=1)] = 1000
    output_max_mb: Annotated[float, msgspec.Meta(gt=0)] = 1024.0
    # Folders image paths (Nexa's `image_path`, `file://` and plain paths in chat image parts)
    # may read from; none by default.
    image_folders: list[str] = msgspec.field(default_factory=list)
    # Chat images given as http(s) URLs: fetched by the bridge, never from private, loopback
    # or link-local addresses unless listed here (IPs or CIDR ranges).
    image_url_allowed: list[str] = msgspec.field(default_factory=list)
    max_image_mb: float = 20.0
    # One deadline for a whole image fetch: connect, redirects and body.
    image_fetch_timeout_s: float = 10.0
    # An HTTP(S) proxy for those fetches (http://host:port); unset: direct. Proxy variables from
    # the environment are never used. The proxy resolves names itself: it must refuse internal
    # addresses too.
    image_fetch_proxy: Annotated[str, msgspec.Meta(pattern=r"^https?://")] | None = None
    # /v1/responses keeps at most this many responses in memory, each for at most
    # responses_ttl_s seconds, for previous_response_id and GET /v1/responses/{id}; 0: none.
    responses_max_stored: int = 1000
    responses_ttl_s: float = 3600.0
    # GET /metrics needs no key even when keys are required (it is never rate limited).
    metrics_public: bool = False
    # Export the bridge's traces over OTLP/gRPC here; OTEL_EXPORTER_OTLP_ENDPOINT works too.
    otlp_endpoint: str = ""
    # HTTPS for the bridge: both files, or neither.
    tls_cert: str | None = None
    tls_key: str | None = None
    models: dict[str, ModelConfig] = msgspec.field(default_factory=dict)

    def keys(self) -> list[str]:
        """Every configured key, the key file's included."""
        keys = [self.api_key] if isinstance(self.api_key, str) else list(self.api_key)
        keys = [key for key in keys if key]
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
    # llama.cpp's flash attention for every llama.cpp model: "auto" (llama.cpp decides; on for
    # the CPU) is fastest, but then a greedy or seeded answer may change with what ran before
    # (where its KV cells lie); "off" makes them repeat exactly.
    flash_attention: FlashAttention = "auto"
    threads: int | None = None
    model_store: str = "~/.cache/inferline/models"
    max_loaded_models: int = 4
    # Where `inferline pull` and PullModel download from: a Hugging Face-compatible hub.
    hub_endpoint: str = "https://huggingface.co"
    max_queue: int = 16
    # A request's answer waits for its reader in a buffer of this many chunks; when it is full
    # generation pauses, and after stalled_reader_timeout_s seconds without room the request
    # is cancelled (a client that stays connected but stops reading holds nothing for long).
    stream_buffer: Annotated[int, msgspec.Meta(ge=1)] = 64
    stalled_reader_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    # A text answer's tokens per message after its first, which leaves at once: 1 sends each
    # token as it comes; 4 sends a quarter of the messages, which on a machine whose cores all
    # decode gives the decode back the time those take (a few per cent at one stream), while
    # text arrives in bursts of four tokens. Per model too.
    stream_interval: Annotated[int, msgspec.Meta(ge=1)] = 1
    drain_seconds: float = 10.0
    # Load the default model of each kind at start; the gRPC health service reports NOT_SERVING
    # until they have loaded (a Kubernetes readiness probe then waits for them).
    preload: bool = False
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
    # With no core.api_key, the [api] keys (api_key and api_key_file) guard the gRPC port too,
    # so a key set for REST never leaves the models open on gRPC; false leaves gRPC keyless.
    use_api_keys: bool = True
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
    # Prometheus metrics on their own HTTP port (HOST:PORT, path /metrics); empty: off.
    metrics_address: str = ""
    # Export traces over OTLP/gRPC here (http://HOST:4317); OTEL_EXPORTER_OTLP_ENDPOINT works
    # too. With neither, nothing is traced.
    otlp_endpoint: str = ""

    @property
    def store_path(self) -> Path:
        """The model store folder, with ``~`` expanded."""
        return Path(os.path.expanduser(self.model_store))

    @property
    def thread_count(self) -> int:
        """CPU threads per model: the configured number, else ``cpus.default_threads()``
        (physical cores this process may use, at most its cgroup's CPU quota)."""
        return self.threads or default_threads()


class SupervisorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The `[supervisor]` table: how `inferline serve` restarts a core or bridge that died."""

    # The first restart waits this long; each further one twice as long, up to the cap.
    restart_backoff_s: float = 0.5
    restart_backoff_max_s: float = 30.0
    # A child that has run this long counts as healthy: its next restart waits the first delay.
    healthy_after_s: float = 60.0
    # This many deaths of one child within the window is a crash loop: `serve` gives up.
    crash_loop_deaths: int = 5
    crash_loop_window_s: float = 120.0
    # How long the core may take to answer its health check the first time.
    core_start_timeout_s: float = 300.0


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole configuration file."""

    api: ApiConfig = msgspec.field(default_factory=ApiConfig)
    core: CoreConfig = msgspec.field(default_factory=CoreConfig)
    supervisor: SupervisorConfig = msgspec.field(default_factory=SupervisorConfig)

    def core_tokens(self) -> list[str]:
        """The tokens the gRPC port accepts: core.api_key, else (with core.use_api_keys) the
        [api] keys; none leaves it open. Clients of the core (the bridge, `serve`) send the
        first."""
        if self.core.api_key or not self.core.use_api_keys:
            return list(self.core.api_key)
        return self.api.keys()
