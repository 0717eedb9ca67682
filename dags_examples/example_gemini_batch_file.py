"""Gemini Batch end to end with a JSONL input file.

What it shows:

* building a JSONL file of requests from ordinary data (one ``{"key", "request"}`` object a line);
* ``GeminiUploadFileOperator`` -> ``GeminiCreateBatchOperator`` -> ``GeminiBatchSensor`` in
  deferrable mode, so the long wait runs in the triggerer and holds no worker slot;
* ``GeminiBatchResultsOperator`` streaming the results to a destination and returning a small
  manifest through XCom;
* a downstream task that reads the manifest and a few result rows;
* cleanup of the uploaded file and of the result file: the cleanup operators are Airflow teardown
  tasks, so they run whatever happened upstream and a failed upload or results task still fails
  the run.

Configuration: only the connection id ``gemini_batch_default`` (API key in the connection, never
here) and the ``results_dir`` parameter, which defaults to ``$AIRFLOW_HOME/gemini_batch_results``
and can be overridden when triggering the run (a local path or an object-storage URI).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
    GeminiDeleteFileOperator,
    GeminiUploadFileOperator,
)
from airflow_provider_gemini_batch.params import results_dir_param
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor

MODEL = "gemini-2.5-flash"

# The data to enrich: in a real pipeline this comes from a table, an API or upstream tasks.
PRODUCTS: dict[str, str] = {
    "sku-001": "stainless steel water bottle, 750 ml, keeps drinks cold for 24 hours",
    "sku-002": "wireless ergonomic mouse with silent clicks and USB-C charging",
    "sku-003": "organic cotton tote bag with inner pocket",
    "sku-004": "noise-cancelling over-ear headphones, 30 h battery",
    "sku-005": "cast iron skillet, 26 cm, pre-seasoned",
}

# Run ids contain ':' and '+', which object stores and some file systems dislike.
RUN_DIR = "{{ params.results_dir }}/{{ dag.dag_id }}/{{ run_id | replace(':', '-') | replace('+', '-') }}"

# Task code logs through the standard library; Airflow routes it into the task's log (print()
# output was seen only inside a collapsed group of the log).
log = logging.getLogger(__name__)

with DAG(
    dag_id="example_gemini_batch_file",
    description=(
        "Upload a JSONL file of product blurb requests, run it as a Gemini "
        "batch (deferrable wait), land the results and clean up."
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
        )
    },
    doc_md=__doc__,
) as dag:
    # [START howto_build_requests]
    @task
    def build_requests(run_dir: str) -> str:
        """Write one JSONL line per product: ``{"key": ..., "request": GenerateContentRequest}``."""
        path = Path(run_dir) / "requests.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for sku, description in PRODUCTS.items():
                request = {
                    "contents": [
                        {
                            "role": "user",
                            "parts": [{"text": f"Write a one-sentence product blurb for: {description}"}],
                        }
                    ],
                    "generationConfig": {"temperature": 0.4, "maxOutputTokens": 128},
                }
                out.write(json.dumps({"key": sku, "request": request}) + "\n")
        return str(path)

    requests_path = build_requests(RUN_DIR)
    # [END howto_build_requests]

    # [START howto_upload_and_create]
    upload = GeminiUploadFileOperator(
        task_id="upload_requests",
        path=requests_path,
        display_name="product-blurbs",
        mime_type="application/jsonl",
    )

    create = GeminiCreateBatchOperator(
        task_id="create_batch",
        model=MODEL,
        input_file=upload.output,
        display_name="product-blurbs",
    )
    # [END howto_upload_and_create]

    # [START howto_sensor_deferrable]
    wait = GeminiBatchSensor(
        task_id="wait_for_batch",
        batch_name=create.output,
        poll_interval=5,
        deferrable=True,
    )
    # [END howto_sensor_deferrable]

    # [START howto_results]
    results = GeminiBatchResultsOperator(
        task_id="fetch_results",
        batch_name=create.output,
        destination=RUN_DIR + "/results.jsonl",
        max_failed_ratio=0.2,
    )
    wait >> results
    # [END howto_results]

    # [START howto_read_manifest]
    @task
    def report(manifest: dict[str, Any]) -> dict[str, Any]:
        """Read the manifest from XCom and the first result rows from the destination."""
        counts = manifest["counts"]
        log.info("Batch %s ended %s: %s", manifest["batch_name"], manifest["state"], counts)
        log.info("Results at %s, token usage %s", manifest["destination"], manifest.get("usage"))
        keys: list[str] = []
        with open(manifest["destination"], encoding="utf-8") as rows:
            for line in rows:
                row = json.loads(line)
                keys.append(row["key"])
                if row["status"] == "succeeded" and len(keys) <= 3:
                    text = row["response"]["candidates"][0]["content"]["parts"][0]["text"]
                    log.info("%s: %s", row["key"], text)
        return {"keys": sorted(keys), "succeeded": counts["succeeded"], "failed": counts["failed"]}

    report(results.output)
    # [END howto_read_manifest]

    # [START howto_cleanup]
    delete_input = GeminiDeleteFileOperator(
        task_id="delete_uploaded_file",
        file_name=upload.output,
    )
    # The sensor returns the batch summary; its result file is a Files API resource too.
    delete_output = GeminiDeleteFileOperator(
        task_id="delete_result_file",
        file_name="{{ (ti.xcom_pull(task_ids='wait_for_batch') or {}).get('responses_file') or '' }}",
    )
    results >> [delete_input, delete_output]
    # [END howto_cleanup]
