"""Progress in the task log: the line when a task defers (batch, poll interval,
deadline) and the batch page link in the create task's log. Airflow's logging writes to stdout."""

from __future__ import annotations

import time

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
from tests.operators._support import MODEL, inline_requests
from tests.sensors.test_gemini_batch_sensor import _context


def test_deferring_sensor_logs_batch_interval_and_deadline(
    gemini_conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sensor = GeminiBatchSensor(
        task_id="s", batch_name="batches/abc", deferrable=True, timeout=3600, poll_interval=45
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(_context())
    deadline = time.strftime("%Y-%m-%d %H:%M", time.gmtime(deferred.value.trigger.end_time))
    lines = [line for line in capsys.readouterr().out.splitlines() if "Deferring" in line]
    assert len(lines) == 1
    assert "batches/abc" in lines[0]
    assert "every 45 s" in lines[0]
    assert deadline in lines[0]


def test_create_logs_the_batch_page_and_the_deferral(
    gemini_conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini_conn.control.configure(processing_seconds=600)
    op = GeminiCreateBatchOperator(
        task_id="c", model=MODEL, requests=inline_requests(1), wait_for_completion=True, deferrable=True
    )
    ctx = _context("c")
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)
    out = capsys.readouterr().out
    name = deferred.value.trigger.batch_name
    page = ctx["ti"].xcoms["gemini_batch_link"]
    assert f"Batch page for {name}: {page}" in out
    assert f"Deferring: the triggerer now waits for {name}, polling every" in out
