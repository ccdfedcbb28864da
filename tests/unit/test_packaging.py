"""What the distributions install: namespaced packages only, and the SDK with nothing but its
gRPC dependencies.

`import core` and `import rest_bridge` must fail wherever inferline is installed. The wheel
checks need built wheels: CI builds them from the checkout and names their folder in
INFERLINE_TEST_WHEELS; INFERLINE_TEST_BRIDGE_PYTHON names the light install's interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

WHEELS = os.environ.get("INFERLINE_TEST_WHEELS")
PYTHON = os.environ.get("INFERLINE_TEST_BRIDGE_PYTHON", sys.executable)
MODEL_LIBRARIES = {"llama-cpp-python", "onnxruntime", "torch", "faster-whisper", "diffusers"}
needs_wheels = pytest.mark.skipif(WHEELS is None, reason="CI builds the wheels")


def _wheel(prefix: str) -> zipfile.ZipFile:
    assert WHEELS is not None
    (path,) = Path(WHEELS).glob(f"{prefix}-*.whl")
    return zipfile.ZipFile(path)


def _top_level(wheel: zipfile.ZipFile) -> set[str]:
    names = {name.split("/")[0] for name in wheel.namelist()}
    return {name for name in names if not name.endswith((".dist-info", ".data"))}


def _requires(wheel: zipfile.ZipFile) -> list[str]:
    (metadata,) = (n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    return Parser().parsestr(wheel.read(metadata).decode()).get_all("Requires-Dist") or []


def _name(requirement: str) -> str:
    for mark in "<>=!~[;( ":
        requirement = requirement.split(mark)[0]
    return requirement.strip().lower()


@needs_wheels
def test_the_server_wheel_holds_only_namespaced_packages() -> None:
    wheel = _wheel("inferline")
    assert _top_level(wheel) == {"inferline_core", "inferline_bridge"}
    base = [r for r in _requires(wheel) if "extra ==" not in r]
    assert "inferline-client" in {_name(r) for r in base}
    assert not {_name(r) for r in base} & MODEL_LIBRARIES


@needs_wheels
def test_the_sdk_wheel_is_typed_and_needs_only_grpc() -> None:
    wheel = _wheel("inferline_client")
    assert _top_level(wheel) == {"inferline"}
    assert "inferline/py.typed" in wheel.namelist()
    base = [r for r in _requires(wheel) if "extra ==" not in r]
    assert {_name(r) for r in base} == {
        "grpcio",
        "grpcio-health-checking",
        "grpcio-status",
        "protobuf",
    }
    # Trace context is an extra: OpenTelemetry's API, nothing heavier.
    extras = {_name(r) for r in _requires(wheel) if "extra ==" in r}
    assert extras == {"opentelemetry-api"}


@pytest.mark.parametrize("generic", ["core", "rest_bridge"])
def test_generic_top_level_names_are_not_importable(generic: str, tmp_path: Path) -> None:
    """The installed code (never this checkout: no PYTHONPATH, run elsewhere) has no module
    named ``core`` or ``rest_bridge``; its own packages import."""
    probe = (
        "import importlib.util as u, sys; "
        "print(u.find_spec(sys.argv[1]) is None, "
        "all(u.find_spec(m) for m in ('inferline_core', 'inferline_bridge', 'inferline')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    answer = subprocess.run(
        [PYTHON, "-c", probe, generic],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    ).stdout.split()
    assert answer == ["True", "True"]
