"""The diffusers engine: a Stable Diffusion-family pipeline for text-to-image, and the same
loaded weights (``from_pipe``) for image-to-image and inpainting.

torch and diffusers are imported here only, when an image model loads, so a chat-only server
never pays for them. CUDA with float16 when torch sees a GPU, else the CPU with float32. The
pipeline runs on a helper thread so that this generator can hand out progress after every
denoising step; a step callback checks the cancel flag and interrupts the pipeline. The helper
always reports how it ended: a pipeline that raises fails its request with EngineFailed (the
traceback logged once) and the loaded pipeline serves the next one.

A request naming a ``scheduler`` runs on a pipeline made for it alone from the shared one's
components (``from_pipe``: no weights copied) with that scheduler; the shared pipeline keeps
its own.
"""

from __future__ import annotations

import io
import logging
import queue
import secrets
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferline_core.engines.base import ImageEvent, ImageProgress, ImageSpec, MadeImage
from inferline_core.exceptions import CoreError, EngineFailed, InvalidArgument

log = logging.getLogger(__name__)
MIN_SIDE, MAX_SIDE = 64, 2048
MAX_STEPS = 150
DEFAULT_STEPS = 20
SINGLE_FILES = (".safetensors", ".ckpt")


@dataclass(frozen=True, kw_only=True)
class DiffusionSettings:
    """How to load one pipeline: a ``save_pretrained`` folder or a single checkpoint file."""

    path: str
    threads: int = 1
    device: str = "auto"  # auto | cpu | cuda


def _open_image(data: bytes, param: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise InvalidArgument(
            f"{param} could not be decoded as an image ({error}); send PNG, JPEG or WebP",
            param=param,
        ) from None
    return image


def _side(pixels: int) -> int:
    """A side the pipeline takes: a multiple of 8, at least MIN_SIDE."""
    return max(MIN_SIDE, pixels - pixels % 8)


def encode(image: Any, spec: ImageSpec, seed: int) -> MadeImage:
    """The image in the format the request asked for (``quality`` for JPEG and WebP)."""
    out = io.BytesIO()
    if spec.output_format == "png":
        image.save(out, format="PNG")
    else:
        image.convert("RGB").save(out, format=spec.output_format.upper(), quality=spec.quality)
    return MadeImage(out.getvalue(), seed, f"image/{spec.output_format}")


def _mask(data: bytes) -> Any:
    """The inpainting mask, white where the image may change. A mask with an alpha channel
    is read as OpenAI reads it (transparent changes); one without, as greyscale."""
    from PIL import ImageOps

    mask = _open_image(data, "mask")
    if "A" in mask.getbands() or "transparency" in mask.info:
        return ImageOps.invert(mask.convert("RGBA").getchannel("A"))
    return mask.convert("L")


def _transparent_area(image: Any) -> Any:
    """The mask of an image's transparent pixels, or None when it has none."""
    if image is None or not ("A" in image.getbands() or "transparency" in image.info):
        return None
    alpha = image.convert("RGBA").getchannel("A")
    if alpha.getextrema()[0] == 255:  # fully opaque: a plain image-to-image edit
        return None
    from PIL import ImageOps

    return ImageOps.invert(alpha)


def _keep_unmasked(image: Any, source: Any, mask: Any) -> Any:
    """The painted image where the mask is white, the source everywhere else."""
    from PIL import Image

    return Image.composite(image.convert("RGB"), source.resize(image.size), mask.resize(image.size))


class DiffusionEngine:
    """One loaded pipeline. Not thread-safe: one worker thread calls it."""

    def __init__(self, settings: DiffusionSettings) -> None:
        import torch
        from diffusers import AutoPipelineForText2Image, StableDiffusionPipeline

        cuda = settings.device != "cpu" and torch.cuda.is_available()
        if settings.device == "cuda" and not cuda:
            log.warning("device is cuda but torch sees no CUDA device; using the CPU")
        self._device = "cuda" if cuda else "cpu"
        dtype = torch.float16 if cuda else torch.float32
        if not cuda:
            torch.set_num_threads(settings.threads)
        path = Path(settings.path)
        if path.is_file() and path.suffix in SINGLE_FILES:
            pipeline = StableDiffusionPipeline.from_single_file(str(path), torch_dtype=dtype)
        elif path.is_dir():
            pipeline = AutoPipelineForText2Image.from_pretrained(str(path), dtype=dtype)  # type: ignore[no-untyped-call]
        else:
            raise ValueError(f"{settings.path!r} is neither a pipeline folder nor a checkpoint")
        self._text = pipeline.to(self._device)
        self._text.set_progress_bar_config(disable=True)
        log.info("image pipeline %s on %s", settings.path, self.placement)
        self._side = int(self._text.unet.config.sample_size * self._text.vae_scale_factor)
        self._schedulers = {
            cls.__name__.removesuffix("Scheduler").lower(): cls
            for cls in self._text.scheduler.compatibles
        }
        self._derived: dict[str, Any] = {}

    @property
    def placement(self) -> str:
        """Where the weights are and in what precision: ``cuda float16`` or ``cpu float32``."""
        return f"{self._text.unet.device.type} {str(self._text.unet.dtype).removeprefix('torch.')}"

    def _pipeline(self, kind: str) -> Any:
        """The text-to-image pipeline, or an image-to-image / inpainting one sharing its weights."""
        if kind == "text":
            return self._text
        if kind not in self._derived:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            maker = AutoPipelineForInpainting if kind == "inpaint" else AutoPipelineForImage2Image
            derived = maker.from_pipe(self._text)
            derived.set_progress_bar_config(disable=True)
            self._derived[kind] = derived
        return self._derived[kind]

    def _with_scheduler(self, pipeline: Any, scheduler: str) -> Any:
        """A pipeline for one request: the shared one's components with another scheduler."""
        name = scheduler.lower().removesuffix("scheduler")
        chosen = self._schedulers[name].from_config(pipeline.scheduler.config)
        own = type(pipeline).from_pipe(pipeline, scheduler=chosen)
        own.set_progress_bar_config(disable=True)
        return own

    def _check(self, spec: ImageSpec) -> tuple[int, int, int]:
        width, height = spec.width or self._side, spec.height or self._side
        for name, side in (("width", width), ("height", height)):
            if side % 8 or not MIN_SIDE <= side <= MAX_SIDE:
                raise InvalidArgument(
                    f"{name} must be a multiple of 8 from {MIN_SIDE} to {MAX_SIDE}", param="size"
                )
        steps = spec.steps or DEFAULT_STEPS
        if not 1 <= steps <= MAX_STEPS:
            raise InvalidArgument(f"steps must be between 1 and {MAX_STEPS}", param="steps")
        if (
            spec.scheduler
            and spec.scheduler.lower().removesuffix("scheduler") not in self._schedulers
        ):
            names = ", ".join(sorted(self._schedulers))
            raise InvalidArgument(f"scheduler must be one of: {names}", param="scheduler")
        if spec.image is not None and spec.strength is not None and steps * spec.strength < 1:
            raise InvalidArgument(
                "strength times steps must be at least 1 (one denoising step)", param="strength"
            )
        return width, height, steps

    def paint(self, spec: ImageSpec, *, cancel: threading.Event) -> Iterator[ImageEvent]:
        """Progress after every denoising step, then each image as PNG."""
        width, height, steps = self._check(spec)
        opened = _open_image(spec.image, "image") if spec.image else None
        # No mask: as on OpenAI, an image's own transparent pixels are the area to change.
        mask = _mask(spec.mask) if spec.mask else _transparent_area(opened)
        source = opened.convert("RGB") if opened is not None else None
        # An edit keeps its image's size unless the request sets one.
        if source is not None:
            out_size = (spec.width or source.width, spec.height or source.height)
        kind = "inpaint" if mask is not None else "edit" if source is not None else "text"
        pipeline = self._pipeline(kind)
        if spec.scheduler:
            pipeline = self._with_scheduler(pipeline, spec.scheduler)
        base_seed = spec.seed if spec.seed is not None else secrets.randbelow(2**31)
        for index in range(spec.n):
            seed = base_seed + index
            arguments = self._arguments(spec, width, height, steps, seed, source, mask)
            image = yield from self._run(pipeline, arguments, index, cancel)
            if image is None:
                return
            if source is not None and image.size != out_size:
                image = image.resize(out_size)
            if mask is not None:  # outside the mask the result is the source, pixel for pixel
                image = _keep_unmasked(image, source, mask)
            yield encode(image, spec, seed)

    def _arguments(
        self,
        spec: ImageSpec,
        width: int,
        height: int,
        steps: int,
        seed: int,
        source: Any,
        mask: Any,
    ) -> dict[str, Any]:
        import torch

        arguments: dict[str, Any] = {
            "prompt": spec.prompt,
            "negative_prompt": spec.negative_prompt or None,
            "num_inference_steps": steps,
            "generator": torch.Generator(self._device).manual_seed(seed),
        }
        if spec.guidance is not None:
            arguments["guidance_scale"] = spec.guidance
        if source is None:
            return arguments | {"width": width, "height": height}
        size = (_side(spec.width or source.width), _side(spec.height or source.height))
        arguments |= {"image": source.resize(size), "strength": spec.strength or 0.8}
        if mask is not None:
            arguments |= {"mask_image": mask.resize(size), "width": size[0], "height": size[1]}
        return arguments

    def _run(
        self, pipeline: Any, arguments: dict[str, Any], index: int, cancel: threading.Event
    ) -> Generator[ImageEvent, None, Any]:
        """Run the pipeline on a helper thread; relay its steps; return its image (or None
        when cancelled). However this generator ends, the pipeline is interrupted and its
        thread joined first: two runs must never share the pipeline."""
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()
        total = arguments["num_inference_steps"]
        if "strength" in arguments:
            total = max(1, int(total * arguments["strength"]))

        def on_step(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            events.put(("step", step + 1))
            if cancel.is_set() or stop.is_set():
                pipe._interrupt = True
            return tensors

        def run() -> None:
            outcome: tuple[str, Any] = ("error", EngineFailed())
            try:
                result = pipeline(**arguments, callback_on_step_end=on_step)
                outcome = ("done", result.images[0])
            except Exception as error:
                outcome = ("error", error)
            finally:  # whatever happened, the generator hears the end
                events.put(outcome)

        worker = threading.Thread(target=run, name="diffusion", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = events.get()
                if kind == "step":
                    yield ImageProgress(index, min(value, total), total)
                elif kind == "error":
                    if isinstance(value, CoreError):
                        raise value
                    log.error("the diffusion pipeline failed", exc_info=value)
                    raise EngineFailed() from None
                else:
                    return None if cancel.is_set() else value
        finally:
            stop.set()
            worker.join()

    def close(self) -> None:
        """Drop the pipelines."""
        self._derived.clear()
        del self._text
