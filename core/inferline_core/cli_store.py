"""`inferline pull` and `inferline models`: the model store from the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from inferline_core.config import Config, ConfigError, load_config
from inferline_core.store import PullError, Store, StoredModel

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A config.toml (for core.model_store and core.hub_endpoint).",
)


def _config(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def pull_with_progress(
    config: Config, reference: str, *, endpoint: str | None = None, revision: str = "main"
) -> StoredModel:
    """Pull ``reference`` into the store, drawing a progress bar per file."""
    # Imported here, not with the module: `inferline core` loads this command group too, and
    # httpx and rich added 4.7 MiB to the core's resident size.
    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from inferline_core.hub import pull

    store = Store(config.core.store_path)
    columns = ("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True)) as bars:
        tasks: dict[str, object] = {}

        def progress(file: str, done: int, total: int) -> None:
            if file not in tasks:
                tasks[file] = bars.add_task(file, total=total or None)
            bars.update(tasks[file], completed=done, total=total or None)  # type: ignore[arg-type]

        try:
            return asyncio.run(
                pull(
                    store,
                    reference,
                    endpoint=endpoint or config.core.hub_endpoint,
                    revision=revision,
                    progress=progress,
                )
            )
        except (PullError, httpx.HTTPError) as error:
            raise click.ClickException(f"pull failed: {error}") from None


@click.command("pull")
@click.argument("reference")
@click.option("--endpoint", help="The hub's URL [default: core.hub_endpoint].")
@click.option("--revision", default="main", show_default=True)
@_config_option
def pull_command(
    reference: str, endpoint: str | None, revision: str, config_path: Path | None
) -> None:
    """Download OWNER/REPO[:FILE] from a Hugging Face-compatible hub into the model store."""
    stored = pull_with_progress(
        _config(config_path), reference, endpoint=endpoint, revision=revision
    )
    click.echo(f"pulled {stored.id} -> {stored.path}")


@click.group("models")
def models_group() -> None:
    """List, show and remove the models in the store."""


@models_group.command("list")
@_config_option
def list_models(config_path: Path | None) -> None:
    """Every stored model."""
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "size", "path")
    for model in Store(_config(config_path).core.store_path).models():
        table.add_row(model.id, f"{model.size / 2**20:.1f} MiB", str(model.path))
    Console().print(table)


def _find(config_path: Path | None, model_id: str) -> tuple[Store, StoredModel]:
    store = Store(_config(config_path).core.store_path)
    model = store.find(model_id)
    if model is None:
        raise click.ClickException(f"no stored model {model_id!r}; see `inferline models list`")
    return store, model


@models_group.command("show")
@click.argument("model_id")
@_config_option
def show_model(model_id: str, config_path: Path | None) -> None:
    """One stored model."""
    _, model = _find(config_path, model_id)
    click.echo(f"id:   {model.id}\npath: {model.path}\nsize: {model.size} bytes")


@models_group.command("rm")
@click.argument("model_id")
@_config_option
def remove_model(model_id: str, config_path: Path | None) -> None:
    """Delete a stored model's files."""
    store, model = _find(config_path, model_id)
    store.remove(model.id)
    click.echo(f"removed {model.id}")
