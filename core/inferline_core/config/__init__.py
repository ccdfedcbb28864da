"""Typed, frozen configuration: defaults < config.toml < environment < command-line flags.

Split by concern: ``schema`` (the Structs), ``loading`` (reading the file and the environment)
and ``bundled`` (which models to serve, the bundled defaults included). Every public name is
importable from here.
"""

from __future__ import annotations

from inferline_core.config.bundled import (
    BASE_MODEL_NOTE,
    CHAT_MODEL_SUGGESTION,
    DEFAULT_EMBEDDING_MODEL_ID,
    DEFAULT_MODEL_CONTEXT,
    DEFAULT_MODEL_ID,
    DEFAULT_SPEECH_MODEL_ID,
    ENGLISH_SPEECH_MODEL_ID,
    default_embedding_config,
    default_model_config,
    default_speech_configs,
    model_from_path,
    resolve_models,
    serves_default_chat,
)
from inferline_core.config.loading import load_config
from inferline_core.config.schema import (
    ApiConfig,
    Backend,
    Config,
    ConfigError,
    CoreConfig,
    ModelConfig,
    ModelType,
    SupervisorConfig,
    parse_duration,
)

__all__ = [
    "BASE_MODEL_NOTE",
    "CHAT_MODEL_SUGGESTION",
    "DEFAULT_EMBEDDING_MODEL_ID",
    "DEFAULT_MODEL_CONTEXT",
    "DEFAULT_MODEL_ID",
    "DEFAULT_SPEECH_MODEL_ID",
    "ENGLISH_SPEECH_MODEL_ID",
    "ApiConfig",
    "Backend",
    "Config",
    "ConfigError",
    "CoreConfig",
    "ModelConfig",
    "ModelType",
    "SupervisorConfig",
    "default_embedding_config",
    "default_model_config",
    "default_speech_configs",
    "load_config",
    "model_from_path",
    "parse_duration",
    "resolve_models",
    "serves_default_chat",
]
