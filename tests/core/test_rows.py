"""The pure row classifier (``_core/rows.py``): edge cases around the real shapes of
``tests/real_service/captures_rows.py`` (those are asserted end to end there)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_gemini_batch._core import rows
from airflow_provider_gemini_batch._core.jsonl import result_from_json, with_position_key


def _cand(parts: list[dict[str, Any]] | None, finish: str | None = "STOP") -> dict[str, Any]:
    cand: dict[str, Any] = {"index": 0}
    if parts is not None:
        cand["content"] = {"role": "model", "parts": parts}
    if finish is not None:
        cand["finishReason"] = finish
    return {"candidates": [cand]}


@pytest.mark.parametrize(
    ("response", "outcome", "reason"),
    [
        (_cand([{"text": "ok"}]), "succeeded", None),
        (_cand([{"text": "ok"}], finish=None), "succeeded", None),  # finishReason absent
        (_cand([{"thought": True, "text": "hm"}, {"text": "ok"}]), "succeeded", None),
        (_cand([{"functionCall": {"name": "f", "args": {}}}]), "succeeded", None),
        (_cand([{"inline_data": {"mimeType": "image/png", "data": "AA=="}}]), "succeeded", None),
        (_cand([{"text": ""}]), "no_output", "NO_CONTENT"),
        (_cand([{"thoughtSignature": "c2ln"}]), "no_output", "NO_CONTENT"),
        (_cand(None), "no_output", "NO_CONTENT"),
        (_cand([{"text": "partial"}], finish="MAX_TOKENS"), "max_tokens", "MAX_TOKENS"),
        (_cand([{"text": "x"}], finish="RECITATION"), "stopped", "RECITATION"),
        ({"candidates": []}, "no_output", "NO_CANDIDATES"),
        ({}, "no_output", "NO_CANDIDATES"),
        ({"prompt_feedback": {"block_reason": "SAFETY"}}, "blocked", "SAFETY"),
        (
            {"promptFeedback": {"blockReason": "BLOCK_REASON_UNSPECIFIED"}, **_cand([{"text": "ok"}])},
            "succeeded",
            None,
        ),
        ({"embedding": {"values": [0.1, 0.2]}}, "succeeded", None),
        ({"embeddings": [{"values": [0.1]}]}, "succeeded", None),
        ({"embedding": {"values": []}}, "no_output", "NO_CANDIDATES"),
    ],
)
def test_responses_are_classified(response: dict[str, Any], outcome: str, reason: str | None) -> None:
    verdict = rows.classify(response, None)
    assert (verdict.outcome, verdict.reason, verdict.retryable) == (outcome, reason, False)


def test_snake_case_finish_reason_is_read() -> None:
    response = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finish_reason": "SAFETY"}]}
    assert rows.classify(response, None).outcome == "stopped"


@pytest.mark.parametrize(
    ("error", "retryable", "reason"),
    [
        ({"code": 429, "message": "quota"}, True, "HTTP 429"),
        ({"code": 500}, True, "HTTP 500"),
        ({"code": 503}, True, "HTTP 503"),
        ({"code": 504}, True, "HTTP 504"),
        ({"code": 400}, False, "HTTP 400"),
        ({"code": 8}, True, "RESOURCE_EXHAUSTED"),
        ({"code": 13}, True, "INTERNAL"),
        ({"code": 14}, True, "UNAVAILABLE"),
        ({"code": 4}, True, "DEADLINE_EXCEEDED"),
        ({"code": 3}, False, "INVALID_ARGUMENT"),
        ({"code": "14"}, True, "UNAVAILABLE"),
        ({"code": 429, "status": "RESOURCE_EXHAUSTED"}, True, "RESOURCE_EXHAUSTED"),
        ({"status": "UNAVAILABLE", "message": "later"}, True, "UNAVAILABLE"),
        ({"message": "no code"}, False, None),
    ],
)
def test_error_codes_in_both_numberings(error: dict[str, Any], retryable: bool, reason: str | None) -> None:
    verdict = rows.classify(None, error)
    assert (verdict.outcome, verdict.retryable, verdict.reason) == ("error", retryable, reason)


def test_error_wins_over_a_response_and_details_are_kept() -> None:
    status = {
        "code": 3,
        "message": "bad",
        "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest"}],
    }
    result = result_from_json({"key": "k", "status": status, "response": _cand([{"text": "x"}])}, 0)
    assert result.outcome == "error"
    assert result.to_row()["error"] == status


def test_empty_vertex_status_string_is_no_error() -> None:
    result = result_from_json({"key": "k", "status": "", "response": _cand([{"text": "x"}])}, 0)
    assert result.ok


def test_position_key_only_for_keyless_rows() -> None:
    keyless = with_position_key(result_from_json({"response": _cand([{"text": "x"}])}, 7))
    keyed = with_position_key(result_from_json({"key": "mine", "response": _cand([{"text": "x"}])}, 7))
    assert (keyless.key, keyless.key_inferred) == ("request-7", True)
    assert (keyed.key, keyed.key_inferred) == ("mine", False)
