"""A batch's final outcome fails the waiting task once; transient trouble is retried.

One linear DAG (every task ``retries=2``, ``retry_delay=0``, ``trigger_rule="all_done"``) runs with
``dag.test()`` against the emulator. Each waiting task meets one outcome:

* FAILED / CANCELLED / EXPIRED (``next_outcome``), a ``done`` batch in a state this release does
  not know (``state_names``), SUCCEEDED without output after the grace (``succeeded_without_output``),
  more failed rows than ``max_failed_ratio`` and our own wait deadline: the task
  ends ``failed`` after ONE try (``try_number == 1``, one failure seen by the listener);
* two 503 answers to the poll (the hook told not to retry itself, ``max_retries: 0``): the sensor
  is retried by Airflow and its third try succeeds;
* the results of a batch still running: retried (it may be done by the next try), three failed tries.
"""

from __future__ import annotations

import datetime
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import RESUBMIT_HINT
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
)
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
from tests.fixtures.airflow_env import DagRunResult, run_dag, unique_dag_id
from tests.operators._failures import recording_failures
from tests.operators._support import MODEL, inline_requests, sync_hook

FAST = {"poll_interval": 0.05}
#: A connection to the emulator whose hook makes single attempts, so a 5xx reaches the task.
NO_RETRY_CONN = "gemini_no_retry"

#: task_id -> class names of every failed try, in order (filled by a listener).
FAILURES: dict[str, list[str]] = {}
#: task_id -> message of the last failed try.
MESSAGES: dict[str, str] = {}


def _build_dag(dag_id: str, tmp: Path, emulator: EmulatorServer) -> Any:
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    control = emulator.control
    tasks: list[Any] = []
    dag = DAG(
        dag_id,
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1),
        default_args={
            "trigger_rule": "all_done",
            "retries": 2,
            "retry_delay": datetime.timedelta(seconds=0),
        },
    )
    dag.__enter__()

    def py(task_id: str, fn: Any) -> None:
        tasks.append(PythonOperator(task_id=task_id, python_callable=fn))

    def setup(task_id: str, **knobs: Any) -> None:
        """Switch the emulator to exactly ``knobs``, every other knob back to this module's default."""
        settings: dict[str, Any] = {
            "processing_seconds": 0.2,
            "error_fraction": 0.0,
            "state_names": {},
            "modes": [],
        }
        settings.update(knobs)
        py(task_id, lambda: control.configure(**settings))

    def make_batch(task_id: str, n: int = 2, **knobs: Any) -> None:
        def make() -> str:
            if knobs:
                control.configure(**knobs)
            return str(sync_hook().create_batch(MODEL, requests=inline_requests(n, task_id)).name)

        py(task_id, make)

    def pulled(task_id: str) -> str:
        return f"{{{{ ti.xcom_pull(task_ids='{task_id}') }}}}"

    # --- terminal outcomes: the sensor in both modes, create-with-wait in both modes.
    for outcome, mode in (("FAILED", "sync"), ("CANCELLED", "deferred"), ("EXPIRED", "sync")):
        setup(f"setup_{outcome}_{mode}")
        make_batch(f"mk_{outcome}_{mode}", next_outcome=outcome)
        tasks.append(
            GeminiBatchSensor(
                task_id=f"sense_{outcome}_{mode}",
                batch_name=pulled(f"mk_{outcome}_{mode}"),
                deferrable=mode == "deferred",
                timeout=60,
                **FAST,
            )
        )
    for outcome, mode in (("EXPIRED", "sync"), ("FAILED", "deferred")):
        py(f"setup_create_{outcome}_{mode}", lambda outcome=outcome: control.configure(next_outcome=outcome))
        tasks.append(
            GeminiCreateBatchOperator(
                task_id=f"create_{outcome}_{mode}",
                model=MODEL,
                requests=inline_requests(2, f"c{outcome}{mode}"),
                wait_for_completion=True,
                deferrable=mode == "deferred",
                **FAST,
            )
        )
    # The results operator (fail_on_unsuccessful_batch=True by default) on the FAILED batch.
    tasks.append(
        GeminiBatchResultsOperator(
            task_id="results_FAILED",
            batch_name=pulled("mk_FAILED_sync"),
            destination=str(tmp / "results_failed.jsonl"),
        )
    )

    # --- a batch that ends (done: true) in a state this release does not know.
    setup("setup_unknown", state_names={"SUCCEEDED": "BATCH_STATE_ARCHIVED"})
    make_batch("mk_unknown")
    tasks.append(GeminiBatchSensor(task_id="sense_unknown", batch_name=pulled("mk_unknown"), **FAST))

    # --- SUCCEEDED without an output reference, still after the grace.
    setup("setup_no_output", modes=["succeeded_without_output"])
    make_batch("mk_no_output")
    for mode in ("sync", "deferred"):
        tasks.append(
            GeminiBatchSensor(
                task_id=f"sense_no_output_{mode}",
                batch_name=pulled("mk_no_output"),
                deferrable=mode == "deferred",
                output_grace_period=0.3,
                **FAST,
            )
        )

    # --- more failed rows than max_failed_ratio allows.
    setup("setup_threshold", error_fraction=0.5)
    make_batch("mk_threshold", n=10)
    tasks.append(GeminiBatchSensor(task_id="wait_threshold", batch_name=pulled("mk_threshold"), **FAST))
    tasks.append(
        GeminiBatchResultsOperator(
            task_id="results_threshold",
            batch_name=pulled("mk_threshold"),
            destination=str(tmp / "results_threshold.jsonl"),
            max_failed_ratio=0.1,
        )
    )

    # --- our own wait deadline passes while the batch runs.
    setup("setup_long", processing_seconds=600)
    make_batch("mk_long")
    tasks.append(
        GeminiBatchSensor(
            task_id="sense_timeout_deferred",
            batch_name=pulled("mk_long"),
            deferrable=True,
            timeout=0.5,
            **FAST,
        )
    )

    # --- transient: retried.
    # Results of a batch still running: a later try may find it done.
    tasks.append(
        GeminiBatchResultsOperator(
            task_id="results_in_flight",
            batch_name=pulled("mk_long"),
            destination=str(tmp / "results_in_flight.jsonl"),
        )
    )
    # Two 503 answers to the sensor's poll: tries 1 and 2 fail, try 3 succeeds.
    setup("setup_503")

    def mk_503() -> str:
        name = str(sync_hook().create_batch(MODEL, requests=inline_requests(2, "t")).name)
        control.inject_fault(method="GET", path=f"/{name}(\\?|$)", status=503, times=2)
        return name

    py("mk_503", mk_503)
    tasks.append(
        GeminiBatchSensor(
            task_id="sense_503_sync", batch_name=pulled("mk_503"), gemini_conn_id=NO_RETRY_CONN, **FAST
        )
    )

    for upstream, downstream in itertools.pairwise(tasks):
        upstream >> downstream
    dag.__exit__(None, None, None)
    return dag


@pytest.fixture(scope="module")
def result(
    airflow_db: str, emulator_server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DagRunResult]:
    emulator_server.control.reset()
    tmp = tmp_path_factory.mktemp("fail_once")
    FAILURES.clear()
    MESSAGES.clear()
    with pytest.MonkeyPatch.context() as mp:
        conn: dict[str, Any] = {
            "conn_type": "gemini_batch",
            "host": emulator_server.base_url,
            "password": emulator_server.api_key,
        }
        mp.setenv("AIRFLOW_CONN_GEMINI_BATCH_DEFAULT", json.dumps(conn))
        mp.setenv(f"AIRFLOW_CONN_{NO_RETRY_CONN.upper()}", json.dumps({**conn, "extra": {"max_retries": 0}}))
        dag = _build_dag(unique_dag_id("fail_once"), tmp, emulator_server)
        try:
            with recording_failures() as failures:
                result = run_dag(dag)
        finally:
            emulator_server.control.reset()
        for task_id, tries in failures.tries.items():
            FAILURES[task_id] = [name for name, _ in tries]
            MESSAGES[task_id] = tries[-1][1]
        yield result


TERMINAL = {
    "sense_FAILED_sync": "GeminiBatchFailedError",
    "sense_CANCELLED_deferred": "GeminiBatchFailedError",
    "sense_EXPIRED_sync": "GeminiBatchFailedError",
    "create_EXPIRED_sync": "GeminiBatchFailedError",
    "create_FAILED_deferred": "GeminiBatchFailedError",
    "results_FAILED": "GeminiBatchFailedError",
    "sense_unknown": "GeminiBatchFailedError",
    "sense_no_output_sync": "GeminiBatchOutputMissingError",
    "sense_no_output_deferred": "GeminiBatchOutputMissingError",
}


@pytest.mark.parametrize("task_id", sorted(TERMINAL))
def test_terminal_outcome_fails_after_one_try_and_says_to_resubmit(
    result: DagRunResult, task_id: str
) -> None:
    assert result.task_states[task_id] == "failed"
    assert result.tries[task_id] == 1
    assert FAILURES[task_id] == [TERMINAL[task_id]]
    assert RESUBMIT_HINT in MESSAGES[task_id]
    assert "clear the task that created it" in MESSAGES[task_id]


def test_results_over_the_threshold_fail_after_one_try(result: DagRunResult) -> None:
    assert result.task_states["results_threshold"] == "failed"
    assert result.tries["results_threshold"] == 1
    assert FAILURES["results_threshold"] == ["GeminiResultsThresholdError"]
    assert "without retrying" in MESSAGES["results_threshold"]


def test_own_wait_deadline_fails_after_one_try(result: DagRunResult) -> None:
    """Like Airflow's own sensor timeout: ``timeout`` bounds the whole wait, retries do not extend it."""
    assert result.task_states["sense_timeout_deferred"] == "failed"
    assert result.tries["sense_timeout_deferred"] == 1
    assert FAILURES["sense_timeout_deferred"] == ["GeminiBatchTimeoutError"]
    assert "clear it to wait again" in MESSAGES["sense_timeout_deferred"]


def test_transient_server_errors_are_retried_until_the_wait_succeeds(result: DagRunResult) -> None:
    assert FAILURES["sense_503_sync"] == ["GeminiServerError", "GeminiServerError"]
    assert result.tries["sense_503_sync"] == 3
    assert result.task_states["sense_503_sync"] == "success"
    assert result.xcom("sense_503_sync")["state"] == "SUCCEEDED"


def test_results_of_a_batch_in_flight_are_retried(result: DagRunResult) -> None:
    assert result.task_states["results_in_flight"] == "failed"
    assert result.tries["results_in_flight"] == 3
    assert FAILURES["results_in_flight"] == ["GeminiBatchError"] * 3
