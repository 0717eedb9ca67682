"""What a new Airflow user met trying the provider against the emulator, each as a ``dag.test()`` run.

* a CANCELLED batch's wait failure says how its billed results are landed (``trigger_rule``);
* a sensor's timeout names the batch, says it was left running and advises the caller, in both
  modes, with one error type (``GeminiBatchTimeoutError``, an ``AirflowSensorTimeout``);
* the file a create task uploads for ``input_path`` is pushed under XCom key ``input_file`` before
  the create, so a cleanup task deletes it even when the create fails;
* a results destination that names a directory is refused before anything is read; a relative
  one is recorded absolute;
* no error-level "XCom not found" line after a create that failed before its batch existed;
* nothing landed is logged as such, not as "Landed 0 results ... in None".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
    GeminiDeleteFileOperator,
)
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
from tests.operators._failures import last_failure as _message
from tests.operators._failures import plain_dag as _dag
from tests.operators._failures import run_recording as _run
from tests.operators._support import MODEL, inline_requests, sync_hook, write_jsonl

pytestmark = pytest.mark.usefixtures("airflow_db")


# -- 1. a cancelled batch: the README's create -> wait -> results shape ---------------------------


def test_cancelled_wait_says_how_to_land_results_and_all_done_lands_them(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    gemini_conn.control.configure(next_outcome="CANCELLED")
    destination = tmp_path / "out" / "results.jsonl"
    with _dag("cancelled_shape") as dag:
        create = GeminiCreateBatchOperator(task_id="create", model=MODEL, requests=inline_requests(10))
        wait = GeminiBatchSensor(task_id="wait", batch_name=create.output, deferrable=True, poll_interval=0.2)
        results = GeminiBatchResultsOperator(
            task_id="results", batch_name=create.output, destination=str(destination), trigger_rule="all_done"
        )
        wait >> results

    result, failures = _run(dag)

    assert result.task_states["wait"] == "failed"
    kind, message = _message(failures, "wait")
    assert kind == "GeminiBatchFailedError"
    assert "CANCELLED" in message
    assert 'trigger_rule="all_done"' in message
    assert "were billed" in message
    # The results task ran (all_done), landed the half finished before the cancel, then failed.
    manifest = result.xcom("results", "manifest")
    assert manifest["state"] == "CANCELLED"
    assert manifest["counts"]["total"] == 5
    assert len(destination.read_text(encoding="utf-8").splitlines()) == 5
    kind, message = _message(failures, "results")
    assert kind == "GeminiBatchFailedError"
    assert f"5 offered results were landed in {destination}" in message
    assert "fail_on_unsuccessful_batch=False" in message
    assert 'trigger_rule="all_done"' not in message  # that advice is for the waiting task


# -- 2. timeouts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "poke"])
def test_sensor_timeout_names_the_batch_left_running_with_sensor_advice(
    gemini_conn: EmulatorServer, deferrable: bool
) -> None:
    gemini_conn.control.configure(processing_seconds=600)
    with _dag("sensor_timeout") as dag:
        create = GeminiCreateBatchOperator(task_id="create", model=MODEL, requests=inline_requests(2))
        GeminiBatchSensor(
            task_id="wait", batch_name=create.output, deferrable=deferrable, timeout=1.5, poll_interval=0.3
        )

    result, failures = _run(dag)

    name = result.xcom("create")
    assert result.task_states["wait"] == "failed"
    kind, message = _message(failures, "wait")
    assert kind == "GeminiBatchTimeoutError"
    assert name in message
    assert "left running" in message
    assert "raise the sensor's timeout" in message
    assert "GeminiBatchSensor" not in message  # the caller is the sensor
    assert sync_hook().get_batch(name).state.short in ("PENDING", "RUNNING")


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "sync"])
def test_create_wait_timeout_advises_a_sensor_on_the_same_batch(
    gemini_conn: EmulatorServer, deferrable: bool
) -> None:
    gemini_conn.control.configure(processing_seconds=600)
    with _dag("create_timeout") as dag:
        GeminiCreateBatchOperator(
            task_id="create",
            model=MODEL,
            requests=inline_requests(2),
            wait_for_completion=True,
            deferrable=deferrable,
            timeout=1.0,
            poll_interval=0.3,
        )

    result, failures = _run(dag)

    name = result.xcom("create", "batch_name")
    kind, message = _message(failures, "create")
    assert kind == "GeminiBatchTimeoutError"
    assert "left running" in message
    assert f"GeminiBatchSensor(batch_name={name!r})" in message


def test_timeout_error_keeps_airflows_no_retry_sensor_timeout() -> None:
    from airflow.providers.common.compat.sdk import AirflowSensorTimeout

    from airflow_provider_gemini_batch.exceptions import GeminiBatchTimeoutError

    assert issubclass(GeminiBatchTimeoutError, AirflowSensorTimeout)


# -- 3. the uploaded input file ---------------------------------------------------------------------


def _upload_then_cleanup_dag(path: str) -> Any:
    with _dag("input_file_cleanup") as dag:
        create = GeminiCreateBatchOperator(task_id="create", model=MODEL, input_path=path)
        cleanup = GeminiDeleteFileOperator(
            task_id="delete_input",
            file_name="{{ ti.xcom_pull(task_ids='create', key='input_file') }}",
            trigger_rule="all_done",
        )
        create >> cleanup
    return dag


def test_uploaded_input_file_is_pushed_and_deleted_downstream(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 3)

    result, _ = _run(_upload_then_cleanup_dag(path))

    assert result.task_states == {"create": "success", "delete_input": "success"}
    uploaded = result.xcom("create", "input_file")
    assert isinstance(uploaded, str)
    assert uploaded.startswith("files/")
    assert [f.name for f in sync_hook().list_files()] == []


def test_uploaded_input_file_is_deleted_even_when_the_create_fails(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 3)
    gemini_conn.control.inject_fault(method="POST", path=r":batchGenerateContent", status=400, times=5)

    result, failures = _run(_upload_then_cleanup_dag(path))

    assert result.task_states["create"] == "failed"
    assert _message(failures, "create")[0] == "GeminiClientError"
    assert str(result.xcom("create", "input_file")).startswith("files/")
    assert result.task_states["delete_input"] == "success"
    assert [f.name for f in sync_hook().list_files()] == []


# -- 4. destinations --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["existing_dir", "trailing_slash"])
def test_directory_destination_is_refused_before_any_request(
    gemini_conn: EmulatorServer, tmp_path: Path, shape: str
) -> None:
    out = tmp_path / "out"
    if shape == "existing_dir":
        out.mkdir()
        destination = str(out)
    else:
        destination = f"{out}/"
    with _dag("dir_destination") as dag:
        # No such batch: a request would fail with GeminiNotFoundError, so the error below proves
        # the destination was refused before anything was sent.
        GeminiBatchResultsOperator(task_id="results", batch_name="batches/none", destination=destination)

    result, failures = _run(dag)

    assert result.task_states["results"] == "failed"
    kind, message = _message(failures, "results")
    assert kind == "GeminiInvalidInputError"
    assert f"The destination {destination} is a directory" in message
    assert "results.jsonl" in message  # what to give instead
    assert not any("batches/none" in e["path"] for e in gemini_conn.control.journal())


def test_relative_destination_is_recorded_absolute(
    gemini_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    name = sync_hook().create_batch(MODEL, requests=inline_requests(2)).name
    gemini_conn.control.advance_clock(3600)
    with _dag("relative_destination") as dag:
        GeminiBatchResultsOperator(task_id="results", batch_name=name, destination="relative/out.jsonl")

    result, _ = _run(dag)

    assert result.task_states["results"] == "success"
    manifest = result.xcom("results")
    assert manifest["destination"] == os.path.join(str(tmp_path), "relative", "out.jsonl")
    assert (tmp_path / "relative" / "out.jsonl").is_file()


# -- 5./6. log lines ---------------------------------------------------------------------------------


def test_failed_create_logs_no_xcom_not_found_error(
    gemini_conn: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    gemini_conn.control.inject_fault(method="POST", path=r":batchGenerateContent", status=400, times=5)
    with _dag("no_link_error") as dag:
        GeminiCreateBatchOperator(task_id="create", model=MODEL, requests=inline_requests(1))

    result, _ = _run(dag)

    assert result.task_states["create"] == "failed"
    captured = capfd.readouterr()
    assert "XCom not found" not in captured.out + captured.err


def test_nothing_landed_is_logged_as_such(
    gemini_conn: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    gemini_conn.control.configure(next_outcome="FAILED")
    name = sync_hook().create_batch(MODEL, requests=inline_requests(2)).name
    gemini_conn.control.advance_clock(3600)
    with _dag("nothing_landed") as dag:
        GeminiBatchResultsOperator(
            task_id="results",
            batch_name=name,
            destination="/nonexistent/never.jsonl",
            fail_on_unsuccessful_batch=False,
        )

    result, _ = _run(dag)

    assert result.task_states["results"] == "success"
    out = capfd.readouterr()
    text = out.out + out.err
    assert "in None" not in text
    assert "Landed no results of" in text
