"""The OpenAI Agents SDK, which calls the Responses API by default, against `inferline serve`
with the tiny GGUF: an agent makes a forced tool call that the SDK runs; a second agent reads
the tool's output (sent as the whole history, or after previous_response_id) and answers in a
typed output. The tiny model never stops on its own and the SDK refuses incomplete responses,
so every turn here is ended by a grammar: a forced call or a JSON schema."""

from __future__ import annotations

from typing import Any, Literal

import openai
import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from pydantic import BaseModel

from tests.e2e.conftest import MODEL
from tests.e2e.serve import Served

REPORTS = {"c": "21 C", "f": "70 F"}


class Answer(BaseModel):
    """The typed final output."""

    warm: bool
    unit: Literal["c", "f"]


@pytest.fixture(scope="module", autouse=True)
def no_tracing() -> None:
    set_tracing_disabled(True)  # the SDK would send traces to OpenAI's servers


def _model(served: Served) -> OpenAIResponsesModel:
    client = openai.AsyncOpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)
    return OpenAIResponsesModel(model=MODEL, openai_client=client)


def _caller(served: Served, calls: list[str]) -> Agent[Any]:
    @function_tool
    def get_weather(unit: Literal["c", "f"]) -> str:
        """The weather in Paris, in the given unit."""
        calls.append(unit)
        return REPORTS[unit]

    return Agent(
        name="caller",
        instructions="Look the weather up.",
        model=_model(served),
        tools=[get_weather],
        tool_use_behavior="stop_on_first_tool",
        model_settings=ModelSettings(tool_choice="get_weather", max_tokens=64),
    )


def _answerer(served: Served) -> Agent[Any]:
    return Agent(
        name="answerer",
        instructions="Say whether it is warm.",
        model=_model(served),
        output_type=Answer,
        model_settings=ModelSettings(max_tokens=64),
    )


@pytest.mark.parametrize("chained", [False, True])
async def test_tool_call_then_typed_answer(served: Served, chained: bool) -> None:
    calls: list[str] = []
    looked_up = await Runner.run(_caller(served, calls), "Weather in Paris?", max_turns=2)
    (unit,) = calls
    assert looked_up.final_output == REPORTS[unit]
    history = looked_up.to_input_list()
    assert [item.get("type") for item in history[-2:]] == ["function_call", "function_call_output"]
    if chained:  # the server holds the question and the call; send only the tool's output
        answered = await Runner.run(
            _answerer(served), history[-1:], previous_response_id=looked_up.last_response_id
        )
    else:
        answered = await Runner.run(_answerer(served), history)
    assert isinstance(answered.final_output, Answer)
    sdk = openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)
    response_id = answered.last_response_id or ""
    sent = sdk.responses.input_items.list(response_id, order="asc").data
    assert sent[-1].type == "function_call_output" and sent[-1].output == REPORTS[unit]
    kept = sdk.responses.retrieve(response_id)
    assert kept.previous_response_id == (looked_up.last_response_id if chained else None)
    assert kept.text.format.type == "json_schema"


async def test_streamed_agent_run(served: Served) -> None:
    calls: list[str] = []
    run = Runner.run_streamed(_caller(served, calls), "Weather?", max_turns=2)
    kinds = {event.type async for event in run.stream_events()}
    assert {"raw_response_event", "run_item_stream_event"} <= kinds
    (unit,) = calls
    assert run.final_output == REPORTS[unit]
