"""The console's pure parts: a row's state and warnings, totals, page tokens, XCom text decoding."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_gemini_batch.plugins.console_live import MISSING, UNREACHABLE, ListRead, live_notice
from airflow_provider_gemini_batch.plugins.console_query import Position, decode
from airflow_provider_gemini_batch.plugins.console_rows import (
    IN_FLIGHT,
    NOT_RECORDED,
    LiveBatch,
    Thresholds,
    Totals,
    build_row,
    matches,
    money,
)
from airflow_provider_gemini_batch.plugins.records import BatchRecord

NOW = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)


def _row(record: BatchRecord, *, hours_ago: float, live: LiveBatch | None = None):
    return build_row(
        dag_id="d",
        run_id="r",
        task_id="create_batch",
        map_index=-1,
        created=NOW - timedelta(hours=hours_ago),
        record=record,
        live=live,
        now=NOW,
    )


def _live(state: str, hours_ago: float, done: bool = False) -> LiveBatch:
    return LiveBatch(
        state, done, "nightly", {"request_count": 10}, NOW - timedelta(hours=hours_ago), None, None
    )


def test_a_batch_pending_past_the_threshold_is_flagged_and_one_below_is_not() -> None:
    stuck = _row(BatchRecord("batches/s"), hours_ago=7, live=_live("PENDING", 7))
    assert stuck.state == "PENDING"
    assert stuck.in_state == pytest.approx(7 * 3600)
    assert [w for w in stuck.warnings if w.startswith("Stuck in PENDING for 7 h")]
    fresh = _row(BatchRecord("batches/f"), hours_ago=5, live=_live("PENDING", 5))
    assert fresh.warnings == []
    assert _row(BatchRecord("b"), hours_ago=2, live=_live("PENDING", 2)).warnings == []
    custom = build_row(
        dag_id="d",
        run_id="r",
        task_id="t",
        map_index=-1,
        created=NOW - timedelta(hours=2),
        record=BatchRecord("batches/c"),
        live=_live("PENDING", 2),
        now=NOW,
        thresholds=Thresholds(pending_hours=1),
    )
    assert custom.warnings


def test_a_running_batch_near_the_48_hour_expiry_is_flagged() -> None:
    near = _row(BatchRecord("batches/n"), hours_ago=44, live=_live("RUNNING", 44))
    assert any(w.startswith("Expires in about 4 h") for w in near.warnings), near.warnings
    assert _row(BatchRecord("batches/m"), hours_ago=20, live=_live("RUNNING", 20)).warnings == []


def test_no_end_recorded_is_in_flight_then_not_recorded_after_48_hours() -> None:
    young = _row(BatchRecord("batches/y"), hours_ago=3)
    assert young.state == IN_FLIGHT
    assert young.warnings == []
    old = _row(BatchRecord("batches/o"), hours_ago=50)
    assert old.state == NOT_RECORDED
    assert any("No end recorded after 48 h" in w for w in old.warnings)


def test_a_landed_batch_with_failed_rows_is_flagged_and_counted() -> None:
    manifest = {
        "batch_name": "batches/l",
        "state": "SUCCEEDED",
        "counts": {"total": 10, "failed": 3, "by_outcome": {"succeeded": 7, "error": 3, "missing": 0}},
        "usage": {"promptTokenCount": 100, "candidatesTokenCount": 50},
        "cost": {"currency": "USD", "total": 0.25},
    }
    row = _row(BatchRecord("batches/l", manifest=manifest), hours_ago=1)
    assert (row.state, row.requests, row.failed, row.tokens, row.cost) == (
        "SUCCEEDED",
        10,
        3,
        150,
        ("USD", 0.25),
    )
    assert row.outcomes == {"succeeded": 7, "error": 3}
    assert row.warnings == ["Landed with 3 of 10 requests failed."]
    assert matches(row, "WARNINGS")
    assert matches(row, "SUCCEEDED")
    assert not matches(row, "FAILED")
    totals = Totals()
    totals.add(row)
    totals.add(
        _row(
            BatchRecord("batches/x", manifest={**manifest, "cost": {"currency": "EUR", "total": 1}}),
            hours_ago=30,
        )
    )
    assert totals.overall.requests == 20
    assert totals.overall.cost == {"USD": 0.25, "EUR": 1.0}
    assert sorted(totals.by_day) == ["2026-12-06", "2026-12-07"]


@pytest.mark.parametrize("planted", ["1e999", float("nan"), float("inf"), -1, True, "0.5", [1]])
def test_planted_costs_and_counts_are_dropped(planted: object) -> None:
    assert money(planted) is None
    manifest = {
        "batch_name": "batches/p",
        "state": "SUCCEEDED",
        "counts": {"total": planted},
        "cost": {"total": planted},
    }
    row = _row(BatchRecord("batches/p", manifest=manifest), hours_ago=1)
    assert row.cost is None
    assert row.requests is None


def test_page_tokens_round_trip_and_garbage_is_no_position() -> None:
    here = Position(1234, "create_batch", 7)
    assert Position.from_token(here.token()) == here
    # Not base64, not JSON, not three items, wrong types, too long.
    for garbage in ("", "x", "!!!", "W10", "WzEsMiwzXQ", "WyIxIiwidCIsMF0", "a" * 3000):
        assert Position.from_token(garbage) is None, garbage


def test_xcom_text_is_decoded_in_both_stored_forms() -> None:
    manifest = {"batch_name": "batches/a", "counts": {"total": 1}}
    native = json.dumps(manifest)  # a worker's write: a JSON document
    wrapped = json.dumps(json.dumps(manifest))  # XComModel.set: a JSON string holding the document
    assert decode(native) == decode(wrapped) == manifest
    assert decode(json.dumps("batches/a")) == decode(json.dumps(json.dumps("batches/a"))) == "batches/a"
    assert decode(manifest) == manifest  # a driver that decodes JSON itself (PostgreSQL JSONB)
    assert decode("not json") == "not json"


def test_live_notice_groups_reasons_names_a_bounded_few_and_says_what_to_do() -> None:
    assert live_notice({"fine": ListRead(partial=True)}) is None
    one = live_notice({"gone": ListRead(reason=MISSING), "fine": ListRead()})
    assert one is not None
    assert one.startswith("Live states are not shown for 1 connection: 'gone' (missing or incomplete")
    assert "reach the Gemini API" not in one
    reads = {f"m{i}": ListRead(reason=MISSING) for i in range(4)}
    reads |= {"u0": ListRead(reason=UNREACHABLE), "u1": ListRead(reason=UNREACHABLE)}
    reads["h"] = ListRead(reason="the Gemini API answered HTTP 403")
    notice = live_notice(reads, named=5)
    assert notice is not None
    # The largest group first; five names in all; the rest counted.
    assert "'m0', 'm1', 'm2', 'm3' (missing or incomplete on the API server); 'u0' (the Gemini API " in notice
    assert "'u1'" not in notice
    assert "'h'" not in notice
    assert ", and 2 more." in notice
    assert "define the connections on the API server too" in notice
    assert "check that the API server can reach the Gemini API" in notice
    assert notice.endswith("turn live states off with [gemini_batch] console_live_state = False.")
