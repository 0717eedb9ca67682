"""Capacity-aware creates through Airflow: a backfill of more runs than the project has batch slots.

The emulator allows ``LIMIT`` batches in flight and answers the next create with the service's
429 RESOURCE_EXHAUSTED (``emulator/capacity.py``). ``RUNS`` DAG runs of one create task each run
one after another with ``dag.test()`` (its triggers run inline, so a deferral is resolved in this
process); the tasks do not wait for their batches, so the batches of earlier runs are still in
flight when later runs create: runs ``LIMIT + 1`` onwards meet the limit. Each must neither fail
nor create twice; the batches' own create/end times (read back from the list) show that never
more than ``LIMIT`` were in flight at once. The connection's retry budget is shorter than a batch
(as a real 300 s budget is next to real batches): the old code, which only retried the 429 within
that budget, failed the third run.
"""

from __future__ import annotations

import datetime
import time
from collections import Counter
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.fixtures.airflow_env import DagRunResult, run_dag, unique_dag_id
from tests.operators._support import MODEL, creates_seen, inline_requests, sync_hook, use_connection

RUNS = 6
LIMIT = 2
#: Seconds a batch takes on the emulator: long enough that runs overlap, short for the suite.
PROCESSING = 3.0
#: The connection's retry budget for one call, far shorter than a batch (as 300 s is next to the
#: minutes or hours a real batch takes): retrying the create cannot outlast a batch.
SHORT_RETRIES = {"max_retries": 1, "retry_initial_delay": 0.05, "retry_max_delay": 0.1}


def _dag(dag_id: str, **create_kwargs: Any) -> Any:
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator

    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        GeminiCreateBatchOperator(
            task_id="create",
            model=MODEL,
            requests=inline_requests(2),
            capacity_poll_interval=0.2,
            **create_kwargs,
        )
    return dag


def _max_in_flight(batches: list[Any]) -> int:
    """Most batches in flight at one instant, from their create and end times (end exclusive)."""
    spans = [(b.create_time.timestamp(), b.end_time.timestamp()) for b in batches]
    return max(sum(1 for start, end in spans if start <= at < end) for at, _ in spans)


def _backfill(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, **create_kwargs: Any
) -> list[DagRunResult]:
    use_connection(monkeypatch, emulator, **SHORT_RETRIES)
    emulator.control.configure(max_active_batches=LIMIT, processing_seconds=PROCESSING)
    dag = _dag(unique_dag_id("capacity"), **create_kwargs)
    return [run_dag(dag) for _ in range(RUNS)]


def _check(emulator: EmulatorServer, results: list[DagRunResult]) -> None:
    failed = [r.run_id for r in results if r.task_states.get("create") != "success"]
    assert failed == [], f"runs whose create failed: {failed}"
    names = [r.xcom("create", "batch_name") for r in results]
    hook = sync_hook()
    # Let the last batches end, so every batch has its end time.
    deadline = time.monotonic() + 60
    while not all(hook.get_batch(n, light=True).done for n in names) and time.monotonic() < deadline:
        time.sleep(0.2)
    listed = list(hook.list_batches())
    batches = [b for b in listed if b.name in set(names)]
    # 0 duplicates: one batch per run, each run's batch its own, nothing else created.
    assert len(set(names)) == RUNS
    assert len(listed) == RUNS, Counter(b.display_name for b in listed)
    assert all(b.end_time is not None for b in batches), [b.state for b in batches]
    assert _max_in_flight(batches) <= LIMIT
    # The limit was really met: more creates were sent than batches exist (the refused ones).
    assert creates_seen(emulator) > RUNS


@pytest.mark.usefixtures("airflow_db")
def test_backfill_over_the_limit_defers_and_never_exceeds_it(
    gemini_conn: EmulatorServer, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deferrable: refused creates defer to the capacity trigger and create once a slot frees."""
    results = _backfill(gemini_conn, monkeypatch, deferrable=True)
    _check(gemini_conn, results)
    log = "".join(capfd.readouterr())
    assert "The project is at its concurrent-batch limit" in log
    assert "deferring until one of its running batches finishes" in log
    assert "A batch slot looks free" in log


@pytest.mark.usefixtures("airflow_db")
def test_backfill_over_the_limit_waits_in_the_worker(
    gemini_conn: EmulatorServer, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not deferrable: the worker counts the project's batches with backoff, then creates."""
    results = _backfill(gemini_conn, monkeypatch, deferrable=False)
    _check(gemini_conn, results)
    log = "".join(capfd.readouterr())
    assert "waiting in the worker until one of its running batches finishes" in log


@pytest.mark.usefixtures("airflow_db")
def test_capacity_timeout_fails_without_creating(gemini_conn: EmulatorServer) -> None:
    """A slot that never frees within ``capacity_timeout`` fails the task; nothing is created."""
    gemini_conn.control.configure(max_active_batches=1, processing_seconds=3600)
    hook = sync_hook()
    hook.create_batch(MODEL, requests=inline_requests(1), display_name="someone else's")
    dag = _dag(unique_dag_id("capacity_timeout"), deferrable=True, capacity_timeout=1.5)
    result = run_dag(dag)
    assert result.task_states["create"] == "failed"
    assert len(list(hook.list_batches())) == 1


@pytest.mark.usefixtures("airflow_db")
def test_a_refusal_after_a_free_looking_slot_defers_again(
    gemini_conn: EmulatorServer, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: another run takes the slot this one saw free. Here the service refuses the create
    twice more after the count looked free (scripted 429s in the limit's shape); the task defers
    again each time and creates one batch in the end."""
    use_connection(monkeypatch, gemini_conn, **SHORT_RETRIES)
    gemini_conn.control.inject_fault(method="POST", path=r":batchGenerateContent$", status=429, times=3)
    result = run_dag(_dag(unique_dag_id("capacity_race"), deferrable=True))
    assert result.task_states["create"] == "success"
    assert len(list(sync_hook().list_batches())) == 1
    assert creates_seen(gemini_conn) == 4
    log = "".join(capfd.readouterr())
    assert "creating again (attempt 3)" in log


@pytest.mark.usefixtures("airflow_db")
def test_a_bad_limit_is_refused_before_any_request(
    gemini_conn: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    gemini_conn.control.clear_journal()
    result = run_dag(_dag(unique_dag_id("capacity_bad"), concurrent_batch_limit=0))
    assert result.task_states["create"] == "failed"
    assert gemini_conn.control.journal() == []
    assert "concurrent_batch_limit must be a number above 0, got 0" in "".join(capfd.readouterr())
