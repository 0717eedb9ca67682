"""One large input split into shards, one Gemini batch per shard, merged back into one result.

What it shows:

* ``GeminiSplitInputOperator`` streaming a JSONL input (a few thousand requests here) into shard
  files of at most ``shard_requests`` requests (limits by bytes and estimated tokens exist too),
  keys kept unique across shards;
* dynamic task mapping: ``GeminiCreateBatchOperator.partial(...).expand_kwargs(split.output)``
  creates and waits for one batch per shard (deferrable: the waits sit in the triggerer), and a
  mapped ``GeminiBatchResultsOperator`` lands each shard with a cost estimate from a price table;
* ``GeminiMergeShardsOperator`` writing one merged result file and one manifest with per-shard
  figures.

A retried shard reattaches to its own batch (the map index is part of each create's identity).
The price table below is a placeholder: put the batch prices you pay (per million tokens), the
provider ships none.

Configuration: the connection id ``gemini_batch_default`` and the parameters ``results_dir``
(default ``$AIRFLOW_HOME/gemini_batch_results``), ``requests`` and ``shard_requests``.
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
    GeminiMergeShardsOperator,
    GeminiSplitInputOperator,
)
from airflow_provider_gemini_batch.params import results_dir_param

RUN_DIR = "{{ params.results_dir }}/{{ dag.dag_id }}/{{ run_id | replace(':', '-') | replace('+', '-') }}"
MODEL = "gemini-2.5-flash"
#: Placeholder prices per million tokens: replace them with the batch prices of your own plan.
PRICE_TABLE = {MODEL: {"input": 0.15, "output": 1.25, "thinking": 1.25}}

log = logging.getLogger(__name__)

with DAG(
    dag_id="example_gemini_batch_sharded",
    description="Split a large JSONL input into shards, run one Gemini batch per shard, merge the results.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["example", "gemini"],
    params={
        "results_dir": results_dir_param("Directory or object-storage URI for the run's files."),
        "requests": Param(3000, type="integer", minimum=1, description="Requests in the generated input."),
        "shard_requests": Param(1000, type="integer", minimum=1, description="Most requests per shard."),
    },
    doc_md=__doc__,
) as dag:
    # [START howto_sharded]
    @task
    def write_input(run_dir: str, params: dict[str, Any] | None = None) -> str:
        """Stand-in for your own large input: ``requests`` JSONL lines, written one at a time."""
        assert params is not None
        path = Path(run_dir) / "input.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for n in range(int(params["requests"])):
                request = {
                    "contents": [{"role": "user", "parts": [{"text": f"One fact about the number {n}."}]}]
                }
                out.write(json.dumps({"key": f"n-{n:06d}", "request": request}) + "\n")
        log.info("Wrote %s requests to %s", params["requests"], path)
        return str(path)

    split = GeminiSplitInputOperator(
        task_id="split",
        source=write_input(RUN_DIR),
        destination=RUN_DIR + "/shards",
        max_requests="{{ params.shard_requests }}",
        display_name="sharded example",
    )
    create = GeminiCreateBatchOperator.partial(
        task_id="create_batch", model=MODEL, wait_for_completion=True, deferrable=True, poll_interval=2
    ).expand_kwargs(split.output)
    land = GeminiBatchResultsOperator.partial(
        task_id="results",
        destination=RUN_DIR + "/results/shard-{{ '%05d' % ti.map_index }}.jsonl",
        price_table=PRICE_TABLE,
    ).expand(batch_name=create.output)
    merge = GeminiMergeShardsOperator(
        task_id="merge", manifests=land.output, destination=RUN_DIR + "/results.jsonl"
    )
    # [END howto_sharded]

    @task
    def report(manifest: dict[str, Any]) -> dict[str, Any]:
        """Log the merged manifest (the per-shard figures included)."""
        log.info("Merged manifest: %s", json.dumps(manifest, indent=2, sort_keys=True))
        return manifest

    report(merge.output)
