"""Large batches, the pure parts: shard plans, follow-up inputs and merges, cost from a user price table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_gemini_batch._core import resubmit
from airflow_provider_gemini_batch._core.cost import check_price_table, estimate_cost, sum_costs
from airflow_provider_gemini_batch._core.sharding import ShardLimits, ShardPlanner
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError, GeminiInvalidInputError


def _line(key: str | None, text: str = "hello") -> bytes:
    request = {"contents": [{"parts": [{"text": text}]}]}
    obj = {"key": key, "request": request} if key is not None else request
    return json.dumps(obj).encode()


def _plan(lines: list[bytes], limits: ShardLimits) -> tuple[ShardPlanner, list[tuple[int, bytes]]]:
    planner = ShardPlanner(limits, source="in.jsonl")
    return planner, [planner.add(line, n + 1, n) for n, line in enumerate(lines)]


def test_split_by_request_count_bytes_and_tokens() -> None:
    _, placed = _plan([_line(f"k{i}") for i in range(5)], ShardLimits(max_requests=2))
    assert [i for i, _ in placed] == [0, 0, 1, 1, 2]
    size = len(placed[0][1])
    _, placed = _plan([_line(f"k{i}") for i in range(5)], ShardLimits(max_bytes=size * 3))
    assert [i for i, _ in placed] == [0, 0, 0, 1, 1]
    # "x" * 40 is ~10 tokens at 4 characters per token.
    planner, placed = _plan([_line(f"k{i}", "x" * 40) for i in range(5)], ShardLimits(max_tokens=25))
    assert [i for i, _ in placed] == [0, 0, 1, 1, 2]
    assert planner.shards[0].estimated_tokens == 20


def test_keyless_lines_get_global_position_keys_and_duplicates_are_refused() -> None:
    _, placed = _plan([_line(None), _line("a"), _line(None)], ShardLimits(max_requests=1))
    assert [json.loads(d)["key"] for _, d in placed] == ["request-0", "a", "request-2"]
    with pytest.raises(GeminiInputFileError, match=r"line 3 \(key 'a'\).*repeats the key of line 1"):
        _plan([_line("a"), _line("b"), _line("a")], ShardLimits(max_requests=1))


def test_limits_are_checked() -> None:
    with pytest.raises(GeminiInvalidInputError, match="max_bytes"):
        ShardLimits(max_bytes=3 * 1024**3)
    with pytest.raises(GeminiInvalidInputError, match="max_requests"):
        ShardLimits(max_requests=0)


def _row(key: str, status: str, retryable: bool | None = None) -> bytes:
    row: dict[str, Any] = {
        "key": key,
        "status": status,
        "outcome": "succeeded" if status == "succeeded" else "error",
    }
    if retryable is not None:
        row["retryable"] = retryable
    return json.dumps(row).encode()


def test_follow_up_holds_only_retryable_rows_with_their_keys() -> None:
    results = [
        _row("a", "succeeded"),
        _row("b", "failed", True),
        _row("c", "failed", False),
        _row("z", "failed", True),
    ]
    keys = list(resubmit.retryable_keys(results, path="r.jsonl"))
    assert keys == ["b", "z"]
    report = resubmit.FollowUp()
    inputs = [_line("a"), _line("b"), _line("c")]
    marks = resubmit.select_follow_up(inputs, keys, path="i")
    out = list(resubmit.follow_up_lines(inputs, marks, path="i", report=report))
    assert [json.loads(line)["key"] for line in out] == ["b"]
    assert report.selected == 1
    assert report.missing == ["z"]


def test_merge_keeps_one_row_per_key_latest_wins() -> None:
    earlier = [_row("a", "succeeded"), _row("b", "failed", True)]
    later = [_row("b", "succeeded")]
    replaced = resubmit.replaced_rows(earlier, later, earlier_path="e", later_path="l")
    merged = [json.loads(x) for x in resubmit.merged_lines(earlier, later, replaced)]
    assert {r["key"]: r["status"] for r in merged} == {"a": "succeeded", "b": "succeeded"}
    assert len(merged) == 2


def test_landed_rows_keep_their_landed_classification() -> None:
    """A landed row's ``status`` is "succeeded"/"failed", not a per-row error (regression: read
    back as a raw result, every row counted as failed)."""
    result = resubmit.landed_result(_row("a", "succeeded"), path="f", index=0)
    assert result.ok


def test_cost_from_user_price_table() -> None:
    table = check_price_table({"models/gemini-2.5-flash": {"input": 0.15, "output": 1.25}})
    usage = {"promptTokenCount": 2_000_000, "candidatesTokenCount": 1_000_000, "thoughtsTokenCount": 400_000}
    cost = estimate_cost(usage, "models/gemini-2.5-flash", table)
    assert cost["tokens"] == {"input": 2_000_000, "cached": 0, "output": 1_000_000, "thinking": 400_000}
    assert (cost["input"], cost["output"], cost["thinking"]) == (0.3, 1.25, 0.5)
    assert cost["total"] == 2.05
    assert estimate_cost(usage, "gemini-x", table)["total"] is None
    summed = sum_costs([cost, cost])
    assert summed is not None
    assert summed["total"] == 4.1


@pytest.mark.parametrize(
    "table",
    [
        {},
        {"m": {"input": 1}},
        {"m": {"input": -1, "output": 1}},
        {"m": {"input": 1, "output": 1, "cache": 1}},  # a cache price is spelled "cached"
    ],
)
def test_bad_price_tables_are_refused(table: dict[str, Any]) -> None:
    with pytest.raises(GeminiInvalidInputError):
        check_price_table(table)
