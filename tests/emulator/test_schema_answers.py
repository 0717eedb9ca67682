"""The emulator's structured output validates against the pydantic model that wrote the schema.

A common.ai user's DAG asked for a model with ``Field(ge=0, le=1)`` and got ``55.29`` from the
emulator: every row then failed validation offline. The fake model must honour the JSON Schema
subset Gemini accepts (REST reference GenerationConfig ``responseJsonSchema`` / ``responseSchema``):
types, ``enum``, ``minimum``/``maximum``, ``minLength``/``maxLength``, ``minItems``/``maxItems``,
``required``, ``nullable``/``anyOf``, ``$ref``/``$defs``, ``format``. Requests go to the emulator
over its socket through the hook; the answers are checked by pydantic itself.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.operators._support import MODEL, sync_hook


class Evidence(BaseModel):
    quote: str = Field(min_length=5, max_length=12)
    weight: int = Field(ge=5, le=7)


class Verdict(BaseModel):
    score: float = Field(ge=0, le=1)
    confidence: float = Field(gt=0.5, lt=0.75)
    label: Literal["positive", "negative", "mixed"]
    tags: list[str] = Field(min_length=1, max_length=2)
    reasons: list[Evidence] = Field(min_length=3)
    note: str | None = None
    best: Evidence | None = None
    stars: int = Field(ge=1, le=5, multiple_of=2)
    ticket: uuid.UUID
    seen_at: datetime.datetime
    on: datetime.date
    contact: str = Field(json_schema_extra={"format": "email"})


PROMPTS = [f"review number {i}: {'great' if i % 2 else 'poor'} value" for i in range(12)]


def _requests(schema_key: str, schema: dict) -> list[dict]:
    config = {"responseMimeType": "application/json", schema_key: schema}
    return [
        {"key": f"k{i}", "request": {"contents": [{"parts": [{"text": p}]}], "generationConfig": config}}
        for i, p in enumerate(PROMPTS)
    ]


def _answers(emulator: EmulatorServer, requests: list[dict]) -> dict[str, str]:
    hook = sync_hook()
    batch = hook.create_batch(MODEL, requests=requests)
    emulator.control.advance_clock(60)
    out = {}
    for result in hook.iter_results(hook.get_batch(batch.name)):
        assert result.response is not None
        out[str(result.key)] = result.response["candidates"][0]["content"]["parts"][0]["text"]
    return out


@pytest.mark.parametrize("schema_key", ["responseJsonSchema", "response_json_schema"])
def test_answers_validate_against_the_pydantic_model(gemini_conn: EmulatorServer, schema_key: str) -> None:
    answers = _answers(gemini_conn, _requests(schema_key, Verdict.model_json_schema()))

    parsed = {key: Verdict.model_validate_json(text) for key, text in answers.items()}

    assert len(parsed) == len(PROMPTS)
    assert all(0 <= v.score <= 1 for v in parsed.values())
    assert all(v.best is not None for v in parsed.values())  # an option other than null is chosen
    assert len({v.score for v in parsed.values()}) > 1  # the value follows the prompt


def test_answers_are_deterministic_per_prompt(gemini_conn: EmulatorServer) -> None:
    requests = _requests("responseJsonSchema", Verdict.model_json_schema())
    first = _answers(gemini_conn, requests)
    second = _answers(gemini_conn, requests)
    assert first == second


def test_openapi_schema_bounds_are_honoured(gemini_conn: EmulatorServer) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "probability": {"type": "NUMBER", "minimum": 0, "maximum": 1},
            "code": {"type": "STRING", "maxLength": 4, "minLength": 4},
            "items": {
                "type": "ARRAY",
                "items": {"type": "INTEGER", "minimum": -3, "maximum": -1},
                "maxItems": 1,
            },
            "maybe": {"type": "STRING", "nullable": True, "enum": ["a", "b"]},
        },
        "required": ["probability", "code", "items", "maybe"],
    }
    import json

    for text in _answers(gemini_conn, _requests("responseSchema", schema)).values():
        answer = json.loads(text)
        assert 0 <= answer["probability"] <= 1
        assert len(answer["code"]) == 4
        assert len(answer["items"]) == 1
        assert -3 <= answer["items"][0] <= -1
        assert answer["maybe"] in ("a", "b")
