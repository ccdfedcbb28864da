"""engine_loader(config) -> the function that turns a model's config into a loaded engine.

The backend and the model type choose the engine class; nothing else in the core names one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from inferline_core.config import Config, ModelConfig
from inferline_core.engines.base import Engine
from inferline_core.exceptions import ModelLoadFailed

Loader = Callable[[str, ModelConfig], Engine]
StepObserver = Callable[[str], Callable[[int], None]]


def engine_loader(config: Config, on_step: StepObserver | None = None) -> Loader:
    """The loader for this core's device and thread settings; ``on_step(model)`` gives what a
    batching engine calls with each decode step's number of sequences."""
    core = config.core
    gpu_layers = 0 if core.device == "cpu" else core.gpu_layers

    def load(model_id: str, model: ModelConfig) -> Engine:
        if model.backend == "llama_cpp":
            from inferline_core.engines.llama_cpp import LlamaSettings

            settings = LlamaSettings(
                path=model.path,
                context_length=model.context_length,
                threads=core.thread_count,
                gpu_layers=model.gpu_layers if model.gpu_layers is not None else gpu_layers,
                chat_format=model.chat_format,
                default_temperature=model.default_temperature,
                mmproj=model.mmproj,
                flash_attention=model.flash_attention or core.flash_attention,
            )
            if model.type == "embedding":
                from inferline_core.engines.llama_embed import LlamaEmbedder

                return LlamaEmbedder(settings)
            from inferline_core.engines.llama_batch import BatchedLlamaEngine

            step = on_step(model_id) if on_step is not None else None
            return BatchedLlamaEngine(settings, model.parallel or core.parallel, on_step=step)
        if model.backend == "onnx" and model.type == "embedding":
            from inferline_core.engines.onnx_embed import OnnxEmbedder, OnnxSettings

            path, tokenizer = onnx_files(model)
            return OnnxEmbedder(
                OnnxSettings(
                    path=str(path),
                    tokenizer=str(tokenizer),
                    context_length=model.context_length or 512,
                    threads=core.thread_count,
                    device=core.device,
                )
            )
        if model.backend == "whisper" and model.type == "audio":
            from inferline_core.engines.whisper import WhisperEngine, WhisperSettings

            return WhisperEngine(
                WhisperSettings(path=model.path, threads=core.thread_count, device=core.device)
            )
        if model.backend == "diffusers" and model.type == "image":
            try:
                from inferline_core.engines.diffusion import DiffusionEngine, DiffusionSettings
            except ImportError as error:
                raise ModelLoadFailed(
                    f"image models need torch and diffusers: pip install 'inferline[images]' ({error})"
                ) from None
            return DiffusionEngine(
                DiffusionSettings(path=model.path, threads=core.thread_count, device=core.device)
            )
        raise ModelLoadFailed(
            f"the {model.backend} backend cannot serve {model.type} models in this server"
        )

    return load


def onnx_files(model: ModelConfig) -> tuple[Path, Path]:
    """The ONNX file and its tokenizer.json: ``path`` is the file or a folder holding
    ``model.onnx``; the tokenizer is the configured one or ``tokenizer.json`` beside it."""
    path = Path(model.path)
    if path.is_dir():
        path = path / "model.onnx"
    tokenizer = Path(model.tokenizer) if model.tokenizer else path.parent / "tokenizer.json"
    for needed in (path, tokenizer):
        if not needed.is_file():
            raise FileNotFoundError(f"no file at {needed}")
    return path, tokenizer
