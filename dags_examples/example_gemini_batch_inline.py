"""A small inline Gemini batch with a system instruction and structured (JSON) output.

What it shows:

* passing requests inline to ``GeminiCreateBatchOperator`` (no upload; for batches under 20 MB);
* per-request ``systemInstruction`` and ``generationConfig`` asking for JSON that follows a schema
  (``responseMimeType: application/json`` + ``responseSchema``);
* the deferrable sensor, then results landed as JSONL and parsed downstream, where a row whose text
  is not valid JSON is reported instead of crashing the task.

Configuration: the connection id ``gemini_batch_default`` and the ``results_dir`` parameter
(default ``$AIRFLOW_HOME/gemini_batch_results``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
    GeminiDeleteBatchOperator,
)
from airflow_provider_gemini_batch.params import results_dir_param
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor

REVIEWS: dict[str, str] = {
    "review-1": "Arrived a day early and works perfectly. Would buy again.",
    "review-2": "The lid leaks and support never answered my emails.",
    "review-3": "Fine for the price, nothing special.",
}

# [START howto_inline_requests]
SYSTEM_INSTRUCTION = {
    "parts": [{"text": "You classify customer reviews. Answer only with JSON matching the schema."}]
}
RESPONSE_SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "sentiment": {"type": "STRING", "enum": ["positive", "neutral", "negative"]},
        "summary": {"type": "STRING"},
    },
    "required": ["sentiment", "summary"],
}

INLINE_REQUESTS: list[dict[str, Any]] = [
    {
        "key": key,
        "request": {
            "systemInstruction": SYSTEM_INSTRUCTION,
            "contents": [{"role": "user", "parts": [{"text": text}]}],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": RESPONSE_SCHEMA,
                "temperature": 0.0,
            },
        },
    }
    for key, text in REVIEWS.items()
]
# [END howto_inline_requests]

# Task code logs through the standard library; Airflow routes it into the task's log (print()
# output was seen only inside a collapsed group of the log).
log = logging.getLogger(__name__)

with DAG(
    dag_id="example_gemini_batch_inline",
    description=(
        "Send a few inline requests with structured (JSON) output as a Gemini batch and parse the answers."
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
    # [START howto_inline_batch]
    create = GeminiCreateBatchOperator(
        task_id="create_inline_batch",
        model="gemini-2.5-flash",
        requests=INLINE_REQUESTS,
        display_name="review-sentiment",
    )
    wait = GeminiBatchSensor(
        task_id="wait_for_batch", batch_name=create.output, poll_interval=5, deferrable=True
    )
    results = GeminiBatchResultsOperator(
        task_id="fetch_results",
        batch_name=create.output,
        destination=(
            "{{ params.results_dir }}/{{ dag.dag_id }}/"
            "{{ run_id | replace(':', '-') | replace('+', '-') }}/results.jsonl"
        ),
    )
    wait >> results

    @task
    def parse_structured(manifest: dict[str, Any]) -> dict[str, Any]:
        """Parse each row's JSON answer; rows whose text is not JSON are listed, not fatal."""
        parsed: dict[str, Any] = {}
        not_json: list[str] = []
        with open(manifest["destination"], encoding="utf-8") as rows:
            for line in rows:
                row = json.loads(line)
                if row["status"] != "succeeded":
                    continue
                text = row["response"]["candidates"][0]["content"]["parts"][0]["text"]
                try:
                    parsed[row["key"]] = json.loads(text)
                except json.JSONDecodeError:
                    not_json.append(row["key"])
        log.info("Parsed %d answers, %d not JSON: %s", len(parsed), len(not_json), not_json)
        return {"parsed": parsed, "not_json": not_json}

    parse_structured(results.output)
    # [END howto_inline_batch]

    # Inline batches leave no files behind; delete the batch record once its results are landed.
    # A teardown task: it runs whatever happened upstream, and a failed results task (for example
    # over max_failed_ratio) still fails the run.
    GeminiDeleteBatchOperator(task_id="delete_batch", batch_name=create.output).set_upstream(results)
