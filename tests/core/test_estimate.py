"""The cost estimate's counting rules (``_core/estimate.py``), fed bytes as the validation read does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.budget import check_budget, price_estimate
from airflow_provider_gemini_batch._core.estimate import BatchEstimator, estimate_requests
from airflow_provider_gemini_batch.exceptions import GeminiBudgetExceededError, GeminiInvalidInputError


def _feed(rows: list[Any], **kwargs: Any) -> BatchEstimator:
    estimator = BatchEstimator(**kwargs)
    estimator.update("".join(json.dumps(r) + "\n" for r in rows).encode())
    estimator.finish()
    return estimator


def _text(text: str, **request: Any) -> dict[str, Any]:
    return {"request": {"contents": [{"parts": [{"text": text}]}], **request}}


def test_output_bound_multiplies_candidates_and_adds_the_thinking_budget() -> None:
    config = {"maxOutputTokens": 100, "candidateCount": 2, "thinkingConfig": {"thinkingBudget": 50}}
    estimator = _feed([_text("abcd", generationConfig=config), _text("ab")], assumed_output_tokens=7)
    assert (estimator.rows_bounded, estimator.bounded_output) == (1, 250)
    assert (estimator.rows_assumed, estimator.output_tokens) == (1, 257)


def test_snake_case_fields_system_instruction_tools_and_function_parts_count() -> None:
    row = {
        "request": {
            "system_instruction": {"parts": [{"text": "sys"}]},
            "contents": [{"parts": [{"text": "q"}, {"function_call": {"name": "f", "args": {}}}]}],
            "tools": [{"functionDeclarations": [{"name": "f"}]}],
            "generation_config": {"max_output_tokens": 9},
        }
    }
    estimator = _feed([row])
    assert estimator.text_bytes == len('"sys"') + len('"q"')
    assert estimator.raw_bytes == len('{"name": "f", "args": {}}') + len(
        '[{"functionDeclarations": [{"name": "f"}]}]'
    )
    assert estimator.bounded_output == 9


def test_embeddings_have_no_output_and_count_content_and_title() -> None:
    row = {"request": {"model": "models/e", "content": {"parts": [{"text": "abcdefgh"}]}, "title": "tt"}}
    estimator = _feed([row], embeddings=True)
    assert estimator.text_bytes == len('"abcdefgh"') + len('"tt"')
    assert estimator.output_tokens == 0


def test_a_request_the_estimate_cannot_read_is_named() -> None:
    rows = [_text("a"), _text("b", generationConfig={"maxOutputTokens": "100"})]
    problem = _feed(rows).problem("in.jsonl")
    assert problem is not None
    assert "in.jsonl, line 2" in problem


def test_inline_requests_in_every_shape() -> None:
    estimator = estimate_requests(
        [
            {"key": "a", "request": {"contents": [{"parts": [{"text": "x"}]}]}},
            {"request": {"contents": [{"parts": [{"text": "y"}]}]}, "metadata": {"key": "b"}},
            {
                "contents": [
                    {"parts": [{"text": "z"}, {"inlineData": {"mimeType": "image/png", "data": "AA=="}}]}
                ]
            },
        ],
        BatchEstimator(tokens_per_media_part=258),
    )
    assert estimator.requests == 3
    assert estimator.media_parts == 1
    assert estimator.first_media_line == 3
    assert estimator.problem("requests") is None
    assert estimator.input_tokens == 3 + 258  # 9 characters as written / 4, rounded up, + 1 image


def test_output_is_priced_at_the_higher_of_output_and_thinking() -> None:
    estimator = _feed([_text("x" * 398, generationConfig={"maxOutputTokens": 1000})])
    table = {"m": {"input": 1.0, "output": 2.0, "thinking": 3.0}}
    estimate = price_estimate(estimator, model="models/m", table=table, max_cost=0.001)
    assert estimate["tokens"] == {"input": 100, "output": 1000}
    assert estimate["total"] == pytest.approx(0.0001 + 0.003)
    with pytest.raises(GeminiBudgetExceededError) as caught:
        check_budget(estimate, 0.001, what="task t: in.jsonl")
    assert caught.value.estimate["total"] == estimate["total"]
    assert "above max_cost 0.001000 USD" in str(caught.value)
    check_budget(estimate, 0.01, what="task t")  # within: nothing happens


def test_a_model_without_a_price_is_refused_naming_the_table() -> None:
    with pytest.raises(GeminiInvalidInputError, match="no entry for 'other'"):
        price_estimate(_feed([_text("x")]), model="other", table={"m": {"input": 1.0, "output": 1.0}})
