"""Merge and resubmission operators read only result files this DAG's results tasks landed.

Their inputs are manifests, i.e. XComs, which anyone allowed to write one on the DAG can plant
(here: an upstream task of the DAG returns the planted manifest, as a compromised or careless task
could; a REST user with the ``user`` role can write the same value). Each test runs the operator
with ``dag.test()`` on a planted manifest and checks it fails before writing anything, with a
message naming the path and the fix, and that no byte of the planted file reaches an output.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, task

from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBuildResubmissionOperator,
    GeminiMergeResubmissionOperator,
    GeminiMergeShardsOperator,
)
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.operators._failures import recording_failures

ENV_MARK = "H3_PLANTED_ENV_MARK"
ROW = {"key": "k0", "status": "succeeded", "outcome": "succeeded", "response": {"candidates": []}}
FAILED_ROW = {"key": "k1", "status": "failed", "outcome": "error", "retryable": True, "error": {"code": 13}}


def _manifest(destination: str) -> dict[str, Any]:
    return {
        "batch_name": "batches/x",
        "state": "SUCCEEDED",
        "destination": destination,
        "counts": {"total": 1},
    }


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run's directory with one real result file; the worker's environment holds a marker."""
    monkeypatch.setenv(ENV_MARK, "secret-value-from-the-environment")
    _write_rows(tmp_path / "run" / "results" / "shard-00000.jsonl", [ROW])
    (tmp_path / "run" / "input.jsonl").write_text('{"key": "k0", "request": {"contents": []}}\n')
    return tmp_path / "run"


def _planted_paths(run_dir: Path) -> dict[str, str]:
    link = run_dir / "results" / "shard-00001.jsonl"
    link.symlink_to("/proc/self/environ")
    return {
        "proc_environ": "/proc/self/environ",
        "dotdot_escape": str(run_dir / "results" / ".." / ".." / ".." / "proc" / "self" / "environ"),
        "symlink_under_root": str(link),
        "input_file_under_root": str(run_dir / "input.jsonl"),
    }


def _leaked(run_dir: Path) -> list[str]:
    """Files under the run directory holding environment text (``/proc/self/environ`` shows the
    environment the process started with; ``PATH=`` is in every one)."""
    found = []
    for root, _, files in os.walk(run_dir):
        for name in files:
            path = Path(root) / name
            data = b"" if path.is_symlink() else path.read_bytes()
            if ENV_MARK.encode() in data or b"PATH=" in data:
                found.append(str(path))
    return found


@pytest.mark.parametrize(
    "planted", ["proc_environ", "dotdot_escape", "symlink_under_root", "input_file_under_root"]
)
def test_merge_shards_refuses_a_planted_manifest_path(airflow_db: str, run_dir: Path, planted: str) -> None:
    path = _planted_paths(run_dir)[planted]
    real = str(run_dir / "results" / "shard-00000.jsonl")
    with DAG(unique_dag_id("merge_planted"), start_date=datetime(2026, 1, 1), schedule=None) as dag:

        @task
        def manifests() -> list[dict[str, Any]]:
            return [_manifest(real), _manifest(path)]

        GeminiMergeShardsOperator(
            task_id="merge", manifests=manifests(), destination=str(run_dir / "merged.jsonl")
        )
    with recording_failures() as failures:
        result = run_dag(dag)
    assert result.task_states["merge"] == "failed"
    error = failures.last("merge")
    assert error is not None
    assert error[0] == "GeminiInvalidInputError"
    assert "Shard 1's manifest" in error[1]
    assert "results_root" in error[1]
    assert not (run_dir / "merged.jsonl").exists()
    assert _leaked(run_dir) == []


def test_merge_shards_still_merges_the_results_tasks_files(airflow_db: str, run_dir: Path) -> None:
    second = _write_rows(run_dir / "results" / "shard-00001.jsonl", [FAILED_ROW])
    first = str(run_dir / "results" / "shard-00000.jsonl")
    with DAG(unique_dag_id("merge_real"), start_date=datetime(2026, 1, 1), schedule=None) as dag:

        @task
        def manifests() -> list[dict[str, Any]]:
            return [_manifest(first), _manifest(second)]

        GeminiMergeShardsOperator(
            task_id="merge", manifests=manifests(), destination=str(run_dir / "merged.jsonl")
        )
    result = run_dag(dag)
    assert result.task_states["merge"] == "success"
    assert [json.loads(line)["key"] for line in (run_dir / "merged.jsonl").read_text().splitlines()] == [
        "k0",
        "k1",
    ]


def test_resubmission_operators_refuse_planted_manifest_paths(airflow_db: str, run_dir: Path) -> None:
    real = _manifest(str(run_dir / "results" / "shard-00000.jsonl"))
    planted = _manifest("/proc/self/environ")
    with DAG(unique_dag_id("resubmit_planted"), start_date=datetime(2026, 1, 1), schedule=None) as dag:

        @task
        def planted_manifest() -> dict[str, Any]:
            return planted

        @task
        def real_manifest() -> dict[str, Any]:
            return real

        GeminiBuildResubmissionOperator(
            task_id="build",
            results=planted_manifest(),
            input_path=str(run_dir / "input.jsonl"),
            destination=str(run_dir / "resubmit.jsonl"),
        )
        GeminiMergeResubmissionOperator(
            task_id="merge_previous", previous=planted_manifest(), destination=str(run_dir / "merged-a.jsonl")
        )
        GeminiMergeResubmissionOperator(
            task_id="merge_followup",
            previous=real_manifest(),
            followup=planted_manifest(),
            destination=str(run_dir / "merged-b.jsonl"),
        )
    with recording_failures() as failures:
        result = run_dag(dag)
    for task_id in ("build", "merge_previous", "merge_followup"):
        assert result.task_states[task_id] == "failed", task_id
        error = failures.last(task_id)
        assert error is not None
        assert error[0] == "GeminiInvalidInputError", error
        assert "outside results_root" in error[1]
    assert not any(
        (run_dir / name).exists() for name in ("resubmit.jsonl", "merged-a.jsonl", "merged-b.jsonl")
    )
    assert _leaked(run_dir) == []
