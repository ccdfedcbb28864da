"""The llama.cpp text engine: continuous batching on one llama.cpp context, every running
request advancing in the same ``llama_decode`` step as llama.cpp's own server does (with
``parallel = 1`` too: then one request runs at a time).

One thread owns the context. Requests (sequences) join and leave between steps; a joining
prompt is prefilled in chunks that share the step's batch with the running sequences, so it
never stalls them for long. Each sequence has its own sampler (its temperature, top-k/p,
min-p, penalties, logit bias, seed and grammar; see ``llama_sampler``) and its own TokenStream,
so its parameters apply to it alone. Its logits are not bit for bit those it would get alone:
llama.cpp's flash attention (on: 10-15 % more tokens/s at 4-8 sequences here) rounds a row
differently with what shares its batch and where its KV cells lie, enough to change a seeded
draw after a few tokens (OpenAI's seed is best effort too), a greedy answer where two tokens
nearly tie; with ``flash_attention = "off"`` both repeat exactly. A
finished or cancelled sequence frees its slot at once and leaves its KV cells for the next
request that shares their prefix (``llama_slots``); a failed one leaves nothing.

Nothing waits forever: a failure in a step (a failed decode, a sampler that raises) fails the
sequences of that step with EngineFailed, logs the traceback once and the loop goes on; the
readers give up if the thread itself is gone. A sequence whose reader lags ``PAUSE_AT``
events behind is left out of the steps (it pauses, holding its slot) until the reader catches
up, so a client that stops reading never makes the core buffer its whole answer. The chat
template, tokenizer and pieces come from the loaded model itself (``llama_vocab``). A vision
model's prompt with images is evaluated by its projector (mtmd) into the sequence's
slot when it joins; its first token is sampled there and it then decodes with the others.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import llama_cpp

from inferline_core.engines.base import (
    IMAGE_MARKER,
    ChatOptions,
    ChatTurn,
    GenerationEvent,
    Sampling,
    TextDelta,
    TokenLogprob,
)
from inferline_core.engines.chat_prompt import ChatFormatter
from inferline_core.engines.llama_cpp import (
    FLASH_ATTENTION,
    LlamaSettings,
    grammar_for,
    init_backend,
    logprob,
    offered_tools,
    offload,
    token_budget,
    with_tool_calls,
)
from inferline_core.engines.llama_sampler import Sampler, sampler_for
from inferline_core.engines.llama_slots import SlotCache
from inferline_core.engines.llama_vocab import ModelText
from inferline_core.engines.token_stream import TokenStream
from inferline_core.engines.vision import MARKER as VISION_MARKER
from inferline_core.engines.vision import VisionEncoder, VisionPrompt
from inferline_core.exceptions import CoreError, EngineFailed, InvalidArgument

log = logging.getLogger(__name__)
BATCH = 512  # tokens per decode step, prompts' chunks included
PAUSE_AT = 32  # events a reader may lag behind before its sequence pauses
IDLE_WAIT_S = 0.05  # how often a loop with only paused sequences looks again
RELAY_POLL_S = 0.5  # how often a reader checks that the batch thread still runs
CHUNK = 256  # prompt tokens per step while other sequences are decoding
_END = object()


@dataclass(eq=False)
class _Sequence:
    """One request's choice in the batch."""

    prompt: list[int]
    sampler: Sampler | None  # None once freed
    stream: TokenStream
    cancel: threading.Event  # the request's: set when its RPC ends
    events: queue.Queue[object] = field(default_factory=queue.Queue)
    left: threading.Event = field(default_factory=threading.Event)  # its reader stopped early
    media: VisionPrompt | None = None  # a prompt with images, evaluated by the projector
    slot: int = -1
    fed: int = 0  # prompt tokens in the KV cache (from a cache, or evaluated)
    position: int = 0  # where the next token goes in the sequence
    last: int = -1  # the token to decode next, once the prompt is in
    row: int = -1  # this step's logits row
    echo: str | None = None  # the prompt, sent back before the generated text
    scoring: bool = False  # the echoed prompt carries its tokens' log probabilities
    top: int = 0  # alternatives per scored prompt token
    scores: list[TokenLogprob] = field(default_factory=list)
    scored_rows: list[tuple[int, int]] = field(default_factory=list)  # (position, row)

    @property
    def stopped(self) -> bool:
        """Whether nobody waits for this sequence any more."""
        return self.cancel.is_set() or self.left.is_set()

    @property
    def paused(self) -> bool:
        """Whether its reader lags too far behind for it to take part in a step."""
        return self.events.qsize() >= PAUSE_AT

    def evaluated(self) -> list[int]:
        """The tokens its slot's KV cells hold, from position 0: the prompt as far as it went,
        then each sampled token that was decoded (the last one sampled never is)."""
        if self.fed < len(self.prompt):
            return self.prompt[: self.fed]
        return self.prompt + self.stream.produced[: self.position - len(self.prompt)]


class BatchedLlamaEngine:
    """A GGUF text model serving ``parallel`` requests at once."""

    def __init__(
        self,
        settings: LlamaSettings,
        parallel: int,
        *,
        on_step: Callable[[int], None] | None = None,
        chunk: int = CHUNK,
    ) -> None:
        self.parallel = parallel
        self._chunk = chunk
        self._on_step = on_step  # hears each step's number of sequences (metrics)
        self._slot_context = settings.context_length or 4096
        self._default_temperature = settings.default_temperature
        init_backend()
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = settings.gpu_layers
        self._model = llama_cpp.llama_model_load_from_file(settings.path.encode(), model_params)
        if not self._model:
            raise ValueError(f"cannot load {settings.path!r}")
        self._placement = offload(self._model, settings.gpu_layers)
        self._text = ModelText(self._model)
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._text.vocab))
        try:
            self._formatter = ChatFormatter(
                self._text.metadata(),
                settings.chat_format,
                bos=self._piece(self._text.bos),
                eos=self._piece(self._text.eos),
            )
        except BaseException:
            llama_cpp.llama_model_free(self._model)
            raise
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self._slot_context * parallel
        params.n_batch = params.n_ubatch = BATCH
        params.n_seq_max = parallel
        params.kv_unified = True
        # A sliding-window model (Gemma 3) keeps only its window's cells, so a slot's cache is
        # reused only where the window still holds what the next position attends to
        # (llama_slots checks). swa_full would keep every cell and reuse any prefix, but it
        # slowed decoding on the default model here (a freed slot's next request took 4-6 s
        # instead of under 3 s under load), so it stays off.
        params.swa_full = False
        params.flash_attn_type = FLASH_ATTENTION[settings.flash_attention]
        params.n_threads = params.n_threads_batch = settings.threads
        self._ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not self._ctx:
            llama_cpp.llama_model_free(self._model)
            raise ValueError("cannot create a llama.cpp context")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        window = int(llama_cpp.llama_model_n_swa(self._model))
        self._slots = SlotCache(self._memory, parallel, window=0 if params.swa_full else window)
        self._vision: VisionEncoder | None = None
        if settings.mmproj:
            gpu = settings.gpu_layers != 0
            try:
                self._vision = VisionEncoder(
                    self._model, settings.mmproj, threads=settings.threads, gpu=gpu
                )
            except ValueError:
                llama_cpp.llama_free(self._ctx)
                llama_cpp.llama_model_free(self._model)
                raise
        self._batch = llama_cpp.llama_batch_init(BATCH, 0, 1)
        # Sampling a step's sequences in parallel: each draw walks the whole vocabulary in C
        # with the GIL released, while llama.cpp's own threads sit idle between decodes.
        self._samplers = (
            ThreadPoolExecutor(settings.threads, thread_name_prefix="llama-sample")
            if settings.threads > 1 and parallel > 1
            else None
        )
        self._waiting: deque[_Sequence] = deque()
        self._running: list[_Sequence] = []
        self._wake = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="llama-batch", daemon=True)
        self._thread.start()

    @property
    def context_length(self) -> int:
        """The context window of one request, in tokens."""
        return self._slot_context

    @property
    def placement(self) -> str:
        """Where the layers compute: ``cpu`` or ``gpu N/M layers``."""
        return self._placement

    def _piece(self, token: int) -> str:
        if token < 0:
            return ""
        return self._text.piece(token, special=True).decode("utf-8", errors="replace")

    # The TextGenerator interface: each call feeds the batch and relays its sequence's events.

    def chat(
        self,
        turns: Sequence[ChatTurn],
        sampling: Sampling,
        options: ChatOptions,
        *,
        index: int,
        cancel: threading.Event,
    ) -> Iterator[GenerationEvent]:
        """Generate the assistant's next message: text, or tool calls."""
        images = [image for turn in turns for image in turn.images]
        if images and self._vision is None:
            raise InvalidArgument(
                "this model does not accept images; serve a vision model (with its mmproj)",
                param="messages",
            )
        prompt = self._formatter.format(turns, offered_tools(options))
        stops = (*sampling.stop, *prompt.stops)
        grammar = grammar_for(options)
        if self._vision is not None and images:
            text = prompt.text.replace(IMAGE_MARKER, VISION_MARKER)
            media = self._vision.tokenize(text, images)
            try:
                events = self._run(media.tokens, sampling, stops, grammar, index, cancel, media)
            except BaseException:
                media.close()
                raise
        else:
            tokens = self._text.tokenize(
                prompt.text.encode(), add_bos=not prompt.has_bos, special=True
            )
            events = self._run(tokens, sampling, stops, grammar, index, cancel)
        return with_tool_calls(events, options)

    def complete(
        self,
        prompt: str,
        sampling: Sampling,
        *,
        index: int,
        cancel: threading.Event,
        echo: bool = False,
    ) -> Iterator[GenerationEvent]:
        """Continue a raw prompt; with ``echo`` the prompt comes first, with its tokens' log
        probabilities when ``sampling.logprobs`` asks for them."""
        tokens = self._text.tokenize(prompt.encode(), add_bos=True, special=False)
        return self._run(
            tokens,
            sampling,
            tuple(sampling.stop),
            None,
            index,
            cancel,
            echo=prompt if echo else None,
        )

    def _run(
        self,
        prompt: list[int],
        sampling: Sampling,
        stops: Sequence[str],
        grammar: str | None,
        index: int,
        cancel: threading.Event,
        media: VisionPrompt | None = None,
        *,
        echo: str | None = None,
    ) -> Iterator[GenerationEvent]:
        if sampling.seed is not None and index:
            # Each choice draws from its own seed, as OpenAI's choices differ under one seed.
            sampling = replace(sampling, seed=sampling.seed + index)
        top = sampling.top_logprobs
        stream = TokenStream(
            index=index,
            prompt=prompt,
            budget=token_budget(len(prompt), self._slot_context, sampling),
            stops=stops,
            detokenize=self._text.piece,
            is_end=lambda token: bool(llama_cpp.llama_vocab_is_eog(self._text.vocab, token)),
            # The logits row is this step's: read when the token is fed, after sampling.
            logprob=(
                (
                    lambda token, piece: logprob(
                        self._ctx, sequence.row, self._n_vocab, token, piece, top, self._bytes
                    )
                )
                if sampling.logprobs
                else None
            ),
        )
        sampler = sampler_for(
            sampling,
            vocab=self._text.vocab,
            n_vocab=self._n_vocab,
            grammar=grammar,
            default_temperature=self._default_temperature,
        )
        sequence = _Sequence(prompt, sampler, stream, cancel, media=media, echo=echo)
        sequence.scoring, sequence.top = echo is not None and sampling.logprobs, top
        if echo is not None and not sequence.scoring:
            sequence.events.put(TextDelta(index, echo))
        with self._wake:
            self._waiting.append(sequence)
            self._wake.notify()
        return self._relay(sequence)

    def _relay(self, sequence: _Sequence) -> Iterator[GenerationEvent]:
        try:
            while (item := self._next_event(sequence)) is not _END:
                if isinstance(item, Exception):
                    raise item
                yield item  # type: ignore[misc]
                if sequence.events.qsize() == PAUSE_AT // 2:  # room again: let it step
                    with self._wake:
                        self._wake.notify()
        finally:
            sequence.left.set()  # the reader is gone (or done): free the slot
            with self._wake:
                self._wake.notify()

    def _next_event(self, sequence: _Sequence) -> object:
        """The sequence's next event; EngineFailed if the batch thread has died."""
        while True:
            try:
                return sequence.events.get(timeout=RELAY_POLL_S)
            except queue.Empty:
                if not self._thread.is_alive():
                    return EngineFailed()

    def _bytes(self, token: int) -> bytes:
        return self._text.piece(token, special=True)

    # The batch thread.

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._closing and not self._work():
                    self._wake.wait(IDLE_WAIT_S if self._running else None)
                if self._closing:
                    break
                self._admit()
            try:
                self._drop_cancelled()
                if self._running:
                    self._step()
            except Exception:  # a failed step fails its requests, not the server
                log.exception("a llama.cpp batch step failed; failing its requests")
                failed, self._running = self._running, []
                for sequence in failed:
                    self._finish(sequence, EngineFailed())
        for sequence in [*self._running, *self._waiting]:
            self._finish(sequence, InvalidArgument("the model is being unloaded"))

    def _work(self) -> bool:
        """Whether a step has something to do (called with the lock held)."""
        if self._waiting and len(self._running) < self.parallel:
            return True
        if any(s.stopped for s in self._waiting):
            return True
        return any(s.stopped or not s.paused for s in self._running)

    def _admit(self) -> None:
        for sequence in [s for s in self._waiting if s.stopped]:
            self._waiting.remove(sequence)
            self._finish(sequence)
        taken = {s.slot for s in self._running}
        while self._waiting and len(self._running) < self.parallel:
            sequence = self._waiting.popleft()
            if sequence.stopped:
                self._finish(sequence)
                continue
            # Images and a prompt to score (every token's logits) cannot start from a cache.
            fresh = sequence.media is not None or sequence.scoring
            reusable = None if fresh else sequence.prompt
            sequence.slot, sequence.fed = self._slots.claim(reusable, taken)
            sequence.position = sequence.stream.cached = sequence.fed
            taken.add(sequence.slot)
            self._running.append(sequence)

    def _drop_cancelled(self) -> None:
        for sequence in [s for s in self._running if s.stopped]:
            self._running.remove(sequence)
            self._finish(sequence)

    def _add(self, token: int, position: int, slot: int, logits: bool) -> int:
        batch, at = self._batch, int(self._batch.n_tokens)
        batch.token[at], batch.pos[at] = token, position
        batch.n_seq_id[at], batch.seq_id[at][0] = 1, slot
        batch.logits[at] = logits
        batch.n_tokens = at + 1
        return at

    def _step(self) -> None:
        """One decode for every running sequence: a token each, plus prompt chunks."""
        for sequence in [s for s in self._running if s.media is not None and s.fed == 0]:
            self._prefill_media(sequence)
        self._batch.n_tokens = 0
        decoding = [s for s in self._running if s.fed == len(s.prompt) and not s.paused]
        for sequence in decoding:
            sequence.row = self._add(sequence.last, sequence.position, sequence.slot, True)
            sequence.position += 1
        # Alone, a prompt takes the whole batch; beside running sequences, a chunk per step.
        budget = min(BATCH - len(decoding), self._chunk if decoding else BATCH)
        for sequence in (s for s in self._running if s.fed < len(s.prompt) and not s.paused):
            chunk = sequence.prompt[sequence.fed : sequence.fed + budget]
            for offset, token in enumerate(chunk):
                end = sequence.fed + offset == len(sequence.prompt) - 1
                row = self._add(
                    token, sequence.fed + offset, sequence.slot, end or sequence.scoring
                )
                if sequence.scoring:
                    sequence.scored_rows.append((sequence.fed + offset, row))
                if end:
                    sequence.row = row
                    decoding.append(sequence)
            sequence.fed += len(chunk)
            sequence.position = sequence.fed
            budget -= len(chunk)
            if budget <= 0:
                break
        if self._batch.n_tokens == 0:
            return
        if llama_cpp.llama_decode(self._ctx, self._batch) != 0:
            raise RuntimeError("llama_decode failed")
        if self._on_step is not None:
            self._on_step(len(self._running))
        for sequence in [s for s in self._running if s.scored_rows]:
            self._score_prompt(sequence)
        read = [s for s in decoding if s.stream.done]  # max_tokens 0: the prompt only
        for sequence in read:
            self._sample(sequence)
        ready = [s for s in decoding if s not in read]
        for sequence, token in zip(ready, self._draw(ready), strict=True):
            self._accept(sequence, token)

    def _score_prompt(self, sequence: _Sequence) -> None:
        """The log probability of each prompt token under the logits of the one before it
        (the first token, BOS where the model adds one, has none); the echo once all are in."""
        top = sequence.top
        for position, row in sequence.scored_rows:
            if position + 1 < len(sequence.prompt):
                token = sequence.prompt[position + 1]
                piece = self._text.piece(token)
                sequence.scores.append(
                    logprob(self._ctx, row, self._n_vocab, token, piece, top, self._bytes)
                )
        sequence.scored_rows.clear()
        if sequence.fed == len(sequence.prompt) and sequence.echo is not None:
            sequence.events.put(
                TextDelta(sequence.stream.index, sequence.echo, tuple(sequence.scores))
            )

    def _draw(self, sequences: list[_Sequence]) -> list[int]:
        """Each sequence's next token, drawn from its logits row by its own sampler."""

        def draw(sequence: _Sequence) -> int:
            assert sequence.sampler is not None
            return sequence.sampler.draw(self._ctx, sequence.row)

        if self._samplers is None or len(sequences) < 2:
            return [draw(sequence) for sequence in sequences]
        llama_cpp.llama_get_logits(self._ctx)  # puts the rows in order once, before the threads
        return list(self._samplers.map(draw, sequences))

    def _sample(self, sequence: _Sequence) -> None:
        """Sample the sequence's next token from its logits row and pass it on."""
        if sequence.stream.done:  # max_tokens 0: the prompt was only to be read
            self._running.remove(sequence)
            self._finish(sequence)
            return
        self._accept(sequence, self._draw([sequence])[0])

    def _accept(self, sequence: _Sequence, token: int) -> None:
        """Pass a sampled token on to the sequence's reader; end the sequence when it is done."""
        for event in sequence.stream.feed(token):
            sequence.events.put(event)
        sequence.last = token
        if sequence.stream.done or sequence.stopped:
            self._running.remove(sequence)
            self._finish(sequence)

    def _prefill_media(self, sequence: _Sequence) -> None:
        """Evaluate a prompt with images into the sequence's slot (text and images, the
        others waiting for this step) and sample its first token from the last row."""
        assert self._vision is not None and sequence.media is not None
        try:
            sequence.position = self._vision.evaluate(
                self._ctx, sequence.media, seq=sequence.slot, n_batch=BATCH
            )
        except CoreError as error:
            self._running.remove(sequence)
            self._finish(sequence, error)
            return
        except Exception:
            log.exception("evaluating a prompt with images failed")
            self._running.remove(sequence)
            self._finish(sequence, EngineFailed())
            return
        sequence.fed, sequence.row = len(sequence.prompt), -1
        self._sample(sequence)

    def _finish(self, sequence: _Sequence, error: Exception | None = None) -> None:
        """End a sequence: its last events, its KV cells and its slot freed. Its reader hears
        the end whatever happens here."""
        try:
            self._free(sequence, failed=error is not None)
            if error is None and not sequence.stopped:
                for event in sequence.stream.finish():
                    sequence.events.put(event)
        except Exception:
            log.exception("ending a llama.cpp sequence failed")
            error = error or EngineFailed()
        finally:
            if error is not None:
                sequence.events.put(error)
            sequence.events.put(_END)

    def _free(self, sequence: _Sequence, *, failed: bool) -> None:
        if sequence.slot >= 0:
            slot, sequence.slot = sequence.slot, -1
            if failed or sequence.media is not None:
                self._slots.forget(slot)
            else:
                self._slots.release(slot, sequence.evaluated())
        if sequence.sampler is not None:
            sampler, sequence.sampler = sequence.sampler, None
            sampler.close()
        if sequence.media is not None:
            media, sequence.media = sequence.media, None
            media.close()

    def close(self) -> None:
        """Stop the batch thread and free the context and the model."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()
        if self._samplers is not None:
            self._samplers.shutdown()
        llama_cpp.llama_batch_free(self._batch)
        if self._vision is not None:
            self._vision.close()
        llama_cpp.llama_free(self._ctx)
        llama_cpp.llama_model_free(self._model)
