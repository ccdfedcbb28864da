"""The `inferline` command: serve (core + bridge), core, bridge; pull and models (cli_store)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import click

from inferline import Client
from inferline_core import bridge_launch
from inferline_core.bridge_launch import settings_document
from inferline_core.cli_ps import ps_command
from inferline_core.cli_store import models_group, pull_command, pull_with_progress
from inferline_core.config import Backend, Config, ModelType
from inferline_core.logs import LogFormat, setup_logging
from inferline_core.supervisor import Child, core_command, supervise

DEFAULT_REST_HOST = "127.0.0.1"
DEFAULT_REST_PORT = 18181
DEFAULT_GRPC_ADDRESS = "127.0.0.1:50051"

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A config.toml; flags override it.",
)
NEXA_TYPES: dict[str, ModelType] = {
    "NLP": "chat",
    "COMPUTER_VISION": "image",
    "MULTIMODAL": "vision",
    "AUDIO": "audio",
    "TEXT_EMBEDDING": "embedding",
}
# MODEL, or Nexa's `onnx MODEL`.
_model_argument = click.argument("words", metavar="[onnx] [MODEL]", nargs=-1)
_nexa_options = [
    click.option("-lp", "--local-path", is_flag=True, help="MODEL is a local file (Nexa)."),
    click.option(
        "-mt",
        "--model-type",
        "nexa_type",
        type=click.Choice(list(NEXA_TYPES), case_sensitive=False),
        help="Nexa's name for --type.",
    ),
    click.option(
        "-hf",
        "--huggingface",
        is_flag=True,
        help="Pull MODEL (OWNER/REPO[:FILE]) from the hub first.",
    ),
]
_nctx_option = click.option("--nctx", type=click.IntRange(min=16), help="Context length in tokens.")
_threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="CPU threads per model (default: physical cores, within the CPU quota).",
)
_backend_option = click.option(
    "--backend",
    type=click.Choice(["llama_cpp", "onnx"]),
    help="The engine for a MODEL path [default: onnx for .onnx files and folders, else llama_cpp].",
)
_type_option = click.option(
    "--type",
    "model_type",
    type=click.Choice(["chat", "completion", "embedding", "image", "audio", "vision"]),
    help="What a MODEL path is [default: embedding for onnx, else chat].",
)


def _nexa(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_nexa_options):
        command = option(command)
    return command


_mmproj_option = click.option(
    "--mmproj",
    type=click.Path(exists=True, dir_okay=False),
    help="A vision model's projector GGUF: MODEL is then served as a vision model.",
)
_grpc_option = click.option(
    "--grpc-address", help=f"Where the core listens for gRPC [default: {DEFAULT_GRPC_ADDRESS}]."
)


_metrics_option = click.option(
    "--metrics-address",
    help="Serve the core's Prometheus metrics on HOST:PORT (/metrics) "
    "[default: [core] metrics_address; off].",
)


@click.group()
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    envvar="INFERLINE_LOG_LEVEL",
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    envvar="INFERLINE_LOG_FORMAT",
    type=click.Choice(["text", "json"]),
    help="json: one JSON object per log line.",
)
def main(log_level: str, log_format: str) -> None:
    """inferline: local models behind a typed gRPC core and an OpenAI-compatible REST API."""
    setup_logging(log_level, cast(LogFormat, log_format))
    # The core and bridge processes that serve/bridge start log the same way.
    os.environ["INFERLINE_LOG_LEVEL"], os.environ["INFERLINE_LOG_FORMAT"] = log_level, log_format


def _core_args(
    model: str | None,
    config_path: Path | None,
    nctx: int | None,
    threads: int | None,
    grpc_address: str,
    backend: str | None,
    model_type: str | None,
    metrics_address: str | None,
) -> list[str]:
    args = [model] if model else []
    args += ["--grpc-address", grpc_address]
    if metrics_address:
        args += ["--metrics-address", metrics_address]
    if backend:
        args += ["--backend", backend]
    if model_type:
        args += ["--type", model_type]
    if config_path:
        args += ["--config", str(config_path)]
    if nctx:
        args += ["--nctx", str(nctx)]
    if threads:
        args += ["--threads", str(threads)]
    return args


@main.command()
@_model_argument
@click.option("--host", help=f"REST host [default: {DEFAULT_REST_HOST}].")
@click.option(
    "--port", type=click.IntRange(0, 65535), help=f"REST port [default: {DEFAULT_REST_PORT}]."
)
@_grpc_option
@_nctx_option
@_threads_option
@_backend_option
@_type_option
@_mmproj_option
@_metrics_option
@_nexa
@_config_option
def serve(
    words: tuple[str, ...],
    host: str | None,
    port: int | None,
    grpc_address: str | None,
    nctx: int | None,
    threads: int | None,
    backend: str | None,
    model_type: str | None,
    mmproj: str | None,
    metrics_address: str | None,
    local_path: bool,
    nexa_type: str | None,
    huggingface: bool,
    config_path: Path | None,
) -> None:
    """Serve MODEL: a GGUF or ONNX path, a pulled model's id, or a configured model's id.

    With no MODEL: the configured models, else the bundled Gemma 3 270M (a base model: it
    continues text, it does not follow instructions). The bundled all-MiniLM-L6-v2 embedding
    model is served beside them when none of them embeds.
    """
    from inferline_core.config import BASE_MODEL_NOTE, load_config, serves_default_chat
    from inferline_core.security import client_credentials

    with _config_errors():
        config = load_config(config_path)
        credentials = client_credentials(config.core)
    model, backend, model_type = _model_spec(
        config, words, backend, model_type, local_path, nexa_type, huggingface
    )
    grpc_address = grpc_address or config.core.address
    rest_host, rest_port = _split_address(config.api.address)
    rest_host, rest_port = host or rest_host, port or rest_port
    with _config_errors():
        document = settings_document(config, grpc_address, rest_host, rest_port)
    metrics_address = metrics_address or config.core.metrics_address
    core_args = _core_args(
        model, config_path, nctx, threads, grpc_address, backend, model_type, metrics_address
    )
    if mmproj:
        core_args += ["--mmproj", mmproj]
    scheme = "https" if config.api.tls_cert else "http"
    rest = f"REST on {scheme}://{rest_host}:{rest_port}" if config.api.enabled else "no REST"
    banner = f"inferline: {rest}, gRPC on {grpc_address}"
    if metrics_address:
        banner += f", core metrics on http://{metrics_address}/metrics"
    click.echo(banner)
    if serves_default_chat(config, model):
        click.echo(BASE_MODEL_NOTE)
    tokens = config.core_tokens()
    health = Client(grpc_address, api_key=tokens[0] if tokens else None, credentials=credentials)
    policy = config.supervisor
    core = Child("core", core_command(core_args), policy)
    bridge = (
        Child("bridge", bridge_launch.COMMAND, policy, bridge_launch.environment(document))
        if config.api.enabled
        else None  # [api] enabled = false: the gRPC core alone
    )
    raise SystemExit(supervise(core, bridge, health, policy, config.core.drain_seconds))


@main.command()
@_model_argument
@_grpc_option
@_nctx_option
@_threads_option
@_backend_option
@_type_option
@_mmproj_option
@_metrics_option
@_nexa
@_config_option
def core(
    words: tuple[str, ...],
    grpc_address: str | None,
    nctx: int | None,
    threads: int | None,
    backend: str | None,
    model_type: str | None,
    mmproj: str | None,
    metrics_address: str | None,
    local_path: bool,
    nexa_type: str | None,
    huggingface: bool,
    config_path: Path | None,
) -> None:
    """Run only the gRPC core, which owns the models."""
    from inferline_core.engines.openmp import shorten_idle_spin

    shorten_idle_spin()  # before any engine loads llama.cpp
    from inferline_core.config import load_config, resolve_models
    from inferline_core.server import run_core

    with _config_errors():
        config = load_config(
            config_path,
            grpc_address=grpc_address,
            threads=threads,
            metrics_address=metrics_address,
        )
    model, backend, model_type = _model_spec(
        config, words, backend, model_type, local_path, nexa_type, huggingface
    )
    with _config_errors():
        models = resolve_models(
            config,
            model,
            context_length=nctx,
            backend=cast(Backend | None, backend),
            model_type=cast(ModelType | None, model_type),
            mmproj=mmproj,
        )
    try:
        asyncio.run(run_core(config, models))
    except OSError as error:  # the port is taken, say: one line, not a traceback
        raise click.ClickException(str(error)) from None


@main.command()
@click.option(
    "--core",
    "core_address",
    default=DEFAULT_GRPC_ADDRESS,
    show_default=True,
    help="The core's gRPC address; HOST:PORT[,HOST:PORT...] or dns:///NAME:PORT.",
)
@click.option("--host", help=f"REST host [default: {DEFAULT_REST_HOST}].")
@click.option(
    "--port", type=click.IntRange(0, 65535), help=f"REST port [default: {DEFAULT_REST_PORT}]."
)
@_config_option
def bridge(core_address: str, host: str | None, port: int | None, config_path: Path | None) -> None:
    """Run only the OpenAI-compatible REST bridge in front of one or more cores."""
    from inferline_core.config import load_config

    with _config_errors():
        config = load_config(config_path)
        rest_host, rest_port = _split_address(config.api.address)
        document = settings_document(config, core_address, host or rest_host, port or rest_port)
    # The bridge runs as its own program (python -m inferline_bridge) in this process's place.
    os.execve(sys.executable, list(bridge_launch.COMMAND), bridge_launch.environment(document))


def _model_spec(
    config: Config,
    words: tuple[str, ...],
    backend: str | None,
    model_type: str | None,
    local_path: bool,
    nexa_type: str | None,
    huggingface: bool,
) -> tuple[str | None, str | None, str | None]:
    """MODEL, the backend and the type, from our flags and Nexa's command-line shape."""
    model: str | None
    if len(words) == 2 and words[0] == "onnx":
        backend, model = "onnx", words[1]
    elif len(words) <= 1:
        model = words[0] if words else None
    else:
        raise click.UsageError("expected at most: [onnx] MODEL")
    if nexa_type:
        model_type = model_type or NEXA_TYPES[nexa_type.upper()]
    if local_path and (model is None or not Path(model).expanduser().exists()):
        raise click.BadParameter(f"no local file {model!r}", param_hint="MODEL")
    if huggingface:
        if model is None:
            raise click.UsageError("-hf needs MODEL as OWNER/REPO[:FILE]")
        model = pull_with_progress(config, model).id
    return model, backend, model_type


@contextmanager
def _config_errors() -> Iterator[None]:
    """Show a bad config file, flag or model as a one-line usage error, not a traceback."""
    from inferline_core.config import ConfigError

    try:
        yield
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or DEFAULT_REST_HOST, int(port or DEFAULT_REST_PORT)


main.add_command(ps_command)
main.add_command(pull_command)
main.add_command(models_group)

if __name__ == "__main__":
    main()
