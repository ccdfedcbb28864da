"""The rate limiter's sliding minute, with a clock the test moves."""

from __future__ import annotations

from inferline.keys import matches
from inferline.v1 import chat_service_pb2 as chat
from inferline.v1 import common_pb2
from inferline_bridge.calls import _stream_tokens
from inferline_bridge.limits import Limiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_trip_and_recover_after_the_window() -> None:
    clock = Clock()
    limiter = Limiter(requests=2, tokens=0, clock=clock)
    assert [limiter.admit("a").allowed for _ in range(3)] == [True, True, False]
    assert limiter.admit("b").allowed  # clients are counted apart
    clock.now += 30
    refused = limiter.admit("a")
    assert not refused.allowed and 29 <= refused.retry_after <= 30
    assert refused.headers["x-ratelimit-reset-requests"] == "30s"
    clock.now += 30.5
    assert limiter.admit("a").allowed


def test_tokens_are_charged_and_expire() -> None:
    clock = Clock()
    limiter = Limiter(requests=0, tokens=100, clock=clock)
    assert limiter.admit("a").headers["x-ratelimit-remaining-tokens"] == "100"
    limiter.charge("a", 60)
    clock.now += 10
    limiter.charge("a", 50)
    verdict = limiter.admit("a")
    assert not verdict.allowed
    assert verdict.headers["x-ratelimit-remaining-tokens"] == "0"
    clock.now += 50.5  # the first 60 tokens leave the window
    verdict = limiter.admit("a")
    assert verdict.allowed and verdict.headers["x-ratelimit-remaining-tokens"] == "50"
    clock.now += 120
    limiter.forget_idle()
    assert limiter.admit("a").headers["x-ratelimit-reset-tokens"] == "0s"


def test_a_stream_is_charged_the_tokens_its_deltas_carry() -> None:
    def delta(tokens: int) -> chat.ChatStreamResponse:
        return chat.ChatStreamResponse(delta=chat.ChatDelta(content="abc", tokens=tokens))

    assert _stream_tokens(delta(4)) == (4, False)  # gathered by the core's stream_interval
    assert _stream_tokens(delta(0)) == (1, False)  # a tool-call fragment counts one
    usage = common_pb2.Usage(prompt_tokens=5, completion_tokens=9, total_tokens=14)
    final = chat.ChatStreamResponse(final=common_pb2.StreamFinal(usage=usage))
    assert _stream_tokens(final) == (14, True)


def test_clients_seen_once_are_forgotten() -> None:
    clock = Clock()
    limiter = Limiter(requests=5, tokens=100, clock=clock)
    for n in range(500):
        limiter.admit(f"10.0.{n // 250}.{n % 250}")
        limiter.charge(f"10.0.{n // 250}.{n % 250}", 3)
    assert limiter.clients == 500
    clock.now += 30
    assert limiter.admit("regular").allowed
    assert limiter.clients == 501  # still inside their minute
    clock.now += 31
    assert limiter.admit("regular").allowed  # the next request after a window sweeps
    assert limiter.clients == 1


def test_key_matching() -> None:
    assert matches("k2", ["k1", "k2"])
    assert not matches("k", ["k1", "k2"])
    assert not matches("", [])
