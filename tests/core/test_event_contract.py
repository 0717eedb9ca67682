"""The trigger event is a contract with running deployments: payloads stored by earlier releases
(a triggerer that fired before an upgrade, a trigger row rebuilt after it) must still be read.

These payloads are written out literally, as a trigger sends them, so a reshaping of the modules
that build or read events cannot change their shape unnoticed.
"""

from __future__ import annotations

import pytest

from airflow_provider_gemini_batch._core.events import EventStatus, make_event, parse_event, raise_for_event
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiBatchFailedError,
    GeminiBatchOutputMissingError,
    GeminiBatchTimeoutError,
)
from airflow_provider_gemini_batch.messages.waiting import SENSOR_TIMEOUT_ADVICE

SUMMARY = {
    "batch_name": "batches/abc",
    "state": "SUCCEEDED",
    "stats": {"requestCount": 2, "successfulRequestCount": 2},
    "display_name": "d",
    "model": "models/gemini-2.5-flash",
    "responses_file": "files/out",
    "error": None,
}


def test_make_event_has_exactly_the_four_keys() -> None:
    event = make_event(EventStatus.SUCCESS, "batches/abc", "done", SUMMARY)
    assert event == {"status": "success", "batch_name": "batches/abc", "message": "done", "summary": SUMMARY}
    assert make_event(EventStatus.ERROR, "batches/abc", "x")["summary"] is None


def test_every_status_value_is_the_stored_spelling() -> None:
    assert {s.value for s in EventStatus} == {
        "success",
        "failure",
        "no_output",
        "timeout",
        "pending_timeout",
        "error",
    }


def test_a_success_payload_returns_its_summary() -> None:
    payload = {"status": "success", "batch_name": "batches/abc", "message": "ok", "summary": SUMMARY}
    assert raise_for_event(parse_event(payload)) == SUMMARY


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (
            {"status": "failure", "batch_name": "batches/abc", "message": "ended FAILED", "summary": SUMMARY},
            GeminiBatchFailedError,
        ),
        (
            {"status": "no_output", "batch_name": "batches/abc", "message": "no output", "summary": SUMMARY},
            GeminiBatchOutputMissingError,
        ),
        (
            {"status": "error", "batch_name": "batches/abc", "message": "gave up", "summary": None},
            GeminiBatchError,
        ),
    ],
)
def test_unsuccessful_payloads_raise_their_error(payload: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error, match=str(payload["message"])):
        raise_for_event(parse_event(payload))


def test_an_earlier_releases_timeout_advice_is_replaced_by_the_callers() -> None:
    payload = {
        "status": "timeout",
        "batch_name": "batches/abc",
        "message": "Stopped waiting for batches/abc: the deadline passed while it was RUNNING"
        "; raise the timeout or wait for it with a GeminiBatchSensor.",
        "summary": None,
    }
    with pytest.raises(GeminiBatchTimeoutError) as caught:
        raise_for_event(parse_event(payload), timeout_advice=SENSOR_TIMEOUT_ADVICE)
    assert str(caught.value).startswith(
        f"Stopped waiting for batches/abc: the deadline passed while it was RUNNING. {SENSOR_TIMEOUT_ADVICE}"
    )


def test_a_vertex_job_name_is_accepted_and_garbage_is_refused() -> None:
    name = "projects/p/locations/us-central1/batchPredictionJobs/123"
    parsed = parse_event({"status": "success", "batch_name": name, "message": "", "summary": None})
    assert parsed.batch_name == name
    with pytest.raises(GeminiBatchError, match="no valid batch name"):
        parse_event({"status": "success", "batch_name": "files/x", "message": "", "summary": None})
    with pytest.raises(GeminiBatchError, match="unknown status"):
        parse_event({"status": "done", "batch_name": "batches/abc"})
