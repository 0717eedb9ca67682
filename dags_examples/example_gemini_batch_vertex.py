"""One batch DAG for either backend: Vertex AI batch prediction or the Gemini Developer API.

What it shows:

* the backend is chosen by the connection only: with ``"backend": "vertex"`` (and ``project``,
  ``location``, a service-account key or ADC) the batch runs as a Vertex AI batch prediction job;
  with an API key it runs on the Gemini Developer API. This file does not change;
* ``GeminiCreateBatchOperator`` with ``input_path``: the JSONL is validated on the worker first,
  then uploaded to Cloud Storage under ``output_uri`` (Vertex) or to the Files API (Developer
  API, where ``output_uri`` is ignored), and the wait is deferred to the triggerer;
* ``GeminiBatchResultsOperator`` reading every predictions file of the job and landing one row
  per input ``key`` with its outcome, plus a small manifest in XCom.

Configuration: the connection id ``gemini_batch_default`` (credentials in the connection, never
here; see the Vertex AI page of the docs), the ``results_dir`` parameter (where results land) and
the ``output_uri`` parameter (a ``gs://bucket/prefix/`` the Vertex job writes its predictions to).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
)
from airflow_provider_gemini_batch.params import results_dir_param

MODEL = "gemini-2.5-flash"
#: The connection decides the backend; point it at Vertex AI or at the Gemini API.
CONN_ID = "gemini_batch_default"

QUESTIONS: dict[str, str] = {
    "q-001": "Name one use of a cast iron skillet.",
    "q-002": "Why do noise-cancelling headphones need a battery?",
    "q-003": "What is an organic cotton tote bag usually used for?",
}

# Run ids contain ':' and '+', which object stores and some file systems dislike.
RUN_PART = "{{ dag.dag_id }}/{{ run_id | replace(':', '-') | replace('+', '-') }}"
RUN_DIR = "{{ params.results_dir }}/" + RUN_PART

log = logging.getLogger(__name__)

with DAG(
    dag_id="example_gemini_batch_vertex",
    description=(
        "Validate and stage a JSONL of questions, run it as a Vertex AI batch prediction job or a "
        "Gemini API batch (the connection decides), and land the keyed rows."
    ),
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # Retries are safe: a retried create finds the job the earlier try made (its display name
    # carries the task instance's marker) instead of paying for a second one.
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["example", "gemini", "vertex"],
    params={
        "results_dir": results_dir_param(
            "Directory or object-storage URI under which each run writes its files."
        ),
        "output_uri": Param(
            "gs://my-bucket/gemini-batch/",
            type="string",
            pattern=r"^gs://[a-z0-9][a-z0-9._-]+[a-z0-9](/.*)?$",
            description="Cloud Storage prefix for the staged input and the predictions (Vertex AI only).",
        ),
    },
    doc_md=__doc__,
) as dag:

    @task
    def build_requests(run_dir: str) -> str:
        """Write one JSONL line per question: ``{"key": ..., "request": GenerateContentRequest}``."""
        path = Path(run_dir) / "requests.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for key, question in QUESTIONS.items():
                request = {
                    "contents": [{"role": "user", "parts": [{"text": question}]}],
                    "generationConfig": {"maxOutputTokens": 128},
                }
                out.write(json.dumps({"key": key, "request": request}) + "\n")
        return str(path)

    # [START howto_vertex_create]
    create = GeminiCreateBatchOperator(
        task_id="create_batch",
        model=MODEL,
        input_path=build_requests(RUN_DIR),
        output_uri="{{ params.output_uri.rstrip('/') }}/" + RUN_PART + "/",
        display_name="example-questions",
        gemini_conn_id=CONN_ID,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=5,
    )
    # [END howto_vertex_create]

    results = GeminiBatchResultsOperator(
        task_id="fetch_results",
        batch_name=create.output,
        destination=RUN_DIR + "/results.jsonl",
        gemini_conn_id=CONN_ID,
        max_failed_ratio=0.2,
    )

    @task
    def report(manifest: dict[str, Any]) -> dict[str, Any]:
        """Log the manifest and return the landed keys."""
        log.info("Batch %s ended %s: %s", manifest["batch_name"], manifest["state"], manifest["counts"])
        with open(manifest["destination"], encoding="utf-8") as rows:
            keys = sorted(json.loads(line)["key"] for line in rows if line.strip())
        return {"batch_name": manifest["batch_name"], "keys": keys}

    report(results.output)
