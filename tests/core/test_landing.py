"""Rows landed from the result line's own bytes parse exactly as the rows the stdlib re-encoded.

Corpus: every result line of ``tests/real_service/captures_rows.py`` (cookbook Batch_mode.ipynb
cells 25 and 48 outputs, generative-ai-docs issue #235, the issue-9 status rows, the Vertex
status string of google/langextract PR #537: their sources are named there), plus edge shapes.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_gemini_batch._core.jsonl import parse_result_line, with_position_key
from airflow_provider_gemini_batch._core.landing import parse_raw_result_line, row_line
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError
from tests.real_service import captures_rows

CORPUS = (
    captures_rows.REPORTED_RESULT_LINES
    + captures_rows.COOKBOOK_EMBED_RESULT_LINES
    + captures_rows.COOKBOOK_TEXT_RESULT_LINES
).splitlines()
EDGES = [
    b'{"key": "a", "response": []}',  # not an object: a made-up error row
    b'{"key": "b", "response": {"candidates": []}, "error": {"code": 8, "message": "busy"}}',
    b'{"key": "c", "status": {}}',
    b'{"key": "d", "status": ""}',
    b'{"metadata": {"key": "e"}, '
    b'"response": {"candidates": [{"content": {"parts": [{"text": "\\u00e9"}]}}]}}',
    b'{"response": {"embedding": {"values": [0.1, -2e-3]}}, "other": {"x": 1}}',
    b'{"key": 7, "response": null}',
]


@pytest.mark.parametrize("infer", [False, True])
@pytest.mark.parametrize("raw_line", CORPUS + EDGES, ids=lambda b: b[:40].decode("utf-8", "replace"))
def test_spliced_row_parses_like_the_re_encoded_row(raw_line: bytes, infer: bool) -> None:
    old = parse_result_line(raw_line, 3)
    new, response, error = parse_raw_result_line(raw_line, 3)
    assert new == old
    if infer:
        old, new = with_position_key(old), with_position_key(new)
    expected = json.loads(json.dumps(old.to_row(), ensure_ascii=False))
    landed = row_line(new, response=response, error=error)
    assert landed.endswith(b"\n")
    assert landed.count(b"\n") == 1
    parsed = json.loads(landed)
    assert parsed == expected
    assert list(parsed) == list(expected)  # same keys, same order


def test_the_body_is_copied_not_re_encoded() -> None:
    """The response's bytes land as the service wrote them (here, its \\u escape and spacing)."""
    body = b'{"candidates": [{"content": {"parts": [{"text": "caf\\u00e9"}]}, "finishReason": "STOP"}]}'
    result, response, error = parse_raw_result_line(b'{"key": "k", "response": ' + body + b"}", 0)
    assert row_line(result, response=response, error=error) == (
        b'{"key":"k","status":"succeeded","outcome":"succeeded","response":' + body + b"}\n"
    )


def test_a_line_that_is_not_an_object_is_refused_like_before() -> None:
    with pytest.raises(GeminiInvalidInputError, match="Result line 2 is not a JSON object"):
        parse_raw_result_line(b"[1, 2]", 1)
    with pytest.raises(GeminiInvalidInputError, match="Result line 1 is not valid JSON"):
        parse_raw_result_line(b'{"key": ', 0)
