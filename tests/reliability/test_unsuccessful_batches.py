"""Batches that end FAILED, CANCELLED or EXPIRED fail the wait, and what results exist are landed.

A DAG create -> deferred wait -> results (``trigger_rule="all_done"``) runs with ``dag.test()``
against an emulator told how the next batch ends (``configure(next_outcome=...)``). The emulator
offers the first half of the results of a batch cancelled while running, and none for a FAILED
or EXPIRED batch (docs/emulator.md).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiBatchFailedError
from tests.fixtures.airflow_env import unique_dag_id
from tests.reliability._support import MODEL, direct_context, keyed_requests, landed_rows, run

N_REQUESTS = 6


def wait_and_land_dag(dag_id: str, destination: str) -> Any:
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import (
        GeminiBatchResultsOperator,
        GeminiCreateBatchOperator,
    )
    from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor

    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        create = GeminiCreateBatchOperator(task_id="create", model=MODEL, requests=keyed_requests(N_REQUESTS))
        wait = GeminiBatchSensor(task_id="wait", batch_name=create.output, poll_interval=0.2, deferrable=True)
        results = GeminiBatchResultsOperator(
            task_id="results", batch_name=create.output, destination=destination, trigger_rule="all_done"
        )
        wait >> results
    return dag


@pytest.mark.parametrize(
    ("outcome", "landed"),
    [("CANCELLED", N_REQUESTS // 2), ("FAILED", None), ("EXPIRED", None)],
)
def test_unsuccessful_batch_fails_the_wait_and_lands_what_exists(
    airflow_db: str, gemini_conn: EmulatorServer, tmp_path: Path, outcome: str, landed: int | None
) -> None:
    gemini_conn.control.configure(next_outcome=outcome)
    destination = tmp_path / "out" / "results.jsonl"
    result = run(wait_and_land_dag(unique_dag_id(f"ends_{outcome.lower()}"), str(destination)))

    assert result.states["create"] == "success"
    assert result.states["wait"] == "failed"
    # The results task lands what exists, then still fails: the batch did not succeed.
    assert result.states["results"] == "failed"
    manifest = result.xcom("results", "manifest")
    assert manifest["state"] == outcome
    if landed is None:
        assert manifest["destination"] is None
        assert "offers no results" in manifest["note"]
        assert not destination.exists()
    else:
        assert manifest["counts"]["total"] == landed
        rows = landed_rows(destination)
        assert [row["key"] for row in rows] == [f"k{i}" for i in range(landed)]


@pytest.mark.parametrize("outcome", ["CANCELLED", "FAILED", "EXPIRED"])
def test_wait_failure_names_the_state_and_the_request_counts(
    gemini_conn: EmulatorServer, outcome: str
) -> None:
    """The deferred wait's failure (trigger event -> ``execute_complete``) says how it ended."""
    from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
    from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger
    from tests.operators._support import sync_hook

    gemini_conn.control.configure(next_outcome=outcome)
    batch = sync_hook().create_batch(MODEL, requests=keyed_requests(N_REQUESTS))
    trigger = GeminiBatchTrigger(batch_name=batch.name, poll_interval=0.1)

    async def first_event() -> Any:
        try:
            return (await anext(trigger.run())).payload
        finally:
            await trigger.cleanup()

    event = asyncio.run(first_event())
    sensor = GeminiBatchSensor(task_id="wait", batch_name=batch.name, deferrable=True)
    with pytest.raises(GeminiBatchFailedError) as info:
        sensor.execute_complete(direct_context(task_id="wait"), event)

    assert info.value.state == outcome
    assert info.value.batch_name == batch.name
    message = str(info.value)
    assert outcome in message
    assert batch.name in message
    assert f"{N_REQUESTS} requests" in message
    assert info.value.summary["stats"]["request_count"] == N_REQUESTS
