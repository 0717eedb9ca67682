"""JSONL input validation (with line numbers) and result normalisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_gemini_batch._core.jsonl import (
    iter_inline_results,
    parse_result_line,
    split_lines,
    validate_input_file,
    validate_input_lines,
)
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError

REQ = {"contents": [{"parts": [{"text": "hi"}]}]}


def _line(**obj: object) -> str:
    return json.dumps(obj) + "\n"


def test_valid_keyed_file_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(_line(key="a", request=REQ) + _line(key="b", request=REQ))
    summary = validate_input_file(str(path))
    assert (summary.count, summary.keyed) == (2, True)


@pytest.mark.parametrize(
    ("lines", "line_number", "match"),
    [
        (["{not json\n"], 1, "not valid JSON"),
        ([_line(key="a", request=REQ), "[1, 2]\n"], 2, "JSON object"),
        ([_line(key="a", contents=[])], 1, 'no "request"'),
        ([_line(key="a", request="hi")], 1, "must be a JSON object"),
        (
            [_line(key="a", request=REQ), _line(key="a", request=REQ)],
            2,
            "duplicate key 'a' \\(first used on line 1\\)",
        ),
        ([_line(key="a", request=REQ), _line(request=REQ)], 2, "some lines have a"),
        ([_line(key="", request=REQ)], 1, "non-empty string"),
        ([_line(key="a", request=REQ), "\n", _line(key="b", request=REQ)], 2, "empty line"),
    ],
)
def test_invalid_lines_name_the_line(lines: list[str], line_number: int, match: str) -> None:
    with pytest.raises(GeminiInputFileError, match=match) as info:
        validate_input_lines(lines, path="in.jsonl")
    assert info.value.line_number == line_number
    assert f"in.jsonl, line {line_number}" in str(info.value)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(GeminiInputFileError, match="no requests"):
        validate_input_file(str(path))


def test_trailing_blank_lines_are_fine() -> None:
    assert validate_input_lines([_line(request=REQ), "\n"], path="x").count == 1


def test_result_lines_take_the_key_from_the_line_not_the_position() -> None:
    results = [
        parse_result_line(json.dumps({"response": {"r": 2}, "key": "b"}), 0),
        parse_result_line(json.dumps({"key": "a", "error": {"code": 3, "message": "bad"}}), 1),
    ]
    assert [(r.key, r.index, r.ok) for r in results] == [("b", 0, False), ("a", 1, False)]
    assert [r.outcome for r in results] == ["no_output", "error"]
    assert results[1].to_row() == {
        "key": "a",
        "status": "failed",
        "outcome": "error",
        "reason": "INVALID_ARGUMENT",
        "retryable": False,
        "error": {"code": 3, "message": "bad"},
    }


def test_inline_results_read_the_key_from_metadata() -> None:
    items = [
        {"response": {"embedding": {"values": [0.1]}}, "metadata": {"key": "k2"}},
        {"error": {"code": 3}},
    ]
    out = list(iter_inline_results(items))
    assert [(r.key, r.index, r.ok) for r in out] == [("k2", 0, True), (None, 1, False)]


def test_split_lines_rejoins_lines_across_chunks() -> None:
    chunks = [b'{"a":', b"1}\n{", b'"b":2}\n\n', b'{"c":3}']
    assert list(split_lines(chunks)) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']
