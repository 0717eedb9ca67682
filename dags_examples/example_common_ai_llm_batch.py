"""common.ai's ``@task.llm_batch`` on Gemini: structured answers for a handful of prompts.

What it shows:

* ``@task.llm_batch`` from ``apache-airflow-providers-common-ai`` running a Gemini batch through
  this provider's adapter: ``model_id="google:gemini-2.5-flash"`` is the only Gemini-specific
  line (install ``airflow-provider-gemini-batch[common-ai]``);
* structured output: a Pydantic ``output_type`` becomes ``responseJsonSchema`` on every request,
  and each landed row's ``output`` is the validated object;
* common.ai's manifest (the task's XCom) and its JSONL rows, read downstream, where a row that is
  not a success is reported with its status instead of crashing the task.

Configuration: the connection id ``gemini_batch_default`` (a ``gemini_batch`` connection with the
API key as password; a ``pydanticai`` connection works too) and the ``results_dir`` parameter
(default ``$AIRFLOW_HOME/gemini_batch_results``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task
from pydantic import BaseModel

from airflow_provider_gemini_batch.params import results_dir_param

TICKETS: list[str] = [
    "My invoice shows a charge twice for March.",
    "The app crashes when I open the settings page.",
    "Can I move my subscription to another account?",
    "Thanks, the replacement arrived and works great!",
]

log = logging.getLogger(__name__)


class Triage(BaseModel):
    """What the model returns for each ticket (sent as ``responseJsonSchema``)."""

    category: str
    urgent: bool
    summary: str


with DAG(
    dag_id="example_common_ai_llm_batch",
    description="Triage support tickets as a Gemini batch with common.ai's @task.llm_batch (structured).",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "gemini", "common.ai"],
    params={
        "results_dir": results_dir_param(
            "Directory or object-storage URI under which common.ai writes rows and state."
        )
    },
    doc_md=__doc__,
) as dag:
    # [START howto_common_ai_llm_batch]
    @task.llm_batch(
        llm_conn_id="gemini_batch_default",
        model_id="google:gemini-2.5-flash",
        system_prompt="Triage the support ticket.",
        output_type=Triage,
        # Stable across the attempts of a task instance: a retry re-attaches to its batch here.
        result_path="{{ params.results_dir }}/{{ dag.dag_id }}/llm_batch",
        poll_interval=30,
    )
    def triage() -> list[str]:
        """The prompts; common.ai submits them as one Gemini batch."""
        return TICKETS

    @task
    def report(manifest: dict[str, Any]) -> dict[str, Any]:
        """Log the counts and each ticket's triage, read from the rows common.ai landed."""
        log.info("Batch %s: %s (%s)", manifest["batch_id"], manifest["counts"], manifest["terminal_reason"])
        triaged: dict[int, Any] = {}
        with open(manifest["result_uri"], encoding="utf-8") as rows:
            for line in rows:
                row = json.loads(line)
                if row["status"] != "success":
                    log.warning("Ticket %d: %s (%s)", row["index"], row["status"], row["error"])
                    continue
                triaged[row["index"]] = row["output"]
                log.info("Ticket %d: %s", row["index"], row["output"])
        return {"counts": manifest["counts"], "triaged": [triaged[i] for i in sorted(triaged)]}

    report(triage())
    # [END howto_common_ai_llm_batch]
