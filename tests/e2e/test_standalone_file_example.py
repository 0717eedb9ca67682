"""End to end: ``example_gemini_batch_file`` on a real ``airflow standalone`` and the emulator.

Unlike ``dag.test()``, which runs triggers inline in one process, this proves that the sensor's
wait is really handed to the triggerer process (the task instance enters ``deferred``), comes
back to a worker, and that the run lands the results. The processes are the ones ``make demo``
uses (scripts/airflow_stack.py), all started on free ports and all stopped at the end, also on
failure (the stack is shared with the other e2e tests: tests/e2e/conftest.py). The measured
worker-held vs deferred seconds of the sensor are printed and written to ``sensor_timing.json``
in the test's tmp dir (figures, not assertions: speed is not tested here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.airflow_stack import Stack, follow_run, iter_jsonl, worker_vs_deferred
from tests.e2e.conftest import PROCESSING_SECONDS
from tests.operators._support import counts_all_succeeded

pytestmark = pytest.mark.e2e

DAG_ID = "example_gemini_batch_file"
SENSOR = "wait_for_batch"


def test_file_example_defers_succeeds_and_lands_every_key(stack: Stack, tmp_path: Path) -> None:
    """Through REST API v2: the sensor enters ``deferred``, the run succeeds, results match inputs."""
    api = stack.api
    try:
        api.wait_for_dag(DAG_ID, timeout=120)
        run_id = api.trigger(DAG_ID, conf={"results_dir": str(tmp_path / "results")})
        state, timeline = follow_run(api, DAG_ID, run_id, timeout=240, on_change=print, alive=stack.alive)
    except BaseException:
        print(stack.airflow.diagnostics())
        raise
    if state != "success":
        print(stack.airflow.diagnostics())
    assert state == "success", timeline.changes

    # The wait was handed to the triggerer: seen by polling and recorded by Airflow itself.
    timing = worker_vs_deferred(api, DAG_ID, run_id, SENSOR)
    assert timeline.seen(SENSOR, "deferred"), timeline.changes[SENSOR]
    assert timing["deferrals"] >= 1, timing["events"]

    # The landed results hold exactly the keys of the input file the DAG built.
    manifest = api.xcom(DAG_ID, run_id, "fetch_results")
    assert manifest["state"] == "SUCCEEDED"
    destination = Path(manifest["destination"])
    assert destination.is_relative_to(tmp_path / "results")
    input_keys = sorted(line["key"] for line in iter_jsonl(destination.parent / "requests.jsonl"))
    result_rows = list(iter_jsonl(destination))
    assert sorted(row["key"] for row in result_rows) == input_keys
    assert all(row["status"] == "succeeded" for row in result_rows)
    assert manifest["counts"] == counts_all_succeeded(len(input_keys))

    # Cleanup tasks ran and succeeded after the results were landed.
    final = {label: changes[-1][1] for label, changes in timeline.changes.items()}
    assert final["delete_uploaded_file"] == "success"
    assert final["delete_result_file"] == "success"

    report = {
        "dag_id": DAG_ID,
        "run_id": run_id,
        "batch_processing_seconds": PROCESSING_SECONDS,
        "sensor": timing,
        "observed_seconds_in_state": {
            s: round(timeline.seconds_in(SENSOR, s), 2)
            for s in ("scheduled", "queued", "running", "deferred")
        },
    }
    (tmp_path / "sensor_timing.json").write_text(json.dumps(report, indent=2))
    print(
        f"\nSensor {SENSOR}: held a worker {timing['worker_held_seconds']:.2f} s, "
        f"deferred {timing['deferred_seconds']:.2f} s "
        f"(try start->end {timing['start_to_end_seconds']} s); report: {tmp_path / 'sensor_timing.json'}"
    )
