"""Rows landed from the result line's own bytes parse exactly as the rows the stdlib re-encoded.

Corpus: every result line of ``tests/real_service/captures_rows.py`` (cookbook Batch_mode.ipynb
cells 25 and 48 outputs, generative-ai-docs issue #235, the user-reported status rows, the Vertex
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
from airflow_provider_gemini_batch._core.landing import (
    land_result_blocks,
    parse_raw_result_line,
    row_line,
    scan_result_blocks,
)
from airflow_provider_gemini_batch._core.manifest import ResultsTally
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
    {"embedding": {"values": []}},
    {"embedding": {"values": 0}},
    {"embedding": {"values": 0.0}},
    {"embedding": {"values": "v"}},
    {"embedding": {"values": [0.5]}, "candidates": [{"finishReason": "SAFETY"}]},
    {"embedding": {"values": [0.5]}, "promptFeedback": {"blockReason": "SAFETY"}},
    {"embedding": None, "candidates": [_TEXT]},
    {"embedding": {}},
    {"embeddings": [{"values": [1]}]},
    {"embeddings": []},
    {"embeddings": {"values": [1]}},
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


STREAM = (
    b'{"key": "a", "response": {"candidates": []}}\n\n  \n'
    b'{"key": "b", "error": {"code": 8}}\r\n'
    b' \t{"key": "c", "status": {"code": 13}}\n'
    b'{"metadata": {"key": "d"}, "response": {"embedding": {"values": [1]}}}\n'
    b'{"key": "e", "response": {"candidates": [{"content": {"parts": [{"text": "x"}]}}]}}'
)


def _scanned(lines: list) -> list[tuple]:
    return [(s.key, s.metadata, bytes(s.response), bytes(s.error), bytes(s.status)) for s in lines]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 40, len(STREAM)])
def test_scanning_blocks_cuts_like_split_lines(size: int) -> None:
    """Lines scanned in place give what scanning each line of the copying splitter gave, blank
    lines skipped, wherever the blocks are cut."""
    blocks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    scanned = [line for block in scan_result_blocks(blocks) for line in block]
    expected = [parse_raw_result_line(line, 0) for line in split_lines([STREAM])]
    assert len(scanned) == len(expected) == 5
    one_by_one = [line + b"\n" for line in split_lines([STREAM])]
    assert _scanned(scanned) == _scanned([scan for block in scan_result_blocks(one_by_one) for scan in block])


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
def test_a_bad_line_is_named_by_its_number_wherever_the_blocks_are_cut(size: int) -> None:
    data = b'{"key": "a"}\n\n{"key": "b"}\n[1, 2]\n{"key": "c"}\n'
    blocks = [data[i : i + size] for i in range(0, len(data), size)]
    with pytest.raises(GeminiInvalidInputError, match="Result line 3 is not a JSON object"):
        list(land_result_blocks(blocks, ResultsTally()))
    for bad in (
        b'{"key": ',
        # its key and its response decode alone, but the line does not close: still not JSON
        b'{"response":{"candidates":[{"content":{"parts":[{"text":"t"}]}}]},"key":"c3"]',
        b'{"key":"c3","response":{"candidates":[{"content":{"parts":[{"text":"t"}]}}]}]',
    ):
        broken = data.replace(b"[1, 2]", bad)
        blocks = [broken[i : i + size] for i in range(0, len(broken), size)]
        with pytest.raises(GeminiInvalidInputError, match="Result line 3 is not valid JSON"):
            list(land_result_blocks(blocks, ResultsTally()))


# -- a whole result file landed a block at a time -----------------------------------------------

_USAGE = {"promptTokenCount": 4, "candidatesTokenCount": "2", "totalTokenCount": 6, "promptTokensDetails": []}


def _shape_lines() -> list[bytes]:
    """Every shape above as a keyed line (with and without usage), the corpus, the edges, keyless
    and duplicate rows, snake_case usage: the fast path and every way out of it."""
    lines = []
    for n, response in enumerate(FAST_PATH_SHAPES):
        lines.append(json.dumps({"response": response, "key": f"s{n}"}).encode())
        with_usage = {**response, "usageMetadata": _USAGE} if isinstance(response, dict) else response
        lines.append(json.dumps({"key": f"u{n}", "response": with_usage}).encode())
    snake = {"candidates": [_TEXT], "usage_metadata": _USAGE}
    lines.append(json.dumps({"key": "snake", "response": snake}).encode())
    lines.append(json.dumps({"key": "both", "response": {"candidates": [_TEXT], "tokenCount": 3}}).encode())
    lines.append(json.dumps({"key": "s0", "response": {"candidates": [_TEXT]}}).encode())  # a duplicate key
    lines.append(json.dumps({"response": {"candidates": [_TEXT]}}).encode())  # keyless
    lines.append(json.dumps({"key": "m", "metadata": {"x": 1}, "response": {"candidates": [_TEXT]}}).encode())
    compact = [json.dumps(json.loads(line), separators=(",", ":")).encode() for line in lines]
    return lines + compact + TWO_MEMBER_LINES + CORPUS + EDGES


# Lines of exactly a key and a response, compact, as the live service writes them: the landing's
# shortcut cuts them at the separator, so here are the ways that cut can be wrong or doubtful.
_OK = '{"candidates":[{"content":{"parts":[{"text":"fine"}]},"finishReason":"STOP"}]}'
TWO_MEMBER_LINES = [
    f'{{"response":{_OK},"key":"r1"}}'.encode(),
    f'{{"key":"r2","response":{_OK}}}'.encode(),
    # the separator's bytes inside the answer's text, and inside the key (escaped quotes)
    b'{"response":{"candidates":[{"content":{"parts":[{"text":"a,\\"key\\":\\"x\\"}"}]}}]},"key":"r3"}',
    b'{"key":"r4 \\",\\"response\\":{","response":' + _OK.encode() + b"}",
    b'{"response":' + _OK.encode() + b',"key":"r5,\\"key\\":\\"z"}',
    # a member twice: the line means its last spelling (here a different key and answer)
    b'{"response":{"candidates":[]},"key":"dup-a","response":' + _OK.encode() + b',"key":"r6"}',
    b'{"key":"r7","response":' + _OK.encode() + b',"key":"dup-b"}',
    b'{"response":' + _OK.encode() + b',"key":"r8","response":{"candidates":[]}}',
    # a third member, spacing, an escaped key, a non-string key, not an object inside
    b'{"response":' + _OK.encode() + b',"metadata":{"a":1},"key":"r9"}',
    b'{"response": ' + _OK.encode() + b',"key":"r10"}',
    b'{"response":' + _OK.encode() + b',"key": "r11" }',
    b'{"response":' + _OK.encode() + b',"key":"r\\u00e912"}',
    b'{"response":' + _OK.encode() + b',"key":13}',
    b'{"response":' + _OK.encode() + b',"key":"r14"}  ',
    b'{"key":"r15","response":' + _OK.encode() + b"}\r",
    b'{"response":{},"key":"r16"}',
    b'{"response":{"embedding":{"values":[ ]}},"key":"r17"}',
    b'{"response":{"embedding":{"values":[\t]}},"key":"r18"}',
    b'{"response":{"embedding":[0.1]},"key":"r19"}',
    b'{"response":{"embeddings":[ {"values":[1]}]},"key":"r20"}',
]


def _land_line_by_line(lines: list[bytes], infer: bool) -> tuple[list[dict], ResultsTally, list]:
    """What landing gave before blocks: each line parsed alone, its row encoded by the stdlib."""
    tally, landed, duplicates = ResultsTally(), [], []
    for index, line in enumerate(lines):
        result = parse_result_line(line, index)
        if infer:
            result = with_position_key(result)
        landed.append(json.loads(json.dumps(result.to_row(), ensure_ascii=False)))
        if tally.add(result):
            duplicates.append((index, result.key))
    return landed, tally, duplicates


@pytest.mark.parametrize("infer", [False, True])
@pytest.mark.parametrize("size", [1, 97, 4096, 1 << 20])
def test_landing_blocks_gives_the_rows_and_counts_of_landing_each_line_alone(infer: bool, size: int) -> None:
    lines = _shape_lines()
    data = b"\n".join(lines) + b"\n"
    blocks = [data[i : i + size] for i in range(0, len(data), size)]
    tally: ResultsTally = ResultsTally()
    duplicates: list = []

    def on_duplicate(index: int, key: str) -> None:
        duplicates.append((index, key))

    out = b"".join(land_result_blocks(blocks, tally, infer_keys=infer, on_duplicate=on_duplicate))
    expected_rows, expected_tally, expected_duplicates = _land_line_by_line(lines, infer)
    landed = [json.loads(row) for row in out.splitlines()]
    assert landed == expected_rows
    assert [list(row) for row in landed] == [list(row) for row in expected_rows]  # same field order
    assert tally == expected_tally
    assert duplicates == expected_duplicates
    assert (len(FAST_PATH_SHAPES) * 2 + 2, "s0") in duplicates
    # Byte for byte what the one-line path writes (the body spliced from the line as it came).
    assert out == b"".join(
        row_line(with_position_key(r) if infer else r, response=b, error=e)
        for r, b, e in (parse_raw_result_line(line, i) for i, line in enumerate(lines))
    )


# -- bytes the typed view does not read ----------------------------------------------------------

_PLAIN = b'{"candidates":[{"content":{"parts":[{"text":"fine"}]}}]'


@pytest.mark.parametrize(
    "bad",
    [
        b'{"key":"k","response":{"candidates":[{"content":{"parts":[{"text":"a\xffb"}]}}]}}',
        b'{"response":' + _PLAIN + b',"modelVersion":"\xc3"},"key":"k"}',
        b'{"key":"k","response":' + _PLAIN + b',"\xff":1}}',
    ],
)
@pytest.mark.parametrize("size", [1, 50, 1 << 20])
def test_a_body_that_is_not_utf8_is_refused_with_its_line_number(bad: bytes, size: int) -> None:
    """Found by review: the typed view skips the text unchecked, so such a row was landed; the
    line-by-line code refused it (with a bare UnicodeDecodeError). Now the line is named."""
    data = b'{"key":"a","response":' + _PLAIN + b"}}\n" + bad + b"\n"
    blocks = [data[i : i + size] for i in range(0, len(data), size)]
    with pytest.raises(GeminiInvalidInputError, match="Result line 2 is not valid UTF-8"):
        list(land_result_blocks(blocks, ResultsTally()))


def test_bad_bytes_outside_every_body_are_landed_as_before() -> None:
    """A line-level field nobody reads was never decoded: its bytes do not stop the landing."""
    data = b'{"key":"a","response":' + _PLAIN + b'},"note":"\xff"}\n{"key":"b","response":' + _PLAIN + b"}}\n"
    tally = ResultsTally()
    out = b"".join(land_result_blocks([data], tally))
    assert tally.succeeded == 2
    assert [json.loads(row)["key"] for row in out.splitlines()] == ["a", "b"]


def test_a_number_beyond_a_double_is_landed_where_unread_and_named_where_read() -> None:
    """A body the classification need not read is landed as the service wrote it (JSON allows
    ``1e999``); a body it must decode whole cannot hold it, and the line is named."""
    unread = b'{"key":"a","response":' + _PLAIN + b',"x":1e999}}\n'
    tally = ResultsTally()
    out = b"".join(land_result_blocks([unread], tally))
    assert tally.succeeded == 1
    assert out.endswith(b',"x":1e999}}\n')
    read = b'{"key":"b","response":{"candidates":[{"finishReason":"SAFETY"}],"x":1e999}}\n'
    with pytest.raises(GeminiInvalidInputError, match="Result line 1 cannot be read"):
        list(land_result_blocks([read], ResultsTally()))
