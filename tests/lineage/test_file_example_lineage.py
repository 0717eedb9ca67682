"""OpenLineage events of the file example: the real OpenLineage provider, its file transport, the emulator.

The example runs in a child process (``tests/lineage/run_file_example.py``) whose environment
turns OpenLineage on with the ``file`` transport; the test reads back every event it wrote and
checks the datasets the upload, create and results operators reported on START and COMPLETE.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("airflow.providers.openlineage", reason="needs the openlineage extra")

from airflow_provider_gemini_batch.emulator import EmulatorServer

ROOT = Path(__file__).resolve().parents[2]


def _datasets(event: dict[str, Any], side: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event.get(side, [])]


def test_file_example_reports_input_file_gemini_file_batch_and_destination(
    airflow_db: str, gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    events_path = tmp_path / "openlineage.jsonl"
    env = dict(os.environ)
    env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
        {"type": "file", "log_file_path": str(events_path), "append": True}
    )
    env["AIRFLOW__OPENLINEAGE__NAMESPACE"] = "gemini-batch-tests"
    done = subprocess.run(
        [sys.executable, "-m", "tests.lineage.run_file_example", str(tmp_path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    events = [json.loads(line) for line in events_path.read_text().splitlines() if line.strip()]
    by_task = {(e["job"]["name"].rsplit(".", 1)[-1], e["eventType"]): e for e in events}

    gemini = f"gemini://{gemini_conn.base_url.split('://', 1)[1]}"
    run_dir = next(tmp_path.glob("example_gemini_batch_file/*"))
    requests_file = ("file", str(run_dir / "requests.jsonl"))
    results_file = ("file", str(run_dir / "results.jsonl"))

    upload = by_task[("upload_requests", "COMPLETE")]
    assert _datasets(by_task[("upload_requests", "START")], "inputs") == [requests_file]
    assert _datasets(upload, "inputs") == [requests_file]
    [(namespace, uploaded)] = _datasets(upload, "outputs")
    assert namespace == gemini
    assert uploaded.startswith("files/")

    create = by_task[("create_batch", "COMPLETE")]
    assert _datasets(create, "inputs") == [(gemini, uploaded)]
    [(namespace, batch)] = _datasets(create, "outputs")
    assert namespace == gemini
    assert batch.startswith("batches/")

    for event_type in ("START", "COMPLETE"):
        results = by_task[("fetch_results", event_type)]
        assert _datasets(results, "inputs") == [(gemini, batch)]
        assert _datasets(results, "outputs") == [results_file]
