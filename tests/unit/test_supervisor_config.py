"""The [supervisor] table, the keys that guard the gRPC port, and exit statuses in words."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from inferline_core.config import ConfigError, load_config
from inferline_core.supervisor import exit_status


def test_supervisor_table_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[supervisor]\nrestart_backoff_s = 0.1\ncrash_loop_deaths = 3\n")
    config = load_config(path, environ={"INFERLINE_SUPERVISOR_RESTART_BACKOFF_MAX_S": "4"})
    assert config.supervisor.restart_backoff_s == 0.1
    assert config.supervisor.crash_loop_deaths == 3
    assert config.supervisor.restart_backoff_max_s == 4
    assert load_config(None, environ={}).supervisor.restart_backoff_max_s == 30
    path.write_text("[supervisor]\nrestart_after = 1\n")
    with pytest.raises(ConfigError, match="restart_after"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("body", "tokens"),
    [
        ("", []),
        ('[api]\napi_key = ["a", "b"]\n', ["a", "b"]),
        ('[api]\napi_key = ["a"]\n[core]\napi_key = ["core"]\n', ["core"]),
        ('[api]\napi_key = ["a"]\n[core]\nuse_api_keys = false\n', []),
    ],
)
def test_core_tokens(tmp_path: Path, body: str, tokens: list[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(body)
    assert load_config(path, environ={}).core_tokens() == tokens


def test_exit_status_in_words() -> None:
    assert exit_status(1) == "exit status 1"
    assert exit_status(-signal.SIGKILL) == "killed by SIGKILL"
