"""How a Vertex job's end reaches the DAG: every JOB_STATE_* end ends the wait, failed rows are
classified by the shared rules, BigQuery output is explained, and delete works on jobs.

The Google provider's deferrable batch-prediction wait keeps polling a job that ended EXPIRED or
PARTIALLY_SUCCEEDED (read in apache-airflow-providers-google 22.8.0); here both end the wait.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
    GeminiDeleteBatchOperator,
)
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.fixtures.vertex import vertex_connection
from tests.operators._failures import recording_failures
from tests.operators._support import MODEL, write_jsonl

CONN = "gemini_vertex"


@pytest.fixture
def vertex(airflow_db: str, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", vertex_connection(emulator.base_url))
    return emulator


def _dag(
    dag_id: str, source: str, destination: str, *, output_uri: str = "gs://demo-bucket/o/", **results: Any
) -> Any:
    from airflow.sdk import DAG

    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        create = GeminiCreateBatchOperator(
            task_id="create",
            model=MODEL,
            input_path=source,
            output_uri=output_uri,
            gemini_conn_id=CONN,
            wait_for_completion=True,
            deferrable=True,
            poll_interval=0.05,
            timeout=120,
        )
        results_task = GeminiBatchResultsOperator(
            task_id="results",
            batch_name="{{ ti.xcom_pull(task_ids='create', key='batch_name') }}",
            destination=destination,
            gemini_conn_id=CONN,
            trigger_rule="all_done",
            **results,
        )
        create >> results_task
    return dag


def test_an_expired_job_ends_the_wait_as_a_failure(vertex: EmulatorServer, tmp_path: Path) -> None:
    vertex.control.vertex_configure(next_outcome="EXPIRED")
    source = write_jsonl(tmp_path / "in.jsonl", 2, "e")
    with recording_failures() as failures:
        result = run_dag(_dag(unique_dag_id("vx_expired"), source, str(tmp_path / "r.jsonl")))
    assert result.task_states["create"] == "failed"
    failure = failures.last("create")
    assert failure is not None
    assert failure[0] == "GeminiBatchFailedError"
    assert "EXPIRED" in failure[1]


def test_a_partially_succeeded_job_lands_every_row_with_its_outcome(
    vertex: EmulatorServer, tmp_path: Path
) -> None:
    vertex.control.vertex_configure(next_outcome="PARTIALLY_SUCCEEDED")
    source = write_jsonl(tmp_path / "in.jsonl", 6, "p")
    out = tmp_path / "r.jsonl"
    result = run_dag(_dag(unique_dag_id("vx_partial"), source, str(out), max_failed_ratio=1.0))

    assert result.task_states == {"create": "success", "results": "success"}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["key"] for r in rows) == [f"p{i}" for i in range(6)]
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed, "the emulator fails some rows of a PARTIALLY_SUCCEEDED job"
    for row in failed:
        # Vertex's row error is a string ("Internal Server Error: {\"error\": {...}}"); the shared
        # classification reads the code and reason inside it.
        assert row["outcome"] == "error"
        assert "response" not in row
        assert isinstance(row["error"].get("code"), int)
    manifest = result.xcoms["results"]["return_value"]
    assert manifest["state"] == "PARTIALLY_SUCCEEDED"
    assert manifest["counts"]["failed"] == len(failed)
    assert manifest["counts"]["landed"] == 6


def test_input_path_with_a_bigquery_output_is_refused_before_any_upload(
    vertex: EmulatorServer, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", 2, "b")
    out = tmp_path / "r.jsonl"
    with recording_failures() as failures:
        result = run_dag(
            _dag(unique_dag_id("vx_bq"), source, str(out), output_uri="bq://demo-project.results")
        )
    # An input_path needs a bucket to be staged in: refused before anything is uploaded.
    assert result.task_states["create"] == "failed"
    failure = failures.last("create")
    assert failure is not None
    assert "gs://bucket/prefix/" in failure[1]
    assert not any("/storage/v1/" in e["path"] for e in vertex.control.journal())


def test_bigquery_output_of_a_job_is_named_by_the_results_task(
    vertex: EmulatorServer, tmp_path: Path
) -> None:
    from airflow.sdk import DAG

    vertex.control.load_bigquery_table(
        "demo-project.inputs.requests",
        b'{"key": "q1", "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}\n',
    )
    out = tmp_path / "r.jsonl"
    with DAG(unique_dag_id("vx_bq_out"), schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        create = GeminiCreateBatchOperator(
            task_id="create",
            model=MODEL,
            input_uri="bq://demo-project.inputs.requests",
            output_uri="bq://demo-project.results",
            gemini_conn_id=CONN,
            wait_for_completion=True,
            poll_interval=0.05,
        )
        GeminiBatchResultsOperator(
            task_id="results", batch_name=create.output, destination=str(out), gemini_conn_id=CONN
        )
    with recording_failures() as failures:
        result = run_dag(dag)
    assert result.task_states == {"create": "success", "results": "failed"}
    failure = failures.last("results")
    assert failure is not None
    assert "bq://demo-project.results" in failure[1]
    assert "BigQuery" in failure[1]
    assert not out.exists()


def test_delete_removes_an_ended_job(vertex: EmulatorServer, tmp_path: Path) -> None:
    from airflow.sdk import DAG

    source = write_jsonl(tmp_path / "in.jsonl", 1, "d")
    with DAG(unique_dag_id("vx_delete"), schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        create = GeminiCreateBatchOperator(
            task_id="create",
            model=MODEL,
            input_path=source,
            output_uri="gs://demo-bucket/d/",
            gemini_conn_id=CONN,
            wait_for_completion=True,
            poll_interval=0.05,
        )
        GeminiDeleteBatchOperator(
            task_id="delete", batch_name=create.output, teardown=False, gemini_conn_id=CONN
        )
    result = run_dag(dag)
    assert result.task_states == {"create": "success", "delete": "success"}
    (job,) = vertex.control.vertex_jobs()
    assert job["deleted"] is True
