"""Schema fuzzing: schemathesis generates requests from /schema/openapi.json and sends them to
`inferline serve` on the tiny chat model (with the bundled embedding and speech models). No
answer, to valid or to invalid requests, may be a 5xx, and every answer must match the
document: its status, its content type and its body's schema. Bounded: a few examples per
operation, a time budget for the whole run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode, checks

from tests.e2e.serve import Served, serve

EXAMPLES = 12  # per operation
# For the whole run: once it is spent (a loaded machine), each operation left gets one example,
# so every operation is still checked and the run stays bounded.
BUDGET_S = 150.0
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(tiny_chat_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("fuzz")
    model = workdir / "tiny-chat.gguf"
    model.symlink_to(tiny_chat_gguf)
    with serve([str(model), "--nctx", "128"], workdir) as running:
        yield running


def _run(operation: Any, base_url: str, examples: int) -> list[str]:
    failures: list[str] = []

    # Valid bodies and invalid ones (wrong types, missing fields): neither may be a 5xx.
    cases = operation.as_strategy() | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)

    @given(case=cases)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        try:
            case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=120)
        except Exception as error:  # every failure is reported at the end
            failures.append(f"{operation.label}: {str(error)[:1500]}")

    check()
    return failures


def test_every_answer_matches_the_document(fuzzed: Served) -> None:
    document = httpx.get(fuzzed.base_url + "/schema/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    started = time.monotonic()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        examples = EXAMPLES if time.monotonic() - started < BUDGET_S else 1
        operations += 1
        failures += _run(operation, fuzzed.base_url, examples)
    assert operations >= 15
    assert not failures, "\n\n".join(failures)


def test_the_document_describes_every_body_and_the_docs_page(fuzzed: Served) -> None:
    document = httpx.get(fuzzed.base_url + "/schema/openapi.json", timeout=10).json()
    assert httpx.get(fuzzed.base_url + "/docs/openapi.json", timeout=10).json() == document
    page = httpx.get(fuzzed.base_url + "/docs", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "delete")
    ]
    for path, method, operation in operations:
        ok = operation["responses"]["200"]["content"]
        assert ok, (path, method)
        error = operation["responses"]["default"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorBody"}
        if method == "post":
            assert operation["requestBody"]["required"], path
    schemas = document["components"]["schemas"]
    assert set(schemas["ErrorDetail"]["required"]) == {"message", "type", "param", "code"}
    chat = schemas["ChatCompletionRequest"]["properties"]
    assert {"messages", "model", "tools", "response_format", "stream"} <= set(chat)
    edits = document["paths"]["/v1/images/edits"]["post"]["requestBody"]["content"]
    assert edits["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
