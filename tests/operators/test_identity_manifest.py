"""Pure helpers behind idempotent creation and the results manifest."""

from __future__ import annotations

import json

import pytest

from airflow_provider_gemini_batch._core.identity import (
    MAX_DISPLAY_NAME,
    TaskIdentity,
    find_tagged,
    fingerprint,
    parse_marker,
    tagged_display_name,
)
from airflow_provider_gemini_batch._core.jsonl import result_from_json
from airflow_provider_gemini_batch._core.manifest import ResultsTally, build_manifest, row_warnings
from airflow_provider_gemini_batch._core.waiting import (
    EventStatus,
    make_event,
    parse_event,
    raise_for_event,
)
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiBatchFailedError,
    GeminiBatchTimeoutError,
)

IDENT = TaskIdentity("dag", "create", "manual__2026-01-01", -1)


def test_tag_is_stable_and_ignores_nothing_but_try_number() -> None:
    assert IDENT.tag == TaskIdentity("dag", "create", "manual__2026-01-01", -1).tag
    others = {
        TaskIdentity("dag2", "create", "manual__2026-01-01", -1).tag,
        TaskIdentity("dag", "create2", "manual__2026-01-01", -1).tag,
        TaskIdentity("dag", "create", "manual__2026-01-02", -1).tag,
        TaskIdentity("dag", "create", "manual__2026-01-01", 0).tag,
    }
    assert IDENT.tag not in others
    assert len(others) == 4


def test_tag_separator_prevents_concatenation_collisions() -> None:
    assert TaskIdentity("a", "bc", "r").tag != TaskIdentity("ab", "c", "r").tag


def test_fingerprint_ignores_key_order_but_not_values() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_marker_round_trips_through_display_name() -> None:
    fp = fingerprint({"x": 1})
    name = tagged_display_name("nightly eval", IDENT, fp)
    assert name.startswith("nightly eval [af:")
    marker = parse_marker(name)
    assert marker is not None
    assert (marker.tag, marker.fingerprint) == (IDENT.tag, fp)


def test_default_display_name_names_dag_and_task() -> None:
    assert tagged_display_name(None, IDENT, fingerprint(1)).startswith("dag.create [af:")


def test_long_display_name_is_truncated_but_marker_kept() -> None:
    name = tagged_display_name("x" * 2000, IDENT, fingerprint(1))
    assert len(name) <= MAX_DISPLAY_NAME
    assert parse_marker(name) is not None


@pytest.mark.parametrize("text", [None, "", "plain name", "[af:zz:yy]", "name [af:0123:4567]"])
def test_names_without_a_valid_marker_parse_to_none(text: str | None) -> None:
    assert parse_marker(text) is None


def test_find_tagged_scan_is_bounded() -> None:
    mine = tagged_display_name("a", IDENT, fingerprint(1))
    items = ["other"] * 5 + [mine]
    assert find_tagged(items, IDENT.tag, limit=5, display_name=lambda s: s) == []
    assert find_tagged(items, IDENT.tag, limit=6, display_name=lambda s: s) == [mine]


def _stop(usage: dict[str, object]) -> dict[str, object]:
    return {"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"}], **usage}


def test_tally_counts_and_sums_usage_including_string_int64() -> None:
    tally = ResultsTally()
    tally.add(
        result_from_json(
            {
                "key": "a",
                "response": _stop({"usageMetadata": {"promptTokenCount": 4, "totalTokenCount": "5"}}),
            },
            0,
        )
    )
    tally.add(
        result_from_json(
            {
                "key": "b",
                "response": _stop({"usage_metadata": {"prompt_token_count": 6, "promptTokensDetails": [{}]}}),
            },
            1,
        )
    )
    tally.add(result_from_json({"key": "c", "error": {"code": 3}}, 2))
    assert (tally.total, tally.succeeded, tally.failed) == (3, 2, 1)
    assert tally.usage == {"promptTokenCount": 10, "totalTokenCount": 5}


def test_tally_counts_every_row_without_a_usable_answer_as_failed() -> None:
    tally = ResultsTally()
    tally.add(result_from_json({"key": "a", "response": _stop({})}, 0))
    tally.add(result_from_json({"key": "b", "response": {"candidates": [{"finishReason": "SAFETY"}]}}, 1))
    tally.add(result_from_json({"key": "c", "status": {"code": 14, "message": "try later"}}, 2))
    assert tally.counts() == {
        "total": 3,
        "landed": 3,
        "missing": 0,
        "succeeded": 1,
        "failed": 2,
        "by_outcome": {
            "succeeded": 1,
            "error": 1,
            "blocked": 0,
            "stopped": 1,
            "max_tokens": 0,
            "no_output": 0,
            "missing": 0,
        },
        "retryable": 1,
        "duplicate_keys": 0,
        "keyless": 0,
    }
    assert tally.exceeds(0.5)


def test_tally_finds_duplicate_keys_within_its_bounded_memory() -> None:
    tally = ResultsTally(key_limit=2)
    rows = [{"key": k, "response": _stop({})} for k in ("a", "b", "a", "c", "c", "b")]
    duplicates = [tally.add(result_from_json(row, i)) for i, row in enumerate(rows)]
    # "a" and "b" are remembered; "c" arrives past the limit and is not checked.
    assert duplicates == [False, False, True, False, False, True]
    assert (tally.duplicate_keys, tally.keys_unchecked) == (2, 2)
    assert any("first 2 distinct keys" in w for w in row_warnings(tally, expected_requests=6, batch_name="b"))


def test_threshold_is_strictly_greater_than() -> None:
    tally = ResultsTally(total=4, succeeded=3)
    assert not tally.exceeds(0.25)
    assert tally.exceeds(0.2)
    assert not ResultsTally().exceeds(0.0)


def test_manifest_shape_is_small_and_json_native() -> None:
    tally = ResultsTally()
    tally.add_succeeded("a", {"totalTokenCount": 9}, None)
    tally.add_succeeded("b", None, None)
    manifest = build_manifest(
        batch_name="batches/x", state="SUCCEEDED", destination="/tmp/o", tally=tally, expected_requests=2
    )
    assert manifest == {
        "batch_name": "batches/x",
        "state": "SUCCEEDED",
        "destination": "/tmp/o",
        "expected_requests": 2,
        "counts": {
            "total": 2,
            "landed": 2,
            "missing": 0,
            "succeeded": 2,
            "failed": 0,
            "by_outcome": {
                "succeeded": 2,
                "error": 0,
                "blocked": 0,
                "stopped": 0,
                "max_tokens": 0,
                "no_output": 0,
                "missing": 0,
            },
            "retryable": 0,
            "duplicate_keys": 0,
            "keyless": 0,
        },
        "usage": {"totalTokenCount": 9},
    }
    assert json.loads(json.dumps(manifest)) == manifest


def test_event_round_trip_and_errors() -> None:
    summary = {"batch_name": "batches/b", "state": "FAILED", "stats": {}}
    ok = parse_event(make_event(EventStatus.SUCCESS, "batches/b", "done", summary))
    assert raise_for_event(ok) == summary
    with pytest.raises(GeminiBatchFailedError) as failed:
        raise_for_event(parse_event(make_event(EventStatus.FAILURE, "batches/b", "bad", summary)))
    assert failed.value.state == "FAILED"
    with pytest.raises(GeminiBatchTimeoutError):
        raise_for_event(parse_event(make_event(EventStatus.TIMEOUT, "batches/b", "late")))


@pytest.mark.parametrize(
    "event",
    [
        None,
        "batches/b",
        {"status": "weird", "batch_name": "batches/b"},
        {"status": "success", "batch_name": "b"},
    ],
)
def test_malformed_events_are_rejected(event: object) -> None:
    with pytest.raises(GeminiBatchError):
        parse_event(event)
