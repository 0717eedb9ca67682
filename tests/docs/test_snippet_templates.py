"""Templates in the docs and examples render for every run, also one without a logical date.

A run triggered through the REST API with ``"logical_date": null`` (how ``make demo`` triggers)
or by ``dag.test()`` has no ``ds``/``ts``/``logical_date``; a snippet templating a destination with
``{{ ds }}`` then failed the task with "'ds' is undefined".
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator
from tests.fixtures.airflow_env import serialize_dag, unique_dag_id
from tests.operators._failures import recording_failures
from tests.operators._support import MODEL, inline_requests

ROOT = Path(__file__).resolve().parents[2]
#: Context values that exist only for runs with a logical date.
LOGICAL_DATE_ONLY = {
    "ds",
    "ds_nodash",
    "ts",
    "ts_nodash",
    "ts_nodash_with_tz",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "prev_data_interval_start_success",
    "prev_data_interval_end_success",
}
_EXPRESSION = re.compile(r"{{(.*?)}}", re.S)
# A name used as a value: not an attribute (after ".") nor a filter (after "|").
_NAME = re.compile(r"(?<![.|\w])\s*([A-Za-z_]\w*)")


def _documents() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted((ROOT / "dags_examples").glob("*.py")),
    ]


def _bad_names(expression: str) -> set[str]:
    names = set()
    for match in _NAME.finditer(expression):
        before = expression[: match.start(1)].rstrip()
        if before.endswith(("|", ".")):
            continue
        names.add(match.group(1))
    return names & LOGICAL_DATE_ONLY


def test_no_snippet_templates_a_logical_date_value() -> None:
    found = {
        f"{path.relative_to(ROOT)}: {{{{{expr}}}}}"
        for path in _documents()
        if "_build" not in path.parts
        for expr in _EXPRESSION.findall(path.read_text(encoding="utf-8"))
        if _bad_names(expr)
    }
    assert found == set()


@pytest.mark.usefixtures("airflow_db")
def test_the_documented_template_renders_without_a_logical_date(gemini_conn: EmulatorServer) -> None:
    """``dag.test()`` runs without a logical date: ``{{ dag_run.run_after | ds }}`` renders to the
    run's date, ``{{ ds }}`` fails the task (why the docs no longer use it)."""
    from airflow.sdk import DAG

    with DAG(unique_dag_id("templates"), schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        GeminiCreateBatchOperator(
            task_id="documented",
            model=MODEL,
            requests=inline_requests(1),
            display_name="nightly eval {{ dag_run.run_after | ds }}",
        )
        GeminiCreateBatchOperator(
            task_id="old_snippet", model=MODEL, requests=inline_requests(1, "o"), display_name="eval {{ ds }}"
        )

    serialize_dag(dag)
    with recording_failures() as failures:
        run = dag.test(logical_date=None)  # as the REST API with "logical_date": null

    assert run.logical_date is None
    assert failures.last("documented") is None
    (create,) = [c for c in gemini_conn.control.journal() if c["path"].endswith(":batchGenerateContent")]
    shown = create["json"]["batch"]["displayName"]
    assert re.match(r"nightly eval \d{4}-\d{2}-\d{2} \[af:", shown), shown
    assert "'ds' is undefined" in failures.last("old_snippet")[1]  # type: ignore[index]
