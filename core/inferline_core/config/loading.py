"""Reading the configuration: defaults < config.toml < environment < command-line flags.

The file is decoded with msgspec into the schema's frozen Structs, so a typo or a wrong type is
refused at start with the file, the key's path and the reason.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import msgspec

from inferline_core.config.schema import Config, ConfigError, ModelConfig, parse_duration

T = TypeVar("T")


def load_config(
    path: Path | None,
    *,
    grpc_address: str | None = None,
    threads: int | None = None,
    metrics_address: str | None = None,
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
    if metrics_address:
        core = msgspec.structs.replace(core, metrics_address=metrics_address)
    return msgspec.structs.replace(config, core=core)


def _with_environment(config: Config, environ: Mapping[str, str]) -> Config:
    """``INFERLINE_API_<KEY>``, ``INFERLINE_CORE_<KEY>`` and ``INFERLINE_SUPERVISOR_<KEY>``
    override the file's scalar keys; list keys take comma-separated values."""
    tables: dict[str, msgspec.Struct] = {
        "api": config.api,
        "core": config.core,
        "supervisor": config.supervisor,
    }
    for table, struct in list(tables.items()):
        changes = {}
        for field in msgspec.structs.fields(type(struct)):
            name = f"INFERLINE_{table.upper()}_{field.name.upper()}"
            if name not in environ or field.name == "models":
                continue
            value: object = environ[name]
            if "list[" in str(field.type):
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
