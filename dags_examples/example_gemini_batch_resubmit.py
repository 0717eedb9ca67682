"""Resubmit the rows that failed in a retryable way, for a bounded number of rounds.

What it shows:

* a first batch landed with ``GeminiBatchResultsOperator`` (``max_failed_ratio=1.0``: failed rows
  are expected here and handled below);
* per round, ``GeminiBuildResubmissionOperator`` writing a follow-up input with only the rows whose
  result is ``retryable`` (429/500/503/504 and their gRPC equivalents; keys preserved), a create
  and results task on it, and ``GeminiMergeResubmissionOperator`` merging so the final file has
  one row per key, the latest attempt winning;
* the bound: the rounds are laid out with a ``for`` loop (``MAX_ROUNDS``); a round with nothing left
  to resubmit is skipped and its merge passes the file through, so the last merge always holds
  the final file and a manifest saying how many rows were resubmitted and how many still failed.

On the emulator, transient row errors come from its ``error_fraction`` and ``error_code`` knobs
(e.g. ``error_fraction=0.2, error_code=14``: every fifth request answers UNAVAILABLE).

Configuration: the connection id ``gemini_batch_default`` and the parameters ``results_dir``
(default ``$AIRFLOW_HOME/gemini_batch_results``) and ``requests``.
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
    GeminiBuildResubmissionOperator,
    GeminiCreateBatchOperator,
    GeminiMergeResubmissionOperator,
)
from airflow_provider_gemini_batch.params import results_dir_param

RUN_DIR = "{{ params.results_dir }}/{{ dag.dag_id }}/{{ run_id | replace(':', '-') | replace('+', '-') }}"
MODEL = "gemini-2.5-flash"
MAX_ROUNDS = 2

log = logging.getLogger(__name__)

with DAG(
    dag_id="example_gemini_batch_resubmit",
    description="Resubmit the retryable failed rows of a Gemini batch for two rounds and merge the attempts.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["example", "gemini"],
    params={
        "results_dir": results_dir_param("Directory or object-storage URI for the run's files."),
        "requests": Param(100, type="integer", minimum=1, description="Requests in the generated input."),
    },
    doc_md=__doc__,
) as dag:

    @task
    def write_input(run_dir: str, params: dict[str, Any] | None = None) -> str:
        """Stand-in for your own input: ``requests`` keyed JSONL lines."""
        assert params is not None
        path = Path(run_dir) / "input.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for n in range(int(params["requests"])):
                request = {"contents": [{"role": "user", "parts": [{"text": f"Name a colour, number {n}."}]}]}
                out.write(json.dumps({"key": f"c-{n:05d}", "request": request}) + "\n")
        return str(path)

    # [START howto_resubmit]
    source = write_input(RUN_DIR)
    first = GeminiCreateBatchOperator(
        task_id="create_batch", model=MODEL, input_path=source, wait_for_completion=True, poll_interval=1
    )
    previous = GeminiBatchResultsOperator(
        task_id="results",
        batch_name=first.output,
        destination=RUN_DIR + "/results-round-0.jsonl",
        max_failed_ratio=1.0,
    )
    for n in range(1, MAX_ROUNDS + 1):
        build = GeminiBuildResubmissionOperator(
            task_id=f"build_round_{n}",
            results=previous.output,
            input_path=source,
            destination=RUN_DIR + f"/resubmit-round-{n}.jsonl",
            round_number=n,
            max_rounds=MAX_ROUNDS,
        )
        again = GeminiCreateBatchOperator(
            task_id=f"create_round_{n}",
            model=MODEL,
            input_path="{{ ti.xcom_pull(task_ids='" + build.task_id + "')['input_path'] }}",
            wait_for_completion=True,
            poll_interval=1,
        )
        build >> again
        landed = GeminiBatchResultsOperator(
            task_id=f"results_round_{n}",
            batch_name=again.output,
            destination=RUN_DIR + f"/followup-round-{n}.jsonl",
            max_failed_ratio=1.0,
        )
        merged = GeminiMergeResubmissionOperator(
            task_id=f"merge_round_{n}",
            previous=previous.output,
            followup=landed.output,
            resubmission=build.output,
            destination=RUN_DIR + f"/results-round-{n}.jsonl",
        )
        previous = merged
    # [END howto_resubmit]

    @task
    def report(manifest: dict[str, Any]) -> dict[str, Any]:
        """Log the final manifest: rounds, rows resubmitted, rows still failed."""
        log.info("Final manifest: %s", json.dumps(manifest, indent=2, sort_keys=True))
        return manifest

    report(previous.output)
