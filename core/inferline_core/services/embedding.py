"""EmbeddingService: checks the request, runs it as one job on the model's worker thread,
and returns the vectors in input order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from inferline.v1 import common_pb2
from inferline.v1 import embedding_service_pb2 as pb
from inferline.v1 import embedding_service_pb2_grpc as pb_grpc
from inferline_core.engines import vectors
from inferline_core.engines.base import Embedder
from inferline_core.errors import InvalidArgument, grpc_errors
from inferline_core.registry import Registry
from inferline_core.services import common

MAX_INPUTS = 2048  # OpenAI's limit per request

Input = str | list[int]


@dataclass(frozen=True)
class _Options:
    normalize: bool
    truncate: bool
    dimensions: int | None


def _inputs(request: pb.EmbedRequest) -> list[Input]:
    if not request.inputs:
        raise InvalidArgument("input must not be empty", param="input")
    if len(request.inputs) > MAX_INPUTS:
        raise InvalidArgument(f"input takes at most {MAX_INPUTS} items", param="input")
    inputs: list[Input] = []
    for index, item in enumerate(request.inputs):
        kind = item.WhichOneof("input")
        if kind == "tokens":
            inputs.append(list(item.tokens.ids))
        elif kind == "text" and item.text:
            inputs.append(item.text)
        else:
            raise InvalidArgument(f"input[{index}] is empty", param=f"input[{index}]")
    return inputs


def _options(request: pb.EmbedRequest, size: int, matryoshka: bool) -> _Options:
    dimensions = request.dimensions if request.HasField("dimensions") else None
    if dimensions is not None and not 1 <= dimensions <= size:
        raise InvalidArgument(f"dimensions must be between 1 and {size}", param="dimensions")
    if dimensions is not None and dimensions < size and not matryoshka:
        raise InvalidArgument(
            f"this model gives {size}-dimensional vectors and was not trained to be shortened",
            param="dimensions",
        )
    return _Options(
        normalize=request.normalize if request.HasField("normalize") else True,
        truncate=request.truncate if request.HasField("truncate") else True,
        dimensions=dimensions if dimensions != size else None,
    )


def _check_ids(inputs: Sequence[Input], vocab_size: int) -> None:
    for index, item in enumerate(inputs):
        if isinstance(item, list) and any(not 0 <= token < vocab_size for token in item):
            raise InvalidArgument(
                f"input[{index}] has token ids outside this model's vocabulary (0..{vocab_size - 1})",
                param=f"input[{index}]",
            )


Result = tuple[npt.NDArray[np.float32], int]  # the vectors, and the tokens they consumed


def _work(
    engine: Embedder, inputs: list[Input], options: _Options
) -> Callable[[threading.Event], Iterator[Result]]:
    def work(cancel: threading.Event) -> Iterator[Result]:
        tokens = [engine.tokenize(item) if isinstance(item, str) else item for item in inputs]
        suffix = vectors.special_suffix(engine.tokenize)
        fitted = vectors.fit(tokens, engine.context_length, suffix, truncate=options.truncate)
        pooled = engine.embed(fitted)
        finished = vectors.finish(
            pooled, normalize=options.normalize, dimensions=options.dimensions
        )
        yield finished, sum(len(t) for t in fitted)

    return work


class EmbeddingServicer(pb_grpc.EmbeddingServiceServicer):
    """Embed on the registry's embedding models."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @grpc_errors
    async def Embed(self, request: pb.EmbedRequest, context: Any) -> pb.EmbedResponse:
        """One vector per input, computed in batches on the model's thread."""
        inputs = _inputs(request)
        lease = await self._registry.embedder(request.model, common.keep_alive(request))
        engine = lease.engine
        try:
            matryoshka = self._registry.entry(lease.id).config.matryoshka
            options = _options(request, engine.dimensions, matryoshka)
            _check_ids(inputs, engine.vocab_size)
        except BaseException:
            lease.release()
            raise
        events = common.leased_events(lease, _work(engine, inputs, options), context)
        results = [result async for result in events]
        matrix, tokens = results[0]
        return pb.EmbedResponse(
            model=lease.id,
            embeddings=[
                pb.Embedding(index=index, values=row.tolist()) for index, row in enumerate(matrix)
            ],
            usage=common_pb2.Usage(prompt_tokens=tokens, total_tokens=tokens),
        )
