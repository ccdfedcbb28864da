"""`inferline core` shortens libgomp's idle spin before llama.cpp loads, unless the user set it."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import os, sys, tempfile
from click.testing import CliRunner
from inferline_core.cli import main
loaded_early = "llama_cpp" in sys.modules
with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
    config.write("[core")  # not TOML: the command stops at loading it
result = CliRunner().invoke(main, ["core", "--config", config.name])
assert result.exit_code != 0, result.output  # stops at the config, after the spin is set
print(loaded_early, os.environ.get("GOMP_SPINCOUNT"))
"""


def _probe(**env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"} | env
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=environ, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_core_sets_a_short_spin_before_llama_cpp_loads() -> None:
    assert _probe() == "False 10000"


def test_a_spin_count_the_user_set_wins() -> None:
    assert _probe(GOMP_SPINCOUNT="300000") == "False 300000"
