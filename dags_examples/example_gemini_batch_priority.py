"""Batch priority and webhooks: queue a backlog batch and an urgent one, then reorder them.

What it shows:

* ``GeminiCreateBatchOperator(priority=...)``: an urgent batch at a high priority, then a backlog
  batch at a lower one (``batch.priority``, an int64 sent as a JSON string; higher runs first,
  negatives allowed, default 0; REST reference ``GenerateContentBatch.priority``);
* ``webhook_config`` on the urgent batch: ``uris`` the service notifies and ``user_metadata``
  passed back with the notification (sent as ``batch.webhookConfig`` with ``userMetadata``);
* ``GeminiUpdateBatchPriorityOperator`` raising the backlog batch above the urgent one while both
  still wait, so the batch that arrived last runs first
  (``PATCH batches/{id}:updateGenerateContentBatch?updateMask=priority``);
* a deferrable ``GeminiBatchSensor`` per batch, ``GeminiBatchResultsOperator`` landing each, and a
  report task that logs the order in which the batches finished.

Priority only orders batches that wait for capacity: when the project has room, both run at once
and may finish in either order. On the emulator the ``running_slots`` knob limits how many batches
run at once (``running_slots=1``: one), and pending batches are admitted highest priority first.

Configuration: only the connection id ``gemini_batch_default`` and the ``results_dir`` parameter
(default ``$AIRFLOW_HOME/gemini_batch_results``). Replace ``WEBHOOK_CONFIG`` with an endpoint of
yours: the service calls it when the batch ends.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
    GeminiUpdateBatchPriorityOperator,
)
from airflow_provider_gemini_batch.params import results_dir_param
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor

# Run ids contain ':' and '+', which object stores and some file systems dislike.
RUN_DIR = "{{ params.results_dir }}/{{ dag.dag_id }}/{{ run_id | replace(':', '-') | replace('+', '-') }}"
MODEL = "gemini-2.5-flash"
CONN_ID = "gemini_batch_default"

#: Priorities: higher runs first. The backlog starts below the urgent batch and is raised above it.
BACKLOG_PRIORITY = 1
URGENT_PRIORITY = 50
RAISED_PRIORITY = 100

#: Where the service reports the end of the urgent batch; ``user_metadata`` comes back with the call.
WEBHOOK_CONFIG: dict[str, Any] = {
    "uris": ["https://example.com/hooks/gemini-batch"],
    "user_metadata": {"team": "support", "purpose": "urgent-ticket-summaries"},
}

BACKLOG: dict[str, str] = {
    "doc-001": "Summarise in one sentence: our office moves to the third floor next month.",
    "doc-002": "Summarise in one sentence: the cafeteria now opens at 8 am on weekdays.",
    "doc-003": "Summarise in one sentence: parking permits must be renewed by the end of March.",
}
URGENT: dict[str, str] = {
    "ticket-101": "Summarise in one sentence: customer cannot log in after the password reset.",
    "ticket-102": "Summarise in one sentence: invoice shows the wrong currency for an EU order.",
}


def inline_requests(prompts: dict[str, str]) -> list[dict[str, Any]]:
    """Inline requests ``{"request": GenerateContentRequest, "metadata": {"key": ...}}``."""
    return [
        {"request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}, "metadata": {"key": key}}
        for key, text in prompts.items()
    ]


# Task code logs through the standard library; Airflow routes it into the task's log (print()
# output was seen only inside a collapsed group of the log).
log = logging.getLogger(__name__)

with DAG(
    dag_id="example_gemini_batch_priority",
    description=(
        "Queue a low-priority and a high-priority Gemini batch (one with a webhook), "
        "raise the low one's priority, and log the order they finished in."
    ),
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # Retries are safe: a retried create reattaches to the batch its earlier try made, and a
    # priority update sets a value (sending it twice changes nothing).
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["example", "gemini"],
    params={
        "results_dir": results_dir_param(
            "Directory or object-storage URI under which each run writes its files."
        )
    },
    doc_md=__doc__,
) as dag:
    # [START howto_priority_create]
    urgent = GeminiCreateBatchOperator(
        task_id="create_urgent_batch",
        model=MODEL,
        requests=inline_requests(URGENT),
        display_name="urgent-ticket-summaries",
        priority=URGENT_PRIORITY,
        webhook_config=WEBHOOK_CONFIG,
        gemini_conn_id=CONN_ID,
    )
    backlog = GeminiCreateBatchOperator(
        task_id="create_backlog_batch",
        model=MODEL,
        requests=inline_requests(BACKLOG),
        display_name="backlog-summaries",
        priority=BACKLOG_PRIORITY,
        gemini_conn_id=CONN_ID,
    )
    # One after the other, so the order of arrival is known: the backlog arrives last.
    urgent >> backlog
    # [END howto_priority_create]

    # [START howto_priority_update]
    # The backlog's deadline is near: put it ahead of the urgent batch while both are pending.
    raise_backlog = GeminiUpdateBatchPriorityOperator(
        task_id="raise_backlog_priority",
        batch_name=backlog.output,
        priority=RAISED_PRIORITY,
        gemini_conn_id=CONN_ID,
    )
    # [END howto_priority_update]

    landed: dict[str, Any] = {}
    for label, create in (("backlog", backlog), ("urgent", urgent)):
        wait = GeminiBatchSensor(
            task_id=f"wait_for_{label}",
            batch_name=create.output,
            poll_interval=5,
            deferrable=True,
            gemini_conn_id=CONN_ID,
        )
        results = GeminiBatchResultsOperator(
            task_id=f"fetch_{label}_results",
            batch_name=create.output,
            destination=RUN_DIR + f"/{label}-results.jsonl",
            gemini_conn_id=CONN_ID,
        )
        raise_backlog >> wait >> results
        landed[label] = results.output

    # [START howto_priority_report]
    @task
    def report(backlog: dict[str, Any], urgent: dict[str, Any]) -> dict[str, Any]:
        """Log the batches in the order they finished (``endTime``), with their final priority."""
        hook = GeminiBatchHook(gemini_conn_id=CONN_ID)
        ended: list[tuple[str, str, str, Any]] = []
        for label, manifest in (("backlog", backlog), ("urgent", urgent)):
            batch = hook.get_batch(manifest["batch_name"])
            end = batch.end_time.isoformat() if batch.end_time else ""
            ended.append((end, label, batch.name, batch.raw.get("metadata", {}).get("priority", "0")))
            log.info(
                "%s batch %s landed %s at %s", label, batch.name, manifest["counts"], manifest["destination"]
            )
        ended.sort()
        for place, (end, label, name, priority) in enumerate(ended, start=1):
            log.info("Finished #%d: %s batch %s (priority %s) at %s", place, label, name, priority, end)
        return {
            "finished_order": [label for _, label, _, _ in ended],
            "end_times": {e[1]: e[0] for e in ended},
        }

    report(landed["backlog"], landed["urgent"])
    # [END howto_priority_report]
