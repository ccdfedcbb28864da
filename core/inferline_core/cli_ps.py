"""`inferline ps`: the loaded models of a core, as `ollama ps` shows them, from ModelService
(so it works against a remote core with ``--core``)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from inferline import Client, InferlineError
from inferline.v1 import model_service_pb2 as pb
from inferline_core.config import ConfigError, load_config

HEADER = ("NAME", "TYPE", "SIZE", "PROCESSOR", "RUNNING", "QUEUED", "UNTIL")


def _size(count: int) -> str:
    units = ("B", "KB", "MB", "GB", "TB")
    value, unit = float(count), 0
    while value >= 1000 and unit < len(units) - 1:
        value, unit = value / 1000, unit + 1
    return f"{count} B" if unit == 0 else f"{value:.1f} {units[unit]}"


def _until(model: pb.Model, now: float) -> str:
    if model.state == pb.MODEL_STATE_LOADING:
        return "loading"
    if model.keep_loaded:
        return "forever"
    if not model.HasField("expire_time"):
        return "while busy"
    left = max(0, round(model.expire_time.ToNanoseconds() / 1e9 - now))
    minutes, seconds = divmod(left, 60)
    return f"in {minutes} min {seconds} s" if minutes else f"in {seconds} s"


def rows(models: list[pb.Model], now: float) -> list[tuple[str, ...]]:
    """One row per loaded (or loading) model."""
    found = [m for m in models if m.state in (pb.MODEL_STATE_LOADED, pb.MODEL_STATE_LOADING)]
    return [
        (
            m.id,
            pb.ModelType.Name(m.type).removeprefix("MODEL_TYPE_").lower(),
            _size(m.loaded_bytes),
            m.placement or "-",
            str(m.running_requests),
            str(m.queued_requests),
            _until(m, now),
        )
        for m in found
    ]


def table(lines: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


@click.command("ps")
@click.option("--core", "core_address", help="The core's gRPC address [default: [core] address].")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A config.toml (for the core's address, token and TLS).",
)
def ps_command(core_address: str | None, config_path: Path | None) -> None:
    """List the loaded models: type, size, where they compute, running and queued requests,
    when they unload."""
    from inferline_core.security import client_credentials

    try:
        config = load_config(config_path)
        credentials = client_credentials(config.core)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    tokens = config.core_tokens()
    address = core_address or config.core.address
    try:
        with Client(address, api_key=tokens[0] if tokens else None, credentials=credentials) as sdk:
            models = sdk.list_models(timeout=10)
    except InferlineError as error:
        raise click.ClickException(f"{address}: {error.message}") from None
    click.echo(table([HEADER, *rows(models, time.time())]))
