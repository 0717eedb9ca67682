"""A large input split into several Gemini batches that run and are waited on in parallel.

What it shows:

* splitting one big list of requests into parts with a ``@task``;
* a ``@task_group`` mapped over the parts with ``.expand``: each part is uploaded, created as its
  own batch, waited on by a deferrable sensor (all waits sit in the triggerer at the same time)
  and landed to its own file;
* a final task merging the parts' manifests and files into one JSONL and one summary.

Keep the number of parts modest: the API allows 100 concurrent batch jobs per project. Use an
Airflow pool on ``create_batch`` to cap concurrency further (docs/scaling.md).

The waits go to the queue named by ``GEMINI_BATCH_QUEUE`` (default ``default``): with Airflow
3.2+ ``[triggerer] queues_enabled = True``, the trigger carries the task's queue, so
``GEMINI_BATCH_QUEUE=gemini`` pins these waits to triggerers started with ``--queues gemini``
(and, with Celery, their worker parts to workers consuming ``gemini``).

Configuration: the connection id ``gemini_batch_default`` and the parameters ``results_dir``
(default ``$AIRFLOW_HOME/gemini_batch_results``), ``parts`` and ``items``.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task, task_group

from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
    GeminiDeleteFileOperator,
    GeminiUploadFileOperator,
)
from airflow_provider_gemini_batch.params import results_dir_param
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor

# The queue of the waits (see the module docstring); "default" is Airflow's own default queue.
WAIT_QUEUE = os.environ.get("GEMINI_BATCH_QUEUE", "default")

RUN_DIR = "{{ params.results_dir }}/{{ dag.dag_id }}/{{ run_id | replace(':', '-') | replace('+', '-') }}"

# Task code logs through the standard library; Airflow routes it into the task's log (print()
# output was seen only inside a collapsed group of the log).
log = logging.getLogger(__name__)

with DAG(
    dag_id="example_gemini_batch_mapped",
    description=(
        "Split one input into several Gemini batches with dynamic task mapping and merge their results."
    ),
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # Retries are safe here: a retried upload or create reattaches to what the earlier try made
    # (tagged with the task instance), so a transient 5xx or a lost answer never bills twice. A
    # batch that ended FAILED, CANCELLED or EXPIRED fails its wait once: no retry can change that.
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["example", "gemini"],
    params={
        "results_dir": results_dir_param(
            "Directory or object-storage URI under which each run writes its files."
        ),
        "parts": Param(3, type="integer", minimum=1, maximum=50, description="Number of batches."),
        "items": Param(30, type="integer", minimum=1, description="Number of requests in total."),
    },
    doc_md=__doc__,
) as dag:
    # [START howto_mapped]
    @task
    def split_input(run_dir: str, params: dict[str, Any] | None = None) -> list[str]:
        """Write the requests round-robin into ``parts`` JSONL files; return their paths."""
        assert params is not None
        parts, items = int(params["parts"]), int(params["items"])
        folder = Path(run_dir) / "parts"
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"requests-{i:03d}.jsonl" for i in range(parts)]
        handles = [p.open("w", encoding="utf-8") for p in paths]
        try:
            for n in range(items):
                line = {
                    "key": f"item-{n:05d}",
                    "request": {
                        "contents": [{"role": "user", "parts": [{"text": f"Give one fact about {n}."}]}]
                    },
                }
                handles[n % parts].write(json.dumps(line) + "\n")
        finally:
            for handle in handles:
                handle.close()
        return [str(p) for p in paths if p.stat().st_size > 0]

    @task_group
    def one_batch(path: str) -> Any:
        """Upload, create, wait for and land one part; returns the part's manifest."""
        upload = GeminiUploadFileOperator(task_id="upload", path=path)
        create = GeminiCreateBatchOperator(
            task_id="create_batch", model="gemini-2.5-flash", input_file=upload.output
        )
        wait = GeminiBatchSensor(
            task_id="wait", batch_name=create.output, poll_interval=5, deferrable=True, queue=WAIT_QUEUE
        )
        land = GeminiBatchResultsOperator(
            task_id="results",
            batch_name=create.output,
            destination=RUN_DIR + "/parts/results-{{ '%03d' % ti.map_index }}.jsonl",
        )
        wait >> land
        # A teardown task: runs whatever happened upstream, and a failed part still fails the run.
        cleanup = GeminiDeleteFileOperator(task_id="delete_upload", file_name=upload.output)
        land >> cleanup
        return land.output

    @task
    def merge(manifests: list[dict[str, Any]], run_dir: str) -> dict[str, Any]:
        """Concatenate the parts' result files into ``results.jsonl`` and sum their counts."""
        merged = Path(run_dir) / "results.jsonl"
        totals = {"total": 0, "succeeded": 0, "failed": 0}
        with merged.open("w", encoding="utf-8") as out:
            for manifest in manifests:
                for field in totals:
                    totals[field] += manifest["counts"][field]
                with open(manifest["destination"], encoding="utf-8") as part:
                    for line in part:
                        out.write(line)
        log.info("Merged %d batches into %s: %s", len(manifests), merged, totals)
        return {"destination": str(merged), "batches": len(manifests), "counts": totals}

    merge(one_batch.expand(path=split_input(RUN_DIR)), RUN_DIR)
    # [END howto_mapped]
