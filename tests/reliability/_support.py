"""Helpers for the reliability tests: DAG runs on a chosen run, journal questions, an XCom recorder.

Everything talks to the real emulator over a socket and runs operators inside real Airflow
(``dag.test()``); the only stand-in is :class:`RecordingTI`, used where a test calls an operator's
``execute()`` directly to read the exact exception it raises.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.fixtures.airflow_env import serialize_dag

MODEL = "gemini-2.5-flash"

#: Path endings of the calls that create or upload something (billable or storage-consuming).
_CREATE_SUFFIXES = (":batchGenerateContent", ":asyncBatchEmbedContent")


def create_calls(emulator: EmulatorServer) -> list[dict[str, Any]]:
    """Journal entries of batch-create calls (answered or not)."""
    return [
        e
        for e in emulator.control.journal()
        if e["method"] == "POST" and e["path"].endswith(_CREATE_SUFFIXES)
    ]


def upload_starts(emulator: EmulatorServer) -> list[dict[str, Any]]:
    """Journal entries that open an upload session (``POST /upload/.../files`` without upload id)."""
    return [
        e
        for e in emulator.control.journal()
        if e["method"] == "POST"
        and e["path"].startswith("/upload/")
        and "upload_id" not in (e["query"] or "")
    ]


def creating_or_uploading(emulator: EmulatorServer) -> list[tuple[str, str]]:
    """Every journal entry that creates a batch or sends file bytes: must be empty for bad input."""
    return [
        (e["method"], e["path"])
        for e in emulator.control.journal()
        if e["method"] == "POST"
        and (e["path"].startswith("/upload/") or e["path"].endswith(_CREATE_SUFFIXES))
    ]


def file_names(emulator: EmulatorServer) -> list[str]:
    """Names of the files the emulator holds, read with a plain HTTP client (not our hook)."""
    import httpx

    names: list[str] = []
    token = ""
    while True:
        answer = httpx.get(
            f"{emulator.base_url}/v1beta/files",
            params={"pageSize": 100, **({"pageToken": token} if token else {})},
            headers={"x-goog-api-key": emulator.api_key or "any"},
        ).json()
        names += [f["name"] for f in answer.get("files", [])]
        token = answer.get("nextPageToken", "")
        if not token:
            return names


@dataclass
class RunResult:
    """Final states (``task`` or ``task[i]`` for mapped ones) and XComs of one DAG run."""

    run_id: str
    state: str
    states: dict[str, str | None] = field(default_factory=dict)
    xcoms: dict[str, dict[str, Any]] = field(default_factory=dict)

    def xcom(self, label: str, key: str = "return_value") -> Any:
        return self.xcoms.get(label, {}).get(key)


def run(dag: Any, *, logical_date: datetime | None = None, conf: dict[str, Any] | None = None) -> RunResult:
    """Run ``dag`` with ``dag.test()``; passing the same ``logical_date`` again clears and re-runs
    the same run (same run id, so the same task-instance identity: what a cleared task does)."""
    from airflow import settings
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel

    serialize_dag(dag)
    kwargs: dict[str, Any] = {"run_conf": conf}
    if logical_date is not None:
        # The run id is derived from run_after: pin it so the second call finds the same run.
        kwargs["logical_date"] = logical_date
        kwargs["run_after"] = logical_date
    dr = dag.test(**kwargs)

    def label(task_id: str, map_index: int) -> str:
        return task_id if map_index < 0 else f"{task_id}[{map_index}]"

    session = settings.Session()
    try:
        result = RunResult(run_id=dr.run_id, state=str(dr.state))
        for ti in session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=dr.run_id):
            result.states[label(ti.task_id, ti.map_index)] = None if ti.state is None else str(ti.state)
        for row in session.query(XComModel).filter_by(dag_id=dag.dag_id, run_id=dr.run_id):
            value = row.value
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            result.xcoms.setdefault(label(row.task_id, row.map_index), {})[row.key] = value
        return result
    finally:
        session.close()


@dataclass
class RecordingTI:
    """The identity fields and ``xcom_push`` of a task instance, for a direct ``execute()`` call."""

    dag_id: str = "reliability"
    task_id: str = "task"
    run_id: str = "manual__direct"
    map_index: int = -1
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def direct_context(**identity: Any) -> dict[str, Any]:
    """A context for calling ``execute()`` directly: ``{"ti": RecordingTI(...)}``."""
    return {"ti": RecordingTI(**identity)}


def keyed_requests(n: int, prefix: str = "k") -> list[dict[str, Any]]:
    """``n`` inline requests in the JSONL-line shape, keys ``<prefix>0..``."""
    return [
        {"key": f"{prefix}{i}", "request": {"contents": [{"parts": [{"text": f"question {prefix}{i}"}]}]}}
        for i in range(n)
    ]


def write_jsonl(path: Any, rows: list[dict[str, Any]]) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return str(path)


def landed_rows(path: Any) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
