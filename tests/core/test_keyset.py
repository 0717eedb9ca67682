"""Repeated keys are found in bounded memory, exactly: every true repeat refused with both lines,
a digest collision between different keys never refused (``_core/keyset.py``, ``_core/keyjoin.py``).

The window of exactly-kept keys is made small here (a few keys) so that repeats far apart go
through the spilled digests and the second read; ``digest=`` forces collisions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_gemini_batch._core import keyjoin, keyset, resubmit
from airflow_provider_gemini_batch._core.input_check import InputValidator
from airflow_provider_gemini_batch._core.input_reread import file_lines
from airflow_provider_gemini_batch._core.jsonl import validate_input_file, validate_input_lines
from airflow_provider_gemini_batch._core.keyset import KeySet, Repeat, find_repeat
from airflow_provider_gemini_batch._core.sharding import ShardLimits, ShardPlanner
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError

REQ = {"contents": [{"parts": [{"text": "classify this"}]}]}


def _write(path: Path, keys: list[str]) -> Path:
    path.write_text("".join(json.dumps({"key": k, "request": REQ}) + "\n" for k in keys), encoding="utf-8")
    return path


def _validate(path: Path, *, window: int, digest: object = None, reads: list[int] | None = None) -> int:
    """Feed ``path`` in 100-byte chunks (lines cut anywhere) to a validator with a small window."""
    base = file_lines(path)

    def reread() -> object:
        if reads is not None:
            reads.append(1)
        return base()

    validator = InputValidator(str(path), reread=reread, window=window, digest=digest)  # type: ignore[arg-type]
    data = path.read_bytes()
    for start in range(0, len(data), 100):
        validator.feed_chunk(data, start, min(start + 100, len(data)))
    return validator.finish().count


def _all_collide(key: str) -> int:
    return 42


def test_a_repeat_far_beyond_the_window_is_refused_with_both_lines(tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(500)]
    keys[449] = "k3"  # line 450 repeats line 4, hundreds of keys (dozens of windows) apart
    with pytest.raises(GeminiInputFileError) as info:
        _validate(_write(tmp_path / "in.jsonl", keys), window=8)
    assert info.value.line_number == 450
    assert "duplicate key 'k3' (first used on line 4)" in str(info.value)


def test_of_several_repeats_the_first_in_line_order_is_named(tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(300)]
    keys[120] = "k7"  # line 121 repeats line 8
    keys[250] = "k1"  # line 251 repeats line 2
    keys[299] = "k120"  # never mind: k120 was replaced, so this one is new
    with pytest.raises(GeminiInputFileError) as info:
        _validate(_write(tmp_path / "in.jsonl", keys), window=16)
    assert (info.value.line_number, "first used on line 8") == (121, "first used on line 8")
    assert "first used on line 8" in str(info.value)


def test_a_repeat_inside_the_window_is_refused_at_once_as_before(tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(300)]
    keys[201] = "k200"
    validator = InputValidator("in.jsonl", reread=lambda: [], window=1000)
    data = _write(tmp_path / "in.jsonl", keys).read_bytes()
    with pytest.raises(
        GeminiInputFileError, match=r"line 202: duplicate key 'k200' \(first used on line 201\)"
    ):
        validator.feed_chunk(data)


def test_colliding_digests_of_different_keys_are_not_refused(tmp_path: Path) -> None:
    """Every key has the same digest: each is a candidate, the second read compares the keys
    themselves, and the input (all keys distinct) passes."""
    reads: list[int] = []
    count = _validate(
        _write(tmp_path / "in.jsonl", [f"k{i}" for i in range(400)]),
        window=10,
        digest=_all_collide,
        reads=reads,
    )
    assert count == 400
    assert reads == [1]  # the collision cost one more read of the file, nothing else


def test_colliding_digests_do_not_hide_a_true_repeat(tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(400)]
    keys[390] = "k12"
    with pytest.raises(GeminiInputFileError) as info:
        _validate(_write(tmp_path / "in.jsonl", keys), window=10, digest=_all_collide)
    assert info.value.line_number == 391
    assert "first used on line 13" in str(info.value)


def test_a_valid_input_is_read_once_when_no_digest_repeats(tmp_path: Path) -> None:
    reads: list[int] = []
    assert (
        _validate(_write(tmp_path / "in.jsonl", [f"k{i}" for i in range(400)]), window=10, reads=reads) == 400
    )
    assert reads == []


def test_file_and_list_validation_find_a_repeat_past_the_default_window(tmp_path: Path) -> None:
    """Through the public functions with the real window (``WINDOW_KEYS``, 262,144 keys): a
    repeat just past it (the window has spilled once) is still refused with both lines. The
    line count follows the window, so the test keeps crossing it if the window changes."""
    count = keyset.WINDOW_KEYS + 2
    keys = [f"r{i}" for i in range(count)]
    keys[-1] = "r0"
    path = _write(tmp_path / "big.jsonl", keys)
    refusal = rf"line {count}: duplicate key 'r0' \(first used on line 1\)"
    with pytest.raises(GeminiInputFileError, match=refusal):
        validate_input_file(str(path))
    lines = path.read_bytes().splitlines(keepends=True)
    with pytest.raises(GeminiInputFileError, match=refusal):
        validate_input_lines(lines, path="big.jsonl")


def test_the_splitter_refuses_a_far_repeat_after_the_last_line_and_not_a_collision() -> None:
    lines = [json.dumps({"key": f"k{i}", "request": REQ}).encode() for i in range(200)]
    with ShardPlanner(ShardLimits(max_requests=50), window=5, digest=_all_collide) as planner:
        for number, line in enumerate(lines, start=1):
            planner.add(line, number, number - 1)
        planner.finish(lambda: lines)  # all distinct: the forced collisions are not refused
    lines[180] = json.dumps({"key": "k9", "request": REQ}).encode()
    with ShardPlanner(ShardLimits(max_requests=50), window=5) as planner:
        for number, line in enumerate(lines, start=1):
            planner.add(line, number, number - 1)
        with pytest.raises(GeminiInputFileError) as info:
            planner.finish(lambda: lines)
    assert info.value.line_number == 181
    assert "key 'k9' repeats the key of line 10" in str(info.value)


def test_keyset_alone_names_the_first_repeat_and_removes_its_file() -> None:
    keys = KeySet(window=3)
    pairs = [(n, f"k{n % 50}") for n in range(1, 61)]  # line 51 repeats line 1's k1, and so on
    assert [keys.add(key, line) for line, key in pairs] == [None] * 60  # never in the window
    assert keys.spilled > 0
    assert find_repeat(keys, lambda: iter(pairs)) == Repeat("k1", 1, 51)
    keys.close()
    assert keys._file is None


@pytest.mark.parametrize("first_only", [True, False])
def test_the_join_on_disk_matches_the_join_in_memory(first_only: bool) -> None:
    wanted = [f"w{i}" for i in range(0, 3000, 7)] + ["w3", "absent-1", "absent-2"]
    positions: list[str | None] = [f"w{i % 2500}" for i in range(5000)] + [None, "w14"]
    memory = keyjoin.mark_positions(wanted, positions, first_only=first_only)
    disk = keyjoin.mark_positions(wanted, positions, first_only=first_only, memory_keys=10)
    marked = [p for p in range(len(positions)) if p in memory]
    assert marked == [p for p in range(len(positions)) if p in disk]
    assert (memory.matched, memory.missing, memory.wanted) == (disk.matched, disk.missing, disk.wanted)
    assert memory.missing_named == disk.missing_named
    if first_only:  # each wanted key once, at its first position
        assert marked == sorted({positions.index(k) for k in set(wanted) if k in positions})
    else:  # every position holding a wanted key
        assert marked == [p for p, k in enumerate(positions) if k in set(wanted)]


#: The join's in-memory limit for the test below, far under ``keyjoin.MEMORY_KEYS`` (262,144):
#: the same spill to disk happens with 6,000 rows as with 300,000 at the default (the test took
#: 30-70 s at the default; ``test_the_join_on_disk_matches_the_join_in_memory`` holds the disk
#: join to the in-memory one).
SMALL_MEMORY_KEYS = 1_000


def test_resubmission_and_its_merge_past_the_in_memory_limit() -> None:
    """More rows failed retryably than the join keeps in memory (6x its limit, so the wanted keys
    are partitioned to disk): the follow-up holds exactly those, and the merge keeps one row per
    key."""
    n = 6 * SMALL_MEMORY_KEYS
    inputs = [json.dumps({"key": f"q{i}", "request": REQ}).encode() for i in range(n + 10)]
    failed = [json.dumps({"key": f"q{i}", "status": "failed", "retryable": True}).encode() for i in range(n)]
    results = failed + [json.dumps({"key": f"q{n + i}", "status": "succeeded"}).encode() for i in range(10)]
    marks = resubmit.select_follow_up(
        inputs, resubmit.retryable_keys(results, path="r"), path="i", memory_keys=SMALL_MEMORY_KEYS
    )
    report = resubmit.FollowUp()
    picked = list(resubmit.follow_up_lines(inputs, marks, path="i", report=report))
    assert (report.selected, report.wanted, report.missing_count) == (n, n, 0)
    assert json.loads(picked[-1])["key"] == f"q{n - 1}"
    later = [json.dumps({"key": f"q{i}", "status": "succeeded"}).encode() for i in range(n)]
    replaced = resubmit.replaced_rows(
        results, later, earlier_path="e", later_path="l", memory_keys=SMALL_MEMORY_KEYS
    )
    merged = [json.loads(line) for line in resubmit.merged_lines(results, later, replaced)]
    assert len(merged) == n + 10
    assert {r["status"] for r in merged} == {"succeeded"}
