"""The fake model's structured output, thinking tokens, outcome markers and embedding token counts."""

from __future__ import annotations

import json

import httpx
import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer, fake_model
from tests.emulator.test_batches import create, get

SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "sentiment": {"type": "STRING", "enum": ["positive", "neutral", "negative"]},
        "summary": {"type": "STRING"},
        "score": {"type": "INTEGER"},
        "confidence": {"type": "NUMBER"},
        "spam": {"type": "BOOLEAN"},
        "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 2},
    },
    "required": ["sentiment", "summary"],
}
JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"enum": ["a", "b"]},
        "count": {"type": ["integer", "null"]},
        "item": {"$ref": "#/$defs/item"},
    },
    "required": ["label", "count", "item"],
    "$defs": {"item": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}},
}


def answer_of(http: httpx.Client, emulator: EmulatorServer, request: dict) -> dict:
    op = create(http, [{"request": request, "metadata": {"key": "k"}}])
    emulator.control.advance_clock(10)
    rows = get(http, op["name"])["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    return rows[0]["response"]


def text_of(response: dict) -> str:
    return response["candidates"][0]["content"]["parts"][0]["text"]


@pytest.mark.parametrize(
    ("config", "schema_key"),
    [
        ({"responseMimeType": "application/json", "responseSchema": SCHEMA}, "camel"),
        ({"response_mime_type": "application/json", "response_schema": SCHEMA}, "snake"),
    ],
)
def test_json_mode_answers_schema_valid_deterministic_json(
    http: httpx.Client, emulator: EmulatorServer, config: dict, schema_key: str
) -> None:
    request = {"contents": [{"parts": [{"text": "great product"}]}], "generationConfig": config}
    if schema_key == "snake":
        request = {"contents": request["contents"], "generation_config": config}

    answer = json.loads(text_of(answer_of(http, emulator, request)))

    assert answer["sentiment"] in {"positive", "neutral", "negative"}
    assert isinstance(answer["summary"], str)
    assert isinstance(answer["score"], int)
    assert not isinstance(answer["score"], bool)
    assert isinstance(answer["confidence"], float)
    assert isinstance(answer["spam"], bool)
    assert len(answer["tags"]) == 2
    assert all(isinstance(t, str) for t in answer["tags"])
    assert text_of(answer_of(http, emulator, request)) == fake_model.expected_text(request)


def test_json_mode_honours_response_json_schema(http: httpx.Client, emulator: EmulatorServer) -> None:
    config = {"responseMimeType": "application/json", "responseJsonSchema": JSON_SCHEMA}
    request = {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": config}

    answer = json.loads(text_of(answer_of(http, emulator, request)))

    assert answer["label"] in {"a", "b"}
    assert isinstance(answer["count"], int)
    assert isinstance(answer["item"]["ok"], bool)


def test_thinking_tokens_are_reported_unless_the_budget_is_zero(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """Cookbook Batch_mode.ipynb cell 25 output: thoughtsTokenCount counted in totalTokenCount."""
    contents = [{"parts": [{"text": "a b c"}]}]
    thinking = answer_of(http, emulator, {"contents": contents})["usageMetadata"]
    off = answer_of(
        http,
        emulator,
        {"contents": contents, "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}},
    )["usageMetadata"]

    assert thinking["thoughtsTokenCount"] > 0
    assert thinking["totalTokenCount"] == (
        thinking["promptTokenCount"] + thinking["candidatesTokenCount"] + thinking["thoughtsTokenCount"]
    )
    assert "thoughtsTokenCount" not in off
    assert off["totalTokenCount"] == off["promptTokenCount"] + off["candidatesTokenCount"]


def test_blocked_marker_gives_prompt_feedback_and_no_candidates(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    response = answer_of(http, emulator, {"contents": [{"parts": [{"text": "[[blocked]] x"}]}]})
    assert response["promptFeedback"] == {"blockReason": "SAFETY"}
    assert "candidates" not in response


def test_safety_marker_gives_a_bare_safety_stop(http: httpx.Client, emulator: EmulatorServer) -> None:
    response = answer_of(http, emulator, {"contents": [{"parts": [{"text": "[[safety]] x"}]}]})
    assert response["candidates"] == [{"finishReason": "SAFETY", "index": 0}]


def test_max_tokens_marker_cuts_the_answer(http: httpx.Client, emulator: EmulatorServer) -> None:
    response = answer_of(http, emulator, {"contents": [{"parts": [{"text": "[[max_tokens]] x y"}]}]})
    assert response["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert text_of(response) == "Emulated"


def test_thought_only_marker_gives_only_a_thought_part(http: httpx.Client, emulator: EmulatorServer) -> None:
    response = answer_of(http, emulator, {"contents": [{"parts": [{"text": "[[thought_only]] x"}]}]})
    parts = response["candidates"][0]["content"]["parts"]
    assert [part.get("thought") for part in parts] == [True]
    assert response["candidates"][0]["finishReason"] == "STOP"


def test_embedding_results_carry_token_count_as_int64_string(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """Cookbook cell 48 output: ``{"response":{"tokenCount":"1","embedding":{...}},"key":...}``."""
    op = http.post(
        "/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent",
        json={
            "batch": {
                "inputConfig": {
                    "requests": {
                        "requests": [
                            {
                                "request": {
                                    "content": {"parts": [{"text": "one two"}]},
                                    "outputDimensionality": 3,
                                }
                            }
                        ]
                    }
                }
            }
        },
    ).json()
    emulator.control.advance_clock(10)
    row = get(http, op["name"])["metadata"]["output"]["inlinedResponses"]["inlinedResponses"][0]

    assert list(row["response"]) == ["tokenCount", "embedding"]
    assert row["response"]["tokenCount"] == "2"
    assert len(row["response"]["embedding"]["values"]) == 3
