"""The resubmission merge names the file and line of a hostile landed row, never a bare error.

A landed result file is written by a results task, but it sits on disk or in a bucket where it can
be edited by hand: a usage counter of ``"²"`` (a digit to ``str.isdigit``, not to ``int``) or a
row nested thousands deep must fail the merge with a message naming the merged file, the line and
the field, as landing does for the same rows from the service.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, task

from airflow_provider_gemini_batch.operators.gemini_batch import GeminiMergeResubmissionOperator
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.operators._failures import recording_failures

GOOD = {"key": "k0", "status": "succeeded", "outcome": "succeeded", "response": {"candidates": []}}
SUPERSCRIPT = {
    "key": "k1",
    "status": "succeeded",
    "outcome": "succeeded",
    "response": {"candidates": [], "usageMetadata": {"promptTokenCount": "\u00b2"}},
}
DEEP = '{"key": "k2", "status": "failed", "outcome": "error", "error": ' + "[" * 100_000 + "]" * 100_000 + "}"

HOSTILE = {
    "superscript_counter": (json.dumps(SUPERSCRIPT), "response.usageMetadata.promptTokenCount"),
    "deep_nesting": (DEEP, "nested too deeply"),
}


@pytest.mark.parametrize("row", sorted(HOSTILE))
def test_merge_names_file_and_line_of_a_hostile_landed_row(airflow_db: str, tmp_path: Path, row: str) -> None:
    line, expected = HOSTILE[row]
    results = tmp_path / "run" / "results"
    results.mkdir(parents=True)
    landed = results / "results.jsonl"
    landed.write_text(json.dumps(GOOD) + "\n" + line + "\n", encoding="utf-8")
    merged = results / "merged.jsonl"
    manifest: dict[str, Any] = {"batch_name": "batches/x", "state": "SUCCEEDED", "destination": str(landed)}
    with DAG(unique_dag_id("merge_hostile_row"), start_date=datetime(2026, 1, 1), schedule=None) as dag:

        @task
        def first_results() -> dict[str, Any]:
            return manifest

        GeminiMergeResubmissionOperator(task_id="merge", previous=first_results(), destination=str(merged))
    with recording_failures() as failures:
        result = run_dag(dag)
    assert result.task_states["merge"] == "failed"
    error = failures.last("merge")
    assert error is not None
    assert error[0] == "GeminiInputFileError", error
    assert f"{merged}, line 2" in error[1], error
    assert expected in error[1], error
