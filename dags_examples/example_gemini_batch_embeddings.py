"""An embeddings batch: texts in, one vector per text landed as JSONL.

What it shows:

* writing a JSONL of ``EmbedContentRequest`` lines (``content``, ``taskType``,
  ``outputDimensionality``);
* ``GeminiCreateBatchOperator(embeddings=True, input_path=...)``, which uploads the local file and
  creates an ``asyncBatchEmbedContent`` batch in one task;
* waiting with the deferrable sensor, landing the vectors, and a downstream task that checks their
  dimension.

Configuration: the connection id ``gemini_batch_default`` and the ``results_dir`` parameter
(default ``$AIRFLOW_HOME/gemini_batch_results``).
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
)
from airflow_provider_gemini_batch.params import results_dir_param
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor

DIMENSIONS = 16

DOCUMENTS: dict[str, str] = {
    "doc-1": "Airflow schedules and monitors workflows written in Python.",
    "doc-2": "The Gemini Batch API processes large volumes of requests at half price.",
    "doc-3": "Deferrable operators release their worker slot while they wait.",
    "doc-4": "Embeddings map text to vectors so similar texts end up close together.",
}

RUN_DIR = "{{ params.results_dir }}/{{ dag.dag_id }}/{{ run_id | replace(':', '-') | replace('+', '-') }}"

# Task code logs through the standard library; Airflow routes it into the task's log (print()
# output was seen only inside a collapsed group of the log).
log = logging.getLogger(__name__)

with DAG(
    dag_id="example_gemini_batch_embeddings",
    description="Embed texts with a Gemini embeddings batch and check the vectors' dimension.",
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
    # [START howto_embeddings]
    @task
    def build_embedding_requests(run_dir: str) -> str:
        """One ``{"key", "request": EmbedContentRequest}`` line per document."""
        path = Path(run_dir) / "embed_requests.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for key, text in DOCUMENTS.items():
                request = {
                    "content": {"parts": [{"text": text}]},
                    "taskType": "RETRIEVAL_DOCUMENT",
                    "outputDimensionality": DIMENSIONS,
                }
                out.write(json.dumps({"key": key, "request": request}) + "\n")
        return str(path)

    create = GeminiCreateBatchOperator(
        task_id="create_embeddings_batch",
        model="gemini-embedding-001",
        embeddings=True,
        input_path=build_embedding_requests(RUN_DIR),
        display_name="doc-embeddings",
    )
    wait = GeminiBatchSensor(
        task_id="wait_for_batch", batch_name=create.output, poll_interval=5, deferrable=True
    )
    vectors = GeminiBatchResultsOperator(
        task_id="fetch_vectors",
        batch_name=create.output,
        destination=RUN_DIR + "/embeddings.jsonl",
    )
    wait >> vectors

    @task
    def check_vectors(manifest: dict[str, Any]) -> dict[str, int]:
        """Read the landed vectors and report their dimension per key."""
        dims: dict[str, int] = {}
        with open(manifest["destination"], encoding="utf-8") as rows:
            for line in rows:
                row = json.loads(line)
                if row["status"] == "succeeded":
                    dims[row["key"]] = len(row["response"]["embedding"]["values"])
        log.info("%d vectors: %s", len(dims), dims)
        return dims

    check_vectors(vectors.output)
    # [END howto_embeddings]
