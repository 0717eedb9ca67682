"""InputValidator fed raw chunks cut anywhere gives the verdict of the line-by-line check."""

from __future__ import annotations

import gc
import json

import pytest

from airflow_provider_gemini_batch._core.input_check import InputValidator
from airflow_provider_gemini_batch._core.jsonl import validate_input_lines
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError

REQ = {"contents": [{"role": "user", "parts": [{"text": "h\u00e9llo"}]}], "generationConfig": {"topK": 3}}


def _lines(*objs: object) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs).encode("utf-8")


CASES = {
    "valid": _lines({"key": "a", "request": REQ}, {"key": "b", "request": REQ}, {"key": "c", "request": REQ}),
    "no_final_newline": _lines({"key": "a", "request": REQ}, {"key": "b", "request": REQ})[:-1],
    "duplicate": _lines(
        {"key": "a", "request": REQ}, {"key": "b", "request": REQ}, {"key": "a", "request": REQ}
    ),
    "bad_json_last": _lines({"key": "a", "request": REQ}) + b'{"key": "b", "request": {',
    "field": _lines({"key": "a", "request": REQ}, {"key": "b", "request": {**REQ, "temperature": 1}}),
    "both_spellings": _lines(
        {"key": "a", "request": REQ}, {"key": "b", "request": {**REQ, "generation_config": {}}}
    ),
    "null_twin": _lines(
        {"key": "a", "request": REQ},
        {"key": "b", "request": {**REQ, "system_instruction": None, "systemInstruction": None}},
    ),
    "null_key": _lines({"key": "a", "request": REQ}, {"key": None, "request": REQ}),
    "blank_inside": _lines({"key": "a", "request": REQ}) + b"\n" + _lines({"key": "b", "request": REQ}),
    "blank_at_end": _lines({"key": "a", "request": REQ}) + b"\n\n",
    "empty_contents": _lines({"key": "a", "request": REQ}, {"key": "b", "request": {"contents": []}}),
    "echoed": _lines({"key": "a", "request": REQ}, {"key": "b", "request": REQ, "note": "x"}),
    "keyless_then_keyed": _lines({"request": REQ}, {"key": "b", "request": REQ}),
    "embed_mixed": _lines({"request": {"content": {"parts": [{"text": "a"}]}}}, {"request": REQ}),
    "not_utf8": _lines({"key": "a", "request": REQ}) + b'{"key": "\xff", "request": {}}\n',
    # Shapes msgspec's decode_lines (the region path) reads differently from line by line: it takes
    # values separated by any whitespace. Each must get the per-line verdict.
    "two_values_on_one_line": _lines({"key": "a", "request": REQ})
    + _lines({"key": "b", "request": REQ})[:-1]
    + b" "
    + _lines({"key": "c", "request": REQ}),
    # As many values as newlines, yet line 2 holds two values and line 3 starts one that ends on 4.
    "two_values_then_a_value_over_two_lines": _lines({"key": "a", "request": REQ})
    + _lines({"key": "b", "request": REQ})[:-1]
    + b" "
    + _lines({"key": "c", "request": REQ})
    + b'{"key": "d", "request":\n'
    + json.dumps(REQ).encode()
    + b"}\n",
    # As many values as newlines, yet line 2 is blank and line 3 holds two values.
    "blank_then_two_values": _lines({"key": "a", "request": REQ})
    + b"\n"
    + _lines({"key": "b", "request": REQ})[:-1]
    + b" "
    + _lines({"key": "c", "request": REQ}),
    # Fed from the blank line on, the region starts with a newline and the buffer ends with "}".
    "blank_then_two_values_then_no_final_newline": _lines({"key": "a", "request": REQ})
    + b"\n"
    + _lines({"key": "b", "request": REQ})[:-1]
    + b" "
    + _lines({"key": "c", "request": REQ}, {"key": "d", "request": REQ})[:-1],
    # As many values as newlines, every newline after a "}", yet line 2 starts a value that ends
    # on line 3 and line 4 holds two values.
    "value_over_lines_brace_before": _lines({"key": "a", "request": REQ})
    + b'{"key": "b", "request": {"contents": [{"parts": [{}\n]}]}}\n'
    + _lines({"key": "c", "request": REQ})[:-1]
    + b" "
    + _lines({"key": "d", "request": REQ}),
    "crlf": _lines({"key": "a", "request": REQ}, {"key": "b", "request": REQ}).replace(b"\n", b"\r\n"),
    "space_around_lines": b" "
    + _lines({"key": "a", "request": REQ})[:-1]
    + b" \n\t"
    + _lines({"key": "b", "request": REQ}),
    "keyless": _lines({"request": REQ}, {"request": REQ}, {"request": REQ}),
    "keyed_then_keyless": _lines(
        {"key": "a", "request": REQ}, {"key": "b", "request": REQ}, {"request": REQ}
    ),
    "snake_case_only": _lines(
        {"key": "a", "request": REQ},
        {"key": "b", "request": {"contents": REQ["contents"], "generation_config": {"topK": 1}}},
        {"key": "c", "request": REQ},
    ),
    "duplicate_next_line": _lines(
        {"key": "a", "request": REQ}, {"key": "b", "request": REQ}, {"key": "b", "request": REQ}
    ),
    "embed_keyless": _lines(
        {"request": {"content": {"parts": [{"text": "a"}]}}},
        {"request": {"content": {"parts": [{"text": "b"}]}, "taskType": "RETRIEVAL_QUERY"}},
    ),
    "embed_snake": _lines(
        {"request": {"content": {"parts": [{"text": "a"}]}}},
        {"request": {"content": {"parts": [{"text": "b"}]}, "task_type": "X", "taskType": "X"}},
    ),
}


def _outcome(run: object) -> object:
    try:
        summary = run()  # type: ignore[operator]
    except GeminiInputFileError as exc:
        return ("error", exc.line_number, exc.key, exc.field, str(exc).split(": ", 1)[0])
    return ("ok", summary.count, summary.keyed, summary.kind, dict(summary.echoed_fields))


def _chunked(data: bytes, cut: int, size: int) -> object:
    """Validate ``data`` fed as ``data[:cut]`` then pieces of ``size`` bytes (0: the rest at once)."""
    validator = InputValidator("in.jsonl")
    validator.feed_chunk(data[:cut])
    rest = data[cut:]
    step = size or max(len(rest), 1)
    for start in range(0, len(rest), step):
        validator.feed_chunk(rest[start : start + step])
    return validator.finish()


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_cut_gives_the_line_by_line_verdict(case: str) -> None:
    data = CASES[case]
    expected = _outcome(lambda: validate_input_lines(data.splitlines(keepends=True), path="in.jsonl"))
    for cut in range(len(data) + 1):
        for size in (0, 7):
            got = _outcome(lambda cut=cut, size=size: _chunked(data, cut, size))
            assert got == expected, (case, cut, size)


def _regions(data: bytes, cut: int, size: int) -> object:
    """Validate ``data`` fed as regions of ONE buffer (``feed_chunk(buf, start, stop)``), as the
    upload's reader does: ``[0:cut]``, then regions of ``size`` bytes."""
    validator = InputValidator("in.jsonl")
    buffer = b"#" + data + b"#"  # bytes outside the regions must never be read
    validator.feed_chunk(buffer, 1, 1 + cut)
    step = size or max(len(data) - cut, 1)
    for start in range(1 + cut, 1 + len(data), step):
        validator.feed_chunk(buffer, start, min(start + step, 1 + len(data)))
    return validator.finish()


@pytest.mark.parametrize("case", sorted(CASES))
def test_regions_of_one_buffer_give_the_line_by_line_verdict(case: str) -> None:
    data = CASES[case]
    expected = _outcome(lambda: validate_input_lines(data.splitlines(keepends=True), path="in.jsonl"))
    for cut in range(len(data) + 1):
        for size in (0, 5):
            got = _outcome(lambda cut=cut, size=size: _regions(data, cut, size))
            assert got == expected, (case, cut, size)


def test_empty_key_and_contents_are_named_by_the_slow_path() -> None:
    """The typed decoder refuses an empty key or ``contents`` (min_length): the rules name them."""
    data = _lines({"key": "a", "request": REQ}, {"key": "", "request": REQ})
    with pytest.raises(GeminiInputFileError, match="non-empty string") as caught:
        _chunked(data, 0, 0)
    assert caught.value.line_number == 2


def test_a_line_longer_than_many_slices_is_joined_once() -> None:
    """A 4 MB line fed in 256-byte regions (15,600 pieces of one partial line) is joined and
    checked whole, and the line after it still counts. Correctness only: the quadratic cost of the
    old per-region append is a speed matter, measured by hand, not asserted here."""
    big = {"key": "a", "request": {"contents": [{"parts": [{"text": "x" * 4_000_000}]}]}}
    data = _lines(big, {"key": "b", "request": REQ})
    validator = InputValidator("in.jsonl")
    for start in range(0, len(data), 256):
        validator.feed_chunk(data, start, min(start + 256, len(data)))
    summary = validator.finish()
    assert (summary.count, summary.keyed) == (2, True)


def _many(n: int, keyed: bool = True) -> bytes:
    return _lines(*({"key": f"k{i}", "request": REQ} if keyed else {"request": REQ} for i in range(n)))


@pytest.mark.parametrize("keyed", [True, False])
@pytest.mark.parametrize("step", [1 << 16, 1 << 30])
def test_a_valid_file_is_taken_a_region_at_a_time(keyed: bool, step: int) -> None:
    """Valid lines fed in upload-sized slices, or all at once, go through the region path to the
    end (it would turn itself off on the first lines it doubts) and count every line once."""
    data = _many(3000, keyed)
    validator = InputValidator("in.jsonl")
    for start in range(0, len(data), step):
        validator.feed_chunk(data, start, min(start + step, len(data)))
    summary = validator.finish()
    assert validator._regions is True
    assert (summary.count, summary.keyed, validator.number) == (3000, keyed, 3000)


@pytest.mark.skipif(gc.get_threshold()[0] < 700, reason="the garbage collector's default threshold")
def test_short_lines_set_off_no_garbage_collection() -> None:
    """The lines decoded at once hold lists the collector tracks: too many alive together set it
    off (measured: ~700 collections, some full, per 64 MB of 185-byte lines, ~15% of the time).
    The per-line loop sets off none; the region path must not either."""
    short = {"contents": [{"role": "user", "parts": [{"text": "Translate: a short sentence."}]}]}
    data = _lines(*({"key": f"k{i}", "request": short} for i in range(20_000)))
    validator = InputValidator("in.jsonl")
    before = [generation["collections"] for generation in gc.get_stats()]
    for start in range(0, len(data), 1 << 18):
        validator.feed_chunk(data, start, min(start + (1 << 18), len(data)))
    after = [generation["collections"] for generation in gc.get_stats()]
    assert validator._regions is True
    assert validator.finish().count == 20_000
    assert sum(after) - sum(before) <= 2  # leeway for another thread's garbage


@pytest.mark.parametrize(
    ("tail", "line", "message"),
    [
        (b'{"key": "k5", "request": {"contents": [{"parts": []}]}}\n', 3001, "duplicate key 'k5'"),
        (b'{"key": "x", "request": {"contents": [{"parts": []}]}} {"key": "y"}\n', 3001, "not valid JSON"),
        (b"\n" + _many(1)[:-1].replace(b"k0", b"z") + b"\n", 3001, "empty line"),
        (b'{"request": {"contents": [{"parts": []}]}}\n', 3001, "some lines have a"),
    ],
)
def test_a_problem_after_many_regions_is_named_as_line_by_line(tail: bytes, line: int, message: str) -> None:
    """A bad line after thousands the region path accepted: same line number and message."""
    data = _many(3000) + tail + _many(3).replace(b'"k', b'"after')

    def feed() -> None:
        validator = InputValidator("in.jsonl")
        for start in range(0, len(data), 1 << 16):
            validator.feed_chunk(data, start, min(start + (1 << 16), len(data)))
        validator.finish()

    with pytest.raises(GeminiInputFileError, match=message) as caught:
        feed()
    assert caught.value.line_number == line
    expected = _outcome(lambda: validate_input_lines(data.splitlines(keepends=True), path="in.jsonl"))
    assert expected[:2] == ("error", line)
