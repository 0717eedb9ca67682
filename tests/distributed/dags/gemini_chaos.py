"""The DAG of the distributed chaos run (scripts/chaos_distributed.py): 5 batches per run.

One JSONL-file batch, one inline batch and ``parts`` mapped file batches, each upload -> create ->
deferrable wait (on the ``gemini`` trigger queue) -> results landed under ``results_dir/<run>/``.
The inline create also waits for its batch in the worker first (``wait_for_completion``), the
synchronous path the task state store record protects.
Retries are on, as the provider recommends: a task on a killed worker is failed by the scheduler
after the heartbeat timeout and its retry must reattach to what the dead try made.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task, task_group

from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
    GeminiUploadFileOperator,
)
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor

MODEL = "gemini-2.5-flash"
#: Requests per batch (the chaos script checks every landed file has exactly these keys).
ROWS = 6
RUN_DIR = "{{ params.results_dir }}/{{ run_id | replace(':', '-') | replace('+', '-') }}"


def rows(prefix: str) -> list[dict[str, Any]]:
    """``ROWS`` requests keyed ``<prefix>-<n>``."""
    return [
        {"key": f"{prefix}-{n}", "request": {"contents": [{"parts": [{"text": f"{prefix} {n}"}]}]}}
        for n in range(ROWS)
    ]


def wait(task_id: str, batch_name: Any) -> GeminiBatchSensor:
    # queue="gemini": with [triggerer] queues_enabled the trigger carries this queue and only a
    # triggerer started with `--queues ...,gemini` runs it (docs/scaling.md).
    return GeminiBatchSensor(
        task_id=task_id, batch_name=batch_name, poll_interval=2, deferrable=True, queue="gemini"
    )


with DAG(
    dag_id="gemini_chaos",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=3)},
    params={"results_dir": Param("/tmp", type="string"), "parts": Param(3, type="integer")},
) as dag:

    @task
    def write_inputs(run_dir: str, params: dict[str, Any] | None = None) -> list[str]:
        """Write ``file.jsonl`` and ``part-<i>.jsonl``; return the parts' paths (mapped over)."""
        assert params is not None
        folder = Path(run_dir)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in ["file", *(f"part-{i}" for i in range(int(params["parts"])))]:
            path = folder / f"{name}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows(name)), encoding="utf-8")
            paths.append(str(path))
        return paths[1:]

    inputs = write_inputs(RUN_DIR)

    upload = GeminiUploadFileOperator(task_id="file_upload", path=RUN_DIR + "/file.jsonl")
    create = GeminiCreateBatchOperator(task_id="file_create", model=MODEL, input_file=upload.output)
    land = GeminiBatchResultsOperator(
        task_id="file_results", batch_name=create.output, destination=RUN_DIR + "/out/file.jsonl"
    )
    inputs >> upload
    wait("file_wait", create.output) >> land

    # Waits for its batch in the worker (not deferred): the chaos script kills a worker in this
    # wait, after the create answer, and the retry must reattach through the task state store.
    inline = GeminiCreateBatchOperator(
        task_id="inline_create",
        model=MODEL,
        requests=rows("inline"),
        wait_for_completion=True,
        deferrable=False,
        poll_interval=3,
    )
    inline_land = GeminiBatchResultsOperator(
        task_id="inline_results", batch_name=inline.output, destination=RUN_DIR + "/out/inline.jsonl"
    )
    wait("inline_wait", inline.output) >> inline_land

    @task_group
    def part(path: str) -> None:
        part_upload = GeminiUploadFileOperator(task_id="upload", path=path)
        part_create = GeminiCreateBatchOperator(task_id="create", model=MODEL, input_file=part_upload.output)
        wait("wait", part_create.output) >> GeminiBatchResultsOperator(
            task_id="results",
            batch_name=part_create.output,
            destination=RUN_DIR + "/out/part-{{ ti.map_index }}.jsonl",
        )

    part.expand(path=inputs)
