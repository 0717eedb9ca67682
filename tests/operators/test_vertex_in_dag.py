"""One DAG file on two backends: Vertex AI batch prediction and the Gemini Developer API.

The DAG (validate + upload + create, deferred wait, results landed) is built by one function and
run with ``dag.test()`` against the emulator on a Vertex connection and on a Developer API
connection; only ``gemini_conn_id`` differs. The Vertex connection authenticates exactly as a
real one: a service-account key (an RSA key made here) whose ``token_uri`` is the emulator's
token endpoint, so google-auth signs a JWT and exchanges it for the bearer token.

Reliability on Vertex: a create whose answer is lost reattaches (one job in the emulator's job
list), a cancel reports the state the job really ended in, and bad input is refused before any
Cloud Storage upload.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCancelBatchOperator,
    GeminiCreateBatchOperator,
)
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.fixtures.vertex import vertex_connection
from tests.operators._failures import recording_failures
from tests.operators._support import MODEL, write_jsonl

VERTEX_CONN = "gemini_vertex"
DEV_CONN = "gemini_dev"
OUTPUT = "gs://demo-bucket/runs/"


@pytest.fixture
def connections(airflow_db: str, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """``gemini_vertex`` (Vertex backend, service-account key, token_uri on the emulator) and
    ``gemini_dev`` (Developer API, API key), both at the emulator; STORAGE_EMULATOR_HOST unset."""
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    vertex = vertex_connection(emulator.base_url)
    dev = {"conn_type": "gemini_batch", "host": emulator.base_url, "password": emulator.api_key}
    monkeypatch.setenv(f"AIRFLOW_CONN_{VERTEX_CONN.upper()}", vertex)
    monkeypatch.setenv(f"AIRFLOW_CONN_{DEV_CONN.upper()}", json.dumps(dev))
    return emulator


def build_dag(dag_id: str, conn_id: str, input_path: str, destination: str) -> Any:
    """The DAG under test: the same code for both backends (only ``conn_id`` changes)."""
    from airflow.sdk import DAG

    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        create = GeminiCreateBatchOperator(
            task_id="create",
            model=MODEL,
            input_path=input_path,
            output_uri=OUTPUT + "{{ run_id | replace(':', '-') | replace('+', '-') }}/",
            gemini_conn_id=conn_id,
            wait_for_completion=True,
            deferrable=True,
            poll_interval=0.05,
        )
        # The job has ended by now: the sensor reads it once (sync hook) and succeeds.
        wait = GeminiBatchSensor(
            task_id="wait",
            batch_name=create.output,
            gemini_conn_id=conn_id,
            deferrable=True,
            poke_interval=0.05,
        )
        create >> wait
        GeminiBatchResultsOperator(
            task_id="results",
            batch_name=create.output,
            destination=destination,
            gemini_conn_id=conn_id,
        )
    return dag


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _vertex_calls(journal: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"upload_start": 0, "upload_put": 0, "create": 0, "list_objects": 0, "media": 0}
    for e in journal:
        path, method, query = e["path"], e["method"], e["query"] or ""
        if method == "POST" and path.startswith("/upload/storage/v1/") and "uploadType=resumable" in query:
            counts["upload_start"] += 1
        elif method == "PUT" and "/upload/storage/v1/" in path:
            counts["upload_put"] += 1
        elif method == "POST" and path.endswith("/batchPredictionJobs"):
            counts["create"] += 1
        elif method == "GET" and path.startswith("/storage/v1/b/") and path.endswith("/o"):
            counts["list_objects"] += 1
        elif method == "GET" and "alt=media" in query:
            counts["media"] += 1
    return counts


def test_the_dag_runs_end_to_end_on_vertex(connections: EmulatorServer, tmp_path: Path) -> None:
    emulator = connections
    source = write_jsonl(tmp_path / "requests.jsonl", 5, "v")
    out = tmp_path / "vertex-results.jsonl"
    result = run_dag(build_dag(unique_dag_id("vertex_e2e"), VERTEX_CONN, source, str(out)))

    assert result.task_states == {"create": "success", "wait": "success", "results": "success"}
    name = result.xcoms["create"]["return_value"]
    # Vertex names jobs by project number, whatever the project id the request used.
    assert re.fullmatch(r"projects/[0-9a-z-]+/locations/us-central1/batchPredictionJobs/[0-9]+", name)
    rows = _rows(out)
    assert sorted(r["key"] for r in rows) == [f"v{i}" for i in range(5)]
    assert {r["status"] for r in rows} == {"succeeded"}
    assert {r["outcome"] for r in rows} == {"succeeded"}
    assert all("response" in r for r in rows)
    manifest = result.xcoms["results"]["return_value"]
    assert manifest["batch_name"] == name
    assert manifest["state"] == "SUCCEEDED"
    assert manifest["counts"]["landed"] == 5
    assert manifest["counts"]["missing"] == 0
    calls = _vertex_calls(emulator.control.journal())
    assert calls["upload_start"] == 1
    assert calls["upload_put"] >= 1
    assert calls["create"] == 1
    assert calls["media"] >= 1
    # The staged input is where the docs say, and the job read it.
    (job,) = emulator.control.vertex_jobs()
    assert job["name"] == name


def test_the_same_dag_file_runs_on_the_developer_api(connections: EmulatorServer, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "requests.jsonl", 5, "d")
    out = tmp_path / "dev-results.jsonl"
    result = run_dag(build_dag(unique_dag_id("dev_e2e"), DEV_CONN, source, str(out)))

    assert result.task_states == {"create": "success", "wait": "success", "results": "success"}
    assert result.xcoms["create"]["return_value"].startswith("batches/")
    assert sorted(r["key"] for r in _rows(out)) == [f"d{i}" for i in range(5)]
    assert connections.control.vertex_jobs() == []


def test_bad_input_is_refused_before_anything_is_uploaded(
    connections: EmulatorServer, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\nnot json\n')
    with recording_failures() as failures:
        result = run_dag(
            build_dag(unique_dag_id("vertex_bad"), VERTEX_CONN, str(bad), str(tmp_path / "o.jsonl"))
        )
    assert result.task_states["create"] == "failed"
    failure = failures.last("create")
    assert failure is not None
    assert "line 2" in failure[1]
    journal = connections.control.journal()
    assert not any("/storage/v1/" in e["path"] or "batchPredictionJobs" in e["path"] for e in journal)


def test_a_create_whose_answer_was_lost_reattaches_instead_of_creating_twice(
    connections: EmulatorServer, tmp_path: Path
) -> None:
    emulator = connections
    # The create is served in full, then the connection is closed before the answer: the hook
    # cannot know whether the job exists, so the operator looks it up by its display-name marker.
    emulator.control.inject_fault(method="POST", path=r"/batchPredictionJobs$", lose_answer=True)
    source = write_jsonl(tmp_path / "requests.jsonl", 3, "r")
    out = tmp_path / "results.jsonl"
    result = run_dag(build_dag(unique_dag_id("vertex_lost"), VERTEX_CONN, source, str(out)))

    assert result.task_states == {"create": "success", "wait": "success", "results": "success"}
    jobs = emulator.control.vertex_jobs()
    assert len(jobs) == 1
    assert result.xcoms["create"]["return_value"] == jobs[0]["name"]
    assert _vertex_calls(emulator.control.journal())["create"] == 1
    assert sorted(r["key"] for r in _rows(out)) == ["r0", "r1", "r2"]


def test_a_cancel_reports_the_state_the_job_really_ended_in(
    connections: EmulatorServer, tmp_path: Path
) -> None:
    from airflow.sdk import DAG

    emulator = connections
    emulator.control.configure(processing_seconds=30)
    source = write_jsonl(tmp_path / "requests.jsonl", 2, "c")
    with DAG(unique_dag_id("vertex_cancel"), schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        create = GeminiCreateBatchOperator(
            task_id="create", model=MODEL, input_path=source, output_uri=OUTPUT, gemini_conn_id=VERTEX_CONN
        )
        GeminiCancelBatchOperator(
            task_id="cancel",
            batch_name=create.output,
            teardown=False,
            settle_timeout=10,
            gemini_conn_id=VERTEX_CONN,
        )
    result = run_dag(dag)

    assert result.task_states == {"create": "success", "cancel": "success"}
    summary = result.xcoms["cancel"]["return_value"]
    (job,) = emulator.control.vertex_jobs()
    assert summary["batch_name"] == job["name"]
    assert summary["state"] == "CANCELLED"
    assert job["state"] == "JOB_STATE_CANCELLED"


def _no_vertex_or_storage_request(journal: list[dict[str, Any]]) -> bool:
    return not any("/storage/v1/" in e["path"] or "batchPredictionJobs" in e["path"] for e in journal)


def test_an_input_over_vertex_1_gb_is_refused_before_it_is_read_or_sent(
    connections: EmulatorServer, tmp_path: Path
) -> None:
    """Vertex AI takes at most 1 GB of Cloud Storage input per job (docs/vertex.md, Limits); the
    Files API's 2 GB would let such a file through to a job the service then fails."""
    big = tmp_path / "big.jsonl"
    with big.open("wb") as out:  # sparse: no gigabyte is written to disk
        out.truncate(1_000_000_001)
    with recording_failures() as failures:
        result = run_dag(
            build_dag(unique_dag_id("vertex_big"), VERTEX_CONN, str(big), str(tmp_path / "o.jsonl"))
        )
    assert result.task_states["create"] == "failed"
    failure = failures.last("create")
    assert failure is not None
    assert "1000000001 bytes" in failure[1]
    assert "Vertex AI batch prediction" in failure[1]
    assert "1 GB" in failure[1]
    assert "Split it" in failure[1]
    assert _no_vertex_or_storage_request(connections.control.journal())


def test_more_than_200000_requests_are_refused_before_anything_is_uploaded(
    connections: EmulatorServer, tmp_path: Path
) -> None:
    """A Vertex job holds at most 200,000 requests (docs/vertex.md, Limits)."""
    many = tmp_path / "many.jsonl"
    line = '{"key": "k%d", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n'
    with many.open("w") as out:
        out.writelines(line % i for i in range(200_001))
    with recording_failures() as failures:
        result = run_dag(
            build_dag(unique_dag_id("vertex_many"), VERTEX_CONN, str(many), str(tmp_path / "o.jsonl"))
        )
    assert result.task_states["create"] == "failed"
    failure = failures.last("create")
    assert failure is not None
    assert "200001 requests" in failure[1]
    assert "at most 200000" in failure[1]
    assert "GeminiSplitInputOperator" in failure[1]
    assert _no_vertex_or_storage_request(connections.control.journal())
