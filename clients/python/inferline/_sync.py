"""Client: the blocking SDK for the inferline core, twin of AsyncClient."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

import grpc
from grpc_health.v1 import health_pb2

from inferline import _channel, _context, _requests
from inferline._routing import FAILING, Router, Stubs, merge_models, routed
from inferline.errors import UnavailableError, from_rpc_error
from inferline.v1 import audio_service_pb2 as audio_pb
from inferline.v1 import chat_service_pb2 as chat_pb
from inferline.v1 import completion_service_pb2 as completion_pb
from inferline.v1 import embedding_service_pb2 as embedding_pb
from inferline.v1 import image_service_pb2 as image_pb
from inferline.v1 import model_service_pb2 as model_pb

T = TypeVar("T")


class Stream(Generic[T]):
    """A server stream. Iterate it once; leaving the loop or the ``with`` block cancels the call."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def cancel(self) -> None:
        """Cancel the call; the core stops generating."""
        self._call.cancel()

    def __iter__(self) -> Iterator[T]:
        try:
            yield from self._call
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        finally:
            self._call.cancel()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._call.cancel()


class Client:
    """Talks to an inferline core over gRPC from blocking code; see AsyncClient for arguments."""

    def __init__(
        self,
        address: str = _channel.DEFAULT_ADDRESS,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self._metadata = _channel.call_metadata(api_key)
        self._timeout = timeout
        self._credentials = credentials
        self._cores: dict[str, tuple[grpc.Channel, Stubs]] = {}
        # Connectivity of each channel, as gRPC reports it (sync channels have no get_state).
        self._states: dict[str, grpc.ChannelConnectivity] = {}
        # Several cores: a channel to each, and a router that picks one per request.
        self._router: Router | None = None
        if routed(address):
            self._router = Router(address, metadata=self._metadata, credentials=credentials)
        else:
            channel = self._open(address, [])
            self._single = Stubs.on(channel)
            self._cores[address] = (channel, self._single)

    def _open(self, target: str, extra: list[tuple[str, object]]) -> grpc.Channel:
        options = _channel.channel_options(extra)
        if self._credentials is None:
            return grpc.insecure_channel(target, options=options)
        return grpc.secure_channel(target, self._credentials, options=options)

    def _core(self, router: Router, address: str) -> Stubs:
        if address not in self._cores:
            channel = self._open(address, router.channel_options())
            channel.subscribe(lambda state: self._states.__setitem__(address, state))
            self._cores[address] = (channel, Stubs.on(channel))
        return self._cores[address][1]

    def _usable(self, address: str) -> bool:
        return self._states.get(address) not in FAILING

    def _on(self, model: str) -> Stubs:
        """The stubs of the core that takes a request on ``model``."""
        if self._router is None:
            return self._single
        address = self._router.pick(model, self._usable)
        if address is None:
            raise UnavailableError("no core is serving", code=grpc.StatusCode.UNAVAILABLE)
        return self._core(self._router, address)

    def _everywhere(self) -> list[Stubs]:
        """Every core's stubs (the one core's, without a router)."""
        if self._router is None:
            return [self._single]
        return [self._core(self._router, address) for address in self._router.addresses()]

    def close(self) -> None:
        """Close the channels, cancelling every call still running on them."""
        if self._router is not None:
            self._router.close()
        for channel, _ in self._cores.values():
            channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _kw(self, timeout: float | None) -> dict[str, Any]:
        return {"metadata": _context.outgoing(self._metadata), "timeout": timeout or self._timeout}

    def _unary(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, **self._kw(timeout))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def chat(
        self,
        *,
        model: str = "",
        messages: Iterable[_requests.MessageLike] = (),
        request: chat_pb.ChatRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> chat_pb.ChatResponse:
        """Answer a conversation. Pass keywords (``temperature=0``...) or a whole ``request``."""
        request = request or _requests.chat_request(model, messages, params)
        response: chat_pb.ChatResponse = self._unary(
            self._on(request.model).chat.Chat, request, timeout
        )
        return response

    def chat_stream(
        self,
        *,
        model: str = "",
        messages: Iterable[_requests.MessageLike] = (),
        request: chat_pb.ChatRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> Stream[chat_pb.ChatStreamResponse]:
        """Stream the answer to a conversation: deltas, then one final chunk with usage."""
        request = request or _requests.chat_request(model, messages, params)
        return Stream(self._on(request.model).chat.ChatStream(request, **self._kw(timeout)))

    def complete(
        self,
        *,
        model: str = "",
        prompt: str = "",
        request: completion_pb.CompleteRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> completion_pb.CompleteResponse:
        """Continue a raw prompt."""
        request = request or _requests.complete_request(model, prompt, params)
        response: completion_pb.CompleteResponse = self._unary(
            self._on(request.model).completion.Complete, request, timeout
        )
        return response

    def complete_stream(
        self,
        *,
        model: str = "",
        prompt: str = "",
        request: completion_pb.CompleteRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> Stream[completion_pb.CompleteStreamResponse]:
        """Stream the continuation of a raw prompt: deltas, then one final chunk with usage."""
        request = request or _requests.complete_request(model, prompt, params)
        return Stream(
            self._on(request.model).completion.CompleteStream(request, **self._kw(timeout))
        )

    def embed(
        self,
        input: _requests.EmbedInputs = (),
        *,
        model: str = "",
        request: embedding_pb.EmbedRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> embedding_pb.EmbedResponse:
        """Embed texts (or token ids) as one batch: one vector per input, in order.

        Keywords: ``normalize``, ``truncate``, ``dimensions``, ``user``.
        """
        request = request or _requests.embed_request(model, input, params)
        response: embedding_pb.EmbedResponse = self._unary(
            self._on(request.model).embedding.Embed, request, timeout
        )
        return response

    def transcribe(
        self,
        audio: bytes = b"",
        *,
        model: str = "",
        request: audio_pb.TranscribeRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> audio_pb.TranscribeResponse:
        """Write down speech in its own language. Keywords: ``language``, ``prompt``, ``temperature``, ``beam_size``,
        ``vad_filter``, ``word_timestamps``, ``mime_type``, ``no_speech_threshold``,
        ``log_prob_threshold``."""
        request = request or _requests.transcribe_request(model, audio, params)
        response: audio_pb.TranscribeResponse = self._unary(
            self._on(request.model).audio.Transcribe, request, timeout
        )
        return response

    def transcribe_stream(
        self,
        audio: bytes = b"",
        *,
        model: str = "",
        request: audio_pb.TranscribeRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> Stream[audio_pb.TranscribeStreamResponse]:
        """As ``transcribe``, streamed: the info, each segment as decoded, then the whole."""
        request = request or _requests.transcribe_request(model, audio, params)
        return Stream(self._on(request.model).audio.TranscribeStream(request, **self._kw(timeout)))

    def translate(
        self,
        audio: bytes = b"",
        *,
        model: str = "",
        request: audio_pb.TranscribeRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> audio_pb.TranscribeResponse:
        """Write down speech in English. Keywords: ``language``, ``prompt``, ``temperature``, ``beam_size``,
        ``vad_filter``, ``word_timestamps``, ``mime_type``, ``no_speech_threshold``,
        ``log_prob_threshold``."""
        request = request or _requests.transcribe_request(model, audio, params)
        response: audio_pb.TranscribeResponse = self._unary(
            self._on(request.model).audio.Translate, request, timeout
        )
        return response

    def translate_stream(
        self,
        audio: bytes = b"",
        *,
        model: str = "",
        request: audio_pb.TranscribeRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> Stream[audio_pb.TranscribeStreamResponse]:
        """As ``translate``, streamed: the info, each segment as decoded, then the whole."""
        request = request or _requests.transcribe_request(model, audio, params)
        return Stream(self._on(request.model).audio.TranslateStream(request, **self._kw(timeout)))

    def generate_image(
        self,
        prompt: str = "",
        *,
        model: str = "",
        request: image_pb.GenerateImageRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> image_pb.GenerateImageResponse:
        """Images (PNG) from a prompt. Keywords: ``width``, ``height``, ``steps``,
        ``guidance_scale``, ``seed``, ``n``, ``negative_prompt``, ``scheduler``."""
        request = request or _requests.generate_image_request(model, prompt, params)
        response: image_pb.GenerateImageResponse = self._unary(
            self._on(request.model).image.GenerateImage, request, timeout
        )
        return response

    def generate_image_stream(
        self,
        prompt: str = "",
        *,
        model: str = "",
        request: image_pb.GenerateImageRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> Stream[image_pb.GenerateImageStreamResponse]:
        """As ``generate_image``, with progress after every denoising step."""
        request = request or _requests.generate_image_request(model, prompt, params)
        return Stream(
            self._on(request.model).image.GenerateImageStream(request, **self._kw(timeout))
        )

    def edit_image(
        self,
        image: bytes = b"",
        prompt: str = "",
        *,
        mask: bytes | None = None,
        model: str = "",
        request: image_pb.EditImageRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> image_pb.EditImageResponse:
        """A changed image; ``mask`` (white changes, black stays) inpaints. Keywords as
        ``generate_image``, and ``strength``."""
        request = request or _requests.edit_image_request(model, image, prompt, mask, params)
        response: image_pb.EditImageResponse = self._unary(
            self._on(request.model).image.EditImage, request, timeout
        )
        return response

    def edit_image_stream(
        self,
        image: bytes = b"",
        prompt: str = "",
        *,
        mask: bytes | None = None,
        model: str = "",
        request: image_pb.EditImageRequest | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> Stream[image_pb.EditImageStreamResponse]:
        """As ``edit_image``, with progress after every denoising step."""
        request = request or _requests.edit_image_request(model, image, prompt, mask, params)
        return Stream(self._on(request.model).image.EditImageStream(request, **self._kw(timeout)))

    def list_models(self, *, timeout: float | None = None) -> list[model_pb.Model]:
        """Every model the core knows, loaded or not (over several cores: their union)."""
        lists = []
        for stubs in self._everywhere():
            try:
                response: model_pb.ListModelsResponse = self._unary(
                    stubs.models.ListModels, model_pb.ListModelsRequest(), timeout
                )
            except UnavailableError:
                if self._router is None:
                    raise
                continue  # a core that is away lists nothing
            lists.append(response.models)
        return merge_models(lists)

    def get_model(self, model_id: str, *, timeout: float | None = None) -> model_pb.Model:
        """One model; NotFoundError when the core does not know it."""
        response: model_pb.GetModelResponse = self._unary(
            self._on(model_id).models.GetModel, model_pb.GetModelRequest(id=model_id), timeout
        )
        return response.model

    def load_model(
        self, model_id: str, *, keep_alive: float | None = None, timeout: float | None = None
    ) -> model_pb.Model:
        """Load a model now; ``keep_alive`` seconds after the last request (negative: keep)."""
        request = model_pb.LoadModelRequest(id=model_id)
        if keep_alive is not None:
            request.keep_alive.FromTimedelta(datetime.timedelta(seconds=keep_alive))
        response: model_pb.LoadModelResponse = self._unary(
            self._on(model_id).models.LoadModel, request, timeout
        )
        return response.model

    def unload_model(self, model_id: str, *, timeout: float | None = None) -> model_pb.Model:
        """Unload a model once the requests running on it finish."""
        response: model_pb.UnloadModelResponse = self._unary(
            self._on(model_id).models.UnloadModel, model_pb.UnloadModelRequest(id=model_id), timeout
        )
        return response.model

    def pull_model(
        self, reference: str, *, revision: str = "", timeout: float | None = None
    ) -> Stream[model_pb.PullModelResponse]:
        """Have the core pull ``OWNER/REPO[:FILE]``: progress chunks, then the model."""
        repository, _, file = reference.partition(":")
        request = model_pb.PullModelRequest(repository=repository, file=file, revision=revision)
        return Stream(self._on("").models.PullModel(request, **self._kw(timeout)))

    def delete_model(self, model_id: str, *, timeout: float | None = None) -> None:
        """Unload a pulled model and delete its files from the core's store."""
        self._unary(
            self._on(model_id).models.DeleteModel, model_pb.DeleteModelRequest(id=model_id), timeout
        )

    def health(self, *, timeout: float | None = 5.0) -> bool:
        """Whether the core (over several cores: any of them) answers its health check with
        SERVING."""
        for stubs in self._everywhere():
            try:
                response = stubs.health.Check(
                    health_pb2.HealthCheckRequest(), metadata=self._metadata, timeout=timeout
                )
            except grpc.RpcError:
                continue
            if response.status == health_pb2.HealthCheckResponse.SERVING:
                return True
        return False
