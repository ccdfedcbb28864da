"""How controllers parse bodies and call the core: decoding, disconnects, streams.

FACTS.md measured how cancellation really travels: a non-streaming handler never notices a
client that left, so the call runs beside a watcher of ``http.disconnect``; a streaming
response gets a background task that cancels its gRPC call whenever the response ends.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.background_tasks import BackgroundTask
from litestar.response import Stream

from inferline import AsyncStream, InferlineError
from inferline_bridge import sse
from inferline_bridge.access import charge
from inferline_bridge.errors import APIError, error_body, from_core
from inferline_bridge.metrics import note_first_message, note_reply

T = TypeVar("T")
_WHERE = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


def decode(body: bytes, kind: type[T]) -> T:
    """Decode a JSON request body; a malformed body or a wrong type is a 400 naming the field."""
    if not body.strip():
        raise APIError(400, "the request body is empty; send a JSON object")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as error:
        message = str(error)
        match = _WHERE.search(message)
        param = match["path"] if match and match["path"] else None
        reason = _WHERE.sub("", message)
        raise APIError(400, f"{param}: {reason}" if param else reason, param=param) from None
    except msgspec.DecodeError as error:
        raise APIError(400, f"the request body is not valid JSON: {error}") from None


def form_number(form: Any, key: str, kind: type[int] | type[float], *, bits: int = 32) -> Any:
    """A numeric multipart field, or None when absent; anything else (an integer wider than
    ``bits``, too) is a 400 naming it."""
    value = form.get(key)
    if value in (None, ""):
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise APIError(400, f"{key} must be a number", param=key) from None
    if kind is int and not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
        raise APIError(400, f"{key} must be below 2**{bits - 1}", param=key)
    return number


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request[Any, Any, Any], call: Awaitable[T]) -> T:
    """Await ``call``, cancelling it (and so the core's work) if the client goes away."""
    work = asyncio.ensure_future(call)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not work.done():
        work.cancel()
        raise APIError(499, "the client closed the connection")
    try:
        result = work.result()
    except InferlineError as error:
        raise from_core(error) from None
    usage = getattr(result, "usage", None)
    if usage is not None:
        charge(request, usage.total_tokens)
    note_reply(request, result)
    return result


def _stream_tokens(message: Any) -> tuple[int, bool]:
    """Tokens a stream message accounts for: a delta its generated tokens, at least one (a
    transcript's segment carries no count); the final chunk's usage is the exact total."""
    kind = message.WhichOneof("chunk")
    if kind == "final":
        usage = getattr(message.final, "usage", None)  # transcripts carry no token usage
        return (usage.total_tokens if usage is not None else 0), True
    if kind == "delta":
        return max(1, getattr(message.delta, "tokens", 0)), False
    return 0, False


def _error_events(error: APIError) -> list[dict[str, Any]]:
    return [error_body(error.status, error.message, error.param, error.code)]


async def sse_response(
    request: Request[Any, Any, Any],
    stream: AsyncStream[T],
    to_chunks: Callable[[T], list[dict[str, Any]]],
    *,
    encode: Callable[[dict[str, Any]], bytes] = sse.event,
    done: bytes | None = sse.DONE,
    on_error: Callable[[APIError], list[dict[str, Any]]] = _error_events,
) -> Stream:
    """Stream ``to_chunks`` of every message as SSE, ended by ``done``.

    The first message is awaited here, so that an error before it (an unknown model, a full
    queue) is a plain HTTP error rather than a 200 with an error event (``on_error``'s events).
    Whatever ends the response, the gRPC call behind it is cancelled. ``encode`` frames one
    event.
    """
    items = aiter(stream)
    try:
        first = await anext(items)
    except InferlineError as error:
        stream.cancel()
        raise from_core(error) from None
    except StopAsyncIteration:
        stream.cancel()
        raise APIError(502, "the core ended the stream without a message") from None
    note_first_message(request, first)

    async def body() -> AsyncIterator[bytes]:
        charged = 0
        try:
            message = first
            while True:
                tokens, final = _stream_tokens(message)
                charge(request, tokens - charged if final else tokens)
                if final:
                    note_reply(request, getattr(message, "final", None))
                charged += tokens
                for chunk in to_chunks(message):
                    yield encode(chunk)
                message = await anext(items)
        except StopAsyncIteration:
            if done is not None:
                yield done
        except InferlineError as error:
            for chunk in on_error(from_core(error)):
                yield encode(chunk)
        finally:
            stream.cancel()

    return Stream(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(stream.cancel),
    )
