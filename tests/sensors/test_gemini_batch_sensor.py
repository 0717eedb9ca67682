"""GeminiBatchSensor and the create operator called directly (execute / execute_complete / on_kill).

A tiny recording stand-in for the task instance collects XCom pushes: it is the caller's side of
the contract, not a patch of Airflow internals. Every API call goes to the emulator.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiBatchError, GeminiBatchFailedError
from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger
from tests.operators._support import MODEL, inline_requests, sync_hook


class RecordingTI:
    def __init__(self, task_id: str = "t") -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = "d", task_id, "manual__r1", -1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def _context(task_id: str = "t") -> dict[str, Any]:
    return {"ti": RecordingTI(task_id)}


def test_deferrable_sensor_defers_at_once_with_absolute_deadline(gemini_conn: EmulatorServer) -> None:
    sensor = GeminiBatchSensor(task_id="s", batch_name="batches/abc", deferrable=True, timeout=3600)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, GeminiBatchTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert before + 3600 <= trigger.end_time <= time.time() + 3600
    # No poll on the worker: the first look at the batch happens in the triggerer.
    assert not [e for e in gemini_conn.control.journal() if "/batches/" in e["path"]]
    assert gemini_conn.api_key not in json.dumps(trigger.serialize()[1])


def test_execute_complete_rejects_malformed_event() -> None:
    sensor = GeminiBatchSensor(task_id="s", batch_name="batches/abc")
    with pytest.raises(GeminiBatchError):
        sensor.execute_complete(_context(), {"status": "success"})


def test_execute_complete_takes_the_name_from_the_event_not_self() -> None:
    op = GeminiCreateBatchOperator(task_id="c", model=MODEL, requests=inline_requests(1))
    event = {
        "status": "success",
        "batch_name": "batches/fromevent",
        "message": "",
        "summary": {"batch_name": "batches/fromevent", "state": "SUCCEEDED"},
    }
    assert op.execute_complete(_context(), event) == "batches/fromevent"


def test_failure_event_raises_with_state_and_summary() -> None:
    sensor = GeminiBatchSensor(task_id="s", batch_name="batches/abc")
    event = {
        "status": "failure",
        "batch_name": "batches/abc",
        "message": "Batch batches/abc ended in state EXPIRED",
        "summary": {"batch_name": "batches/abc", "state": "EXPIRED", "stats": {"request_count": 2}},
    }
    with pytest.raises(GeminiBatchFailedError) as failed:
        sensor.execute_complete(_context(), event)
    assert failed.value.state == "EXPIRED"
    assert failed.value.summary["stats"] == {"request_count": 2}


def test_create_on_kill_cancels_the_batch_it_waits_for(gemini_conn: EmulatorServer) -> None:
    gemini_conn.control.configure(processing_seconds=600)
    op = GeminiCreateBatchOperator(
        task_id="c", model=MODEL, requests=inline_requests(2), wait_for_completion=True, deferrable=True
    )
    ctx = _context("c")
    with pytest.raises(TaskDeferred):
        op.execute(ctx)
    op.on_kill()
    name = ctx["ti"].xcoms["batch_name"]
    assert sync_hook().get_batch(name).state.short == "CANCELLED"


def test_create_pushes_batch_name_before_waiting(gemini_conn: EmulatorServer) -> None:
    gemini_conn.control.configure(processing_seconds=600)
    ctx = _context("c")
    op = GeminiCreateBatchOperator(
        task_id="c", model=MODEL, requests=inline_requests(1), wait_for_completion=True, deferrable=True
    )
    with pytest.raises(TaskDeferred):
        op.execute(ctx)
    assert ctx["ti"].xcoms["batch_name"].startswith("batches/")


def _gets_of(emulator: EmulatorServer, name: str) -> int:
    return sum(1 for e in emulator.control.journal() if e["method"] == "GET" and e["path"].endswith(name))


def test_poke_fails_at_once_on_a_batch_the_key_cannot_see(gemini_conn: EmulatorServer) -> None:
    """The worker-side wait judges a failed read with the trigger's error policy: a 404 is an
    error no wait outlasts, so the first poke raises it after one request (the sync hook does not
    retry a 404 and the wait adds no retry of its own)."""
    from airflow_provider_gemini_batch.exceptions import GeminiNotFoundError

    sensor = GeminiBatchSensor(task_id="s", batch_name="batches/nosuchbatch", deferrable=False)
    with pytest.raises(GeminiNotFoundError):
        sensor.poke(_context())
    assert _gets_of(gemini_conn, "batches/nosuchbatch") == 1


def test_poke_rides_out_transient_errors_with_the_hooks_retries_only(gemini_conn: EmulatorServer) -> None:
    """Two 503s on the read: the sync hook's own retries absorb them; the wait neither adds
    reads nor gives up (one poke, three requests, a batch observed)."""
    gemini_conn.control.configure(processing_seconds=600)
    name = sync_hook().create_batch(MODEL, requests=inline_requests(1)).name
    gemini_conn.control.clear_journal()
    gemini_conn.control.inject_fault(method="GET", path=name, status=503, times=2)
    sensor = GeminiBatchSensor(task_id="s", batch_name=name, deferrable=False)
    assert sensor.poke(_context()).is_done is False
    assert _gets_of(gemini_conn, name) == 3
