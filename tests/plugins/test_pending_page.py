"""The batch page on a batch stuck in PENDING, near its expiry, or replacing stuck ones.

Pure rendering (no server): the live batch read and the create task's ``batch_attempts`` XCom
(planted values included) go in, escaped HTML comes out.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch.plugins.live import LiveRead
from airflow_provider_gemini_batch.plugins.page import render_batch
from airflow_provider_gemini_batch.plugins.records import TaskRef, assemble

REF = TaskRef(dag_id="d", run_id="r", task_id="create")
NAME = "batches/new"
CREATED = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _batch(state: str, name: str = NAME) -> Batch:
    return Batch.from_operation(
        {
            "name": name,
            "metadata": {
                "name": name,
                "state": state,
                "batchStats": {"requestCount": "2", "pendingRequestCount": "2"},
                "createTime": "2026-01-01T00:00:00Z",
            },
        }
    )


def _page(state: str, hours: float, report: object = None) -> str:
    rows = [("create", -1, "batch_name", NAME)]
    if report is not None:
        rows.append(("create", -1, "batch_attempts", report))
    record = assemble(REF, rows)
    assert record is not None
    return render_batch(REF, record, LiveRead(batch=_batch(state)), "n", now=CREATED + timedelta(hours=hours))


def test_a_batch_pending_past_the_default_timeout_is_flagged_live() -> None:
    page = _page("BATCH_STATE_PENDING", 7)
    assert "Stuck? This batch has been PENDING for 7 h 0 min" in page
    assert "pending_timeout of 6 h 0 min" in page
    assert "python-genai #1482" in page


def test_the_tasks_own_pending_timeout_decides_and_a_running_batch_is_not_stuck() -> None:
    report = {
        "pending_timeout": 12 * 3600.0,
        "on_pending_timeout": "warn",
        "attempts": [{"batch_name": NAME}],
    }
    assert "Stuck?" not in _page("BATCH_STATE_PENDING", 7, report)
    assert "Stuck?" in _page("BATCH_STATE_PENDING", 13, report)
    assert "Stuck?" not in _page("BATCH_STATE_RUNNING", 13, report)


def test_near_expiry_is_said_for_any_batch_that_has_not_ended() -> None:
    page = _page("BATCH_STATE_RUNNING", 43)
    assert "Near expiry: created 1 d 19 h ago" in page
    assert "in about 5 h 0 min from now" in page
    assert "Near expiry" not in _page("BATCH_STATE_RUNNING", 41)


def test_attempts_list_every_batch_tried_and_escape_planted_values() -> None:
    report = {
        "pending_timeout": 3600.0,
        "on_pending_timeout": "<b>recreate</b>",
        "attempts": [
            {
                "batch_name": "batches/old",
                "created": "2026-01-01T00:00:00Z",
                "pending_seconds": 3700.0,
                "ended": "CANCELLED",
                "action": "replaced",
            },
            {"batch_name": NAME, "action": "current", "reason": '<meta http-equiv="refresh">'},
        ],
    }
    page = _page("BATCH_STATE_SUCCEEDED", 2, report)
    assert "<h2>Attempts</h2>" in page
    assert "<code>batches/old</code>" in page
    assert "1 h 1 min" in page
    assert "CANCELLED" in page
    assert "replaced" in page
    assert "<b>recreate</b>" not in page
    assert "&lt;b&gt;recreate&lt;/b&gt;" in page
    assert '<meta http-equiv="refresh">' not in page  # the flag text is shown escaped


def test_only_a_report_naming_this_batch_is_shown() -> None:
    other = {"attempts": [{"batch_name": "batches/someone-else", "action": "replaced"}]}
    assert "Attempts" not in _page("BATCH_STATE_SUCCEEDED", 2, other)
    own = {"attempts": [*other["attempts"], {"batch_name": NAME, "action": "current"}]}
    assert "<code>batches/someone-else</code>" in _page("BATCH_STATE_SUCCEEDED", 2, own)
