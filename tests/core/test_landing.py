"""Rows landed from the result line's own bytes parse exactly as the rows the stdlib re-encoded.

Corpus: every result line of ``tests/real_service/captures_rows.py`` (cookbook Batch_mode.ipynb
cells 25 and 48 outputs, generative-ai-docs issue #235, the issue-9 status rows, the Vertex
status string of google/langextract PR #537: their sources are named there), plus edge shapes.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_gemini_batch._core import rows
from airflow_provider_gemini_batch._core.jsonl import (
    parse_result_line,
    result_from_json,
    split_lines,
    with_position_key,
)
from airflow_provider_gemini_batch._core.landing import iter_lines, parse_raw_result_line, row_line
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


# -- the fast paths agree with the general ones --------------------------------------------------

_TEXT = {"content": {"parts": [{"text": "an answer"}]}, "finishReason": "STOP"}
FAST_PATH_SHAPES = [
    {"candidates": [_TEXT]},
    {"candidates": [{**_TEXT, "finishReason": "FINISH_REASON_UNSPECIFIED"}]},
    {"candidates": [{"content": {"parts": [{"text": "x"}]}}]},  # no finishReason
    {"candidates": [{**_TEXT, "finishReason": "SAFETY"}]},
    {"candidates": [{**_TEXT, "finishReason": "MAX_TOKENS"}]},
    {"candidates": [{**_TEXT, "finishReason": ["STOP"]}]},  # not a string: classified, not raised
    {"candidates": [{**_TEXT, "finishReason": {"a": 1}}]},
    {"candidates": [{"content": _TEXT["content"], "finish_reason": "SAFETY"}]},  # snake_case spelling
    {"candidates": [{"content": {"parts": [{"text": "t", "thought": True}]}, "finishReason": "STOP"}]},
    {"candidates": [{"content": {"parts": [{"text": ""}, {"text": "y"}]}, "finishReason": "STOP"}]},
    {"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]},
    {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f"}}]}, "finishReason": "STOP"}]},
    {"candidates": [_TEXT], "promptFeedback": {"blockReason": "SAFETY"}},
    {"candidates": [_TEXT], "prompt_feedback": {"block_reason": "OTHER"}},
    {"candidates": [_TEXT], "promptFeedback": {"blockReason": "BLOCK_REASON_UNSPECIFIED"}},
    {"candidates": []},
    {"candidates": [None]},
    {"candidates": [{"content": {"parts": "no list"}, "finishReason": "STOP"}]},
    {"embedding": {"values": [0.5]}},
    {"tokenCount": "3", "embedding": {"values": [0.5]}},
]


@pytest.mark.parametrize("response", FAST_PATH_SHAPES, ids=lambda r: json.dumps(r)[:60])
def test_the_fast_success_check_never_disagrees_with_the_full_rules(response: dict) -> None:
    """``plainly_succeeded`` may only accept what the full rules call succeeded."""
    full = rows.classify_fully(response, None)
    if rows.plainly_succeeded(response):
        assert full.outcome == rows.SUCCEEDED
    assert rows.classify(response, None) == full


@pytest.mark.parametrize("response", FAST_PATH_SHAPES, ids=lambda r: json.dumps(r)[:60])
@pytest.mark.parametrize("key", ['"k1"', "7", None])
def test_a_parsed_line_equals_the_general_normalisation(response: dict, key: str | None) -> None:
    """The landing parser's shortcut for a keyed response gives what ``result_from_json`` gives."""
    body = json.dumps(response).encode()
    line = b'{"response": ' + body + (b', "key": ' + key.encode() if key else b"") + b"}"
    obj = json.loads(line)
    for given in (line, memoryview(b"##" + line)[2:]):
        parsed, raw_response, _ = parse_raw_result_line(given, 4)
        assert parsed == result_from_json(obj, 4)
        assert bytes(raw_response) == body  # type: ignore[arg-type]


STREAM = b'{"a": 1}\n\n  \n{"b": 2}\r\n{"c": [3,\n4]}\n \t{"d": 5}\n{"e": 6}'


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, len(STREAM)])
def test_iter_lines_cuts_like_split_lines(size: int) -> None:
    """Lines found in place give what the copying splitter gave, wherever the chunks are cut."""
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert [bytes(line) for line in iter_lines(chunks)] == list(split_lines(chunks))
