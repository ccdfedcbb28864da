"""The `inferline` command: serve (core + bridge), core, bridge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from core.config import Backend, ModelType
from core.supervisor import supervise

DEFAULT_REST_HOST = "127.0.0.1"
DEFAULT_REST_PORT = 18181
DEFAULT_GRPC_ADDRESS = "127.0.0.1:50051"

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A config.toml; flags override it.",
)
_model_argument = click.argument("model", required=False)
_nctx_option = click.option("--nctx", type=click.IntRange(min=16), help="Context length in tokens.")
_threads_option = click.option(
    "--threads", type=click.IntRange(min=1), help="CPU threads per model."
)
_backend_option = click.option(
    "--backend",
    type=click.Choice(["llama_cpp", "onnx"]),
    help="The engine for a MODEL path [default: onnx for .onnx files and folders, else llama_cpp].",
)
_type_option = click.option(
    "--type",
    "model_type",
    type=click.Choice(["chat", "completion", "embedding"]),
    help="What a MODEL path is [default: embedding for onnx, else chat].",
)
_grpc_option = click.option(
    "--grpc-address", help=f"Where the core listens for gRPC [default: {DEFAULT_GRPC_ADDRESS}]."
)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@click.group()
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def main(log_level: str) -> None:
    """inferline: local models behind a typed gRPC core and an OpenAI-compatible REST API."""
    _setup_logging(log_level)


def _core_args(
    model: str | None,
    config_path: Path | None,
    nctx: int | None,
    threads: int | None,
    grpc_address: str,
    backend: str | None,
    model_type: str | None,
) -> list[str]:
    args = [model] if model else []
    args += ["--grpc-address", grpc_address]
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
@_config_option
def serve(
    model: str | None,
    host: str | None,
    port: int | None,
    grpc_address: str | None,
    nctx: int | None,
    threads: int | None,
    backend: str | None,
    model_type: str | None,
    config_path: Path | None,
) -> None:
    """Serve MODEL: a GGUF or ONNX path, or a configured model's id.

    With no MODEL: the configured models, else the bundled Gemma 3 270M. The bundled
    all-MiniLM-L6-v2 embedding model is served beside them when none of them embeds.
    """
    from core.config import load_config
    from core.security import client_credentials

    with _config_errors():
        config = load_config(config_path)
        credentials = client_credentials(config.core)
    grpc_address = grpc_address or config.core.address
    rest_host, rest_port = _split_address(config.api.address)
    bridge_args = [
        "--core",
        grpc_address,
        "--host",
        host or rest_host,
        "--port",
        str(port or rest_port),
    ]
    if config_path:
        bridge_args += ["--config", str(config_path)]
    core_args = _core_args(model, config_path, nctx, threads, grpc_address, backend, model_type)
    scheme = "https" if config.api.tls_cert else "http"
    click.echo(
        f"inferline: REST on {scheme}://{host or rest_host}:{port or rest_port}, "
        f"gRPC on {grpc_address}"
    )
    token = config.core.api_key[0] if config.core.api_key else None
    raise SystemExit(supervise(core_args, bridge_args, grpc_address, credentials, token))


@main.command()
@_model_argument
@_grpc_option
@_nctx_option
@_threads_option
@_backend_option
@_type_option
@_config_option
def core(
    model: str | None,
    grpc_address: str | None,
    nctx: int | None,
    threads: int | None,
    backend: Backend | None,
    model_type: ModelType | None,
    config_path: Path | None,
) -> None:
    """Run only the gRPC core, which owns the models."""
    from core.config import load_config, resolve_models
    from core.server import run_core

    with _config_errors():
        config = load_config(config_path, grpc_address=grpc_address, threads=threads)
        models = resolve_models(
            config, model, context_length=nctx, backend=backend, model_type=model_type
        )
    asyncio.run(run_core(config, models))


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
    from core.config import load_config
    from rest_bridge.server import run_bridge
    from rest_bridge.settings import bridge_settings

    with _config_errors():
        config = load_config(config_path)
        settings = bridge_settings(config, core_address)
    rest_host, rest_port = _split_address(config.api.address)
    run_bridge(settings, host=host or rest_host, port=port or rest_port)


@contextmanager
def _config_errors() -> Iterator[None]:
    """Show a bad config file, flag or model as a one-line usage error, not a traceback."""
    from core.config import ConfigError

    try:
        yield
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or DEFAULT_REST_HOST, int(port or DEFAULT_REST_PORT)


if __name__ == "__main__":
    main()
