"""The Vertex example runs unchanged on a Vertex AI connection and on a Gemini API connection.

Only the environment's ``gemini_batch_default`` differs between the two runs: a Vertex
connection (service-account key whose ``token_uri`` is the emulator's token endpoint) or the
Developer API connection the provider's test fixture makes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.examples.test_example_dags import load_example, rows_of, run_example
from tests.fixtures.vertex import vertex_connection

DAG_ID = "example_gemini_batch_vertex"


def _check(state: str, states: dict[str, str | None], values: dict[str, object], prefix: str) -> None:
    assert state == "success", states
    assert set(states.values()) == {"success"}, states
    report = values["report"]
    assert isinstance(report, dict)
    assert report["keys"] == sorted(load_example(DAG_ID).QUESTIONS)
    assert str(report["batch_name"]).startswith(prefix)


def test_vertex_example_on_a_vertex_connection(
    airflow_db: str, gemini_batch_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emulator = gemini_batch_conn
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_BATCH_DEFAULT", vertex_connection(emulator.base_url))
    conf = {"results_dir": str(tmp_path), "output_uri": "gs://demo-bucket/example/"}
    state, states, values = run_example(DAG_ID, conf)
    _check(state, states, values, "projects/")
    rows = rows_of(values["fetch_results"]["destination"])  # type: ignore[index]
    assert {row["outcome"] for row in rows} == {"succeeded"}
    (job,) = emulator.control.vertex_jobs()
    assert job["state"] == "JOB_STATE_SUCCEEDED"


def test_vertex_example_on_a_gemini_api_connection(
    airflow_db: str, gemini_batch_conn: EmulatorServer, tmp_path: Path
) -> None:
    state, states, values = run_example(DAG_ID, {"results_dir": str(tmp_path)})
    _check(state, states, values, "batches/")
    assert gemini_batch_conn.control.vertex_jobs() == []
