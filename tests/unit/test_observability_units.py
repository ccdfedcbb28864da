"""Small pieces of observability: what the SDK adds to a call's metadata, which request ids
are kept, JSON log lines with their request id, and the metrics address."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

import inferline
from inferline._context import outgoing
from inferline_core.logs import request_scope, setup_logging
from inferline_core.metrics import split_address

BASE = (("authorization", "Bearer k"),)


def test_nothing_is_added_without_a_span_or_a_request_id() -> None:
    assert outgoing(BASE) is BASE


def test_the_active_span_travels_as_traceparent() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("caller") as span:
        metadata = dict(outgoing(BASE))
    context = span.get_span_context()
    version, trace_id, parent, _flags = metadata["traceparent"].split("-")
    assert (version, trace_id, parent) == (
        "00",
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
    )
    assert metadata["authorization"] == "Bearer k"


def test_a_request_id_travels_inside_its_block_only() -> None:
    with inferline.request_id("abc-1"):
        assert dict(outgoing(BASE))["x-request-id"] == "abc-1"
        assert inferline.current_request_id() == "abc-1"
    assert inferline.current_request_id() is None
    assert "x-request-id" not in dict(outgoing(BASE))


@pytest.mark.parametrize(
    ("value", "sane"),
    [
        ("req-1", True),
        ("0af7651916cd43dd8448eb211c80319c", True),
        ("a/b:c+d=e.f_g", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        (None, False),
        ("has space", False),
        ("new\nline", False),
        ("<script>", False),
    ],
)
def test_which_request_ids_are_sane(value: str | None, sane: bool) -> None:
    assert inferline.sane_request_id(value) is sane


class _Context:
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_json_log_lines_carry_the_rpcs_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", "json")
    log = logging.getLogger("inferline_core.test")
    with request_scope(_Context((("x-request-id", "rpc-9"),))):
        log.info("inside")
    with request_scope(_Context((("x-request-id", "bad id"),))):
        log.info("insane id")
    log.info("outside")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["message"], line["request_id"]) for line in lines] == [
        ("inside", "rpc-9"),
        ("insane id", "-"),
        ("outside", "-"),
    ]
    assert {"time", "level", "name"} <= set(lines[0])


def test_metrics_addresses() -> None:
    assert split_address("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert split_address("[::1]:9464") == ("::1", 9464)
    assert split_address(":9464") == ("127.0.0.1", 9464)
    with pytest.raises(ValueError, match="HOST:PORT"):
        split_address("localhost")
