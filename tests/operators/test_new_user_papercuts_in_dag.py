"""Papercuts a new user met, each as a ``dag.test()`` run against the emulator.

* the sensor takes Airflow's standard sensor arguments (``poke_interval=5`` raised ``TypeError:
  got multiple values for keyword argument 'poke_interval'`` at parse time);
* a results task (or a sensor) with ``trigger_rule="all_done"`` after a failed create says that
  there is no batch because the create did not run, instead of "Invalid batch name 'None'", and
  fails without retries, so the run stays failed.
"""

from __future__ import annotations

import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
    GeminiUploadFileOperator,
)
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.operators._failures import recording_failures
from tests.operators._support import MODEL, inline_requests

pytestmark = pytest.mark.usefixtures("airflow_db")


def _dag(prefix: str, retries: int = 0) -> Any:
    from airflow.sdk import DAG

    return DAG(
        unique_dag_id(prefix),
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1),
        default_args={"retries": retries, "retry_delay": timedelta(seconds=0)},
    )


# -- Airflow's sensor arguments ------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_sensor_takes_airflows_poke_interval_and_sensor_arguments(
    gemini_conn: EmulatorServer, deferrable: bool
) -> None:
    """``poke_interval``, ``mode``, ``soft_fail``, ``exponential_backoff``: the DAG parses, the
    interval is the poll interval of both modes, and the wait succeeds."""
    with _dag("sensor_args") as dag:
        create = GeminiCreateBatchOperator(task_id="create", model=MODEL, requests=inline_requests(2))
        wait = GeminiBatchSensor(
            task_id="wait",
            batch_name=create.output,
            poke_interval=0.2,
            mode="poke",
            soft_fail=False,
            exponential_backoff=False,
            timeout=600,
            deferrable=deferrable,
        )

    assert wait.poll_interval == 0.2
    assert wait.poke_interval == 0.2
    result = run_dag(dag)
    assert result.state == "success", result.task_states
    assert result.xcom("wait")["state"] == "SUCCEEDED"


def test_sensor_interval_names_agree_or_are_refused() -> None:
    """A timedelta is seconds; both names with different values is a clear ValueError."""
    sensor = GeminiBatchSensor(task_id="a", batch_name="batches/x", poke_interval=timedelta(minutes=2))
    assert sensor.poll_interval == 120.0
    assert sensor.poke_interval == 120.0
    same = GeminiBatchSensor(task_id="b", batch_name="batches/x", poll_interval=30, poke_interval=30)
    assert same.poll_interval == 30.0
    assert GeminiBatchSensor(task_id="c", batch_name="batches/x").poll_interval == 60.0
    with pytest.raises(ValueError, match="poke_interval is Airflow's name for it"):
        GeminiBatchSensor(task_id="d", batch_name="batches/x", poll_interval=30, poke_interval=5)


# -- no batch after an upstream failure ----------------------------------------------------------


def test_results_after_a_failed_upload_say_there_is_no_batch(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    """Upload fails on bad input; create and wait are upstream_failed; the results task
    (``all_done``) runs and fails once, naming the cause in words; the run is failed."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    with _dag("no_batch", retries=2) as dag:
        upload = GeminiUploadFileOperator(task_id="upload", path=str(bad))
        create = GeminiCreateBatchOperator(task_id="create", model=MODEL, input_file=upload.output)
        wait = GeminiBatchSensor(
            task_id="wait", batch_name=create.output, poll_interval=0.2, trigger_rule="all_done"
        )
        results = GeminiBatchResultsOperator(
            task_id="results",
            batch_name=create.output,
            destination=str(tmp_path / "out.jsonl"),
            trigger_rule="all_done",
        )
        wait >> results

    with recording_failures() as failures:
        result = run_dag(dag)

    assert result.state == "failed", result.task_states
    assert result.task_states["create"] == "upstream_failed"
    for task_id, upstream in (("wait", "create"), ("results", "create, wait")):
        assert result.task_states[task_id] == "failed"
        assert len(failures.tries[task_id]) == 1, failures.tries[task_id]  # no retries
        kind, message = failures.tries[task_id][0]
        assert kind == "GeminiNoBatchError"
        assert "because the task that creates the batch did not run or failed before creating one" in message
        assert f"(upstream tasks: {upstream})" in message
        assert "Invalid batch name" not in message
    assert [c for c in gemini_conn.control.journal() if "/batches" in c["path"]] == []


# -- landed rows: one JSON style --------------------------------------------------------------------


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "file"])
def test_landed_rows_are_compact_json_for_inline_and_file_batches(
    gemini_conn: EmulatorServer, tmp_path: Path, inline: bool
) -> None:
    """Inline results were written with ``", "`` / ``": "`` separators, file results compactly:
    every landed line is now its own compact encoding (``separators=(",", ":")``)."""
    import json

    from tests.operators._support import write_jsonl

    with _dag("compact_rows") as dag:
        if inline:
            create = GeminiCreateBatchOperator(task_id="create", model=MODEL, requests=inline_requests(3))
        else:
            upload = GeminiUploadFileOperator(task_id="upload", path=write_jsonl(tmp_path / "in.jsonl", 3))
            create = GeminiCreateBatchOperator(task_id="create", model=MODEL, input_file=upload.output)
        wait = GeminiBatchSensor(task_id="wait", batch_name=create.output, poll_interval=0.2)
        results = GeminiBatchResultsOperator(
            task_id="results", batch_name=create.output, destination=str(tmp_path / "out.jsonl")
        )
        wait >> results

    result = run_dag(dag)

    assert result.state == "success", result.task_states
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    for line in lines:
        assert line == json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":"))


# -- OpenAI-style custom_id: never lose the user's ids ---------------------------------------------

OPENAI_IDS = ["request-alpha", "request-beta", "order-17"]


def _openai_style_file(path: Path) -> Path:
    import json

    with path.open("w", encoding="utf-8") as out:
        for custom_id in OPENAI_IDS:
            line = {"custom_id": custom_id, "request": {"contents": [{"parts": [{"text": custom_id}]}]}}
            out.write(json.dumps(line) + "\n")
    return path


def test_openai_custom_id_file_is_refused_with_the_fix_then_lands_keyed_by_the_ids(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    """Lines with ``custom_id`` and no ``key`` used to upload with a warning and come back keyed
    ``request-0...``: the ids were lost. Now the upload fails before anything is sent, naming the
    line, the field and the fix; with the fix applied the results are keyed by the same ids."""
    source = _openai_style_file(tmp_path / "openai.jsonl")

    def dag_for(path: Path) -> Any:
        with _dag("custom_id") as dag:
            upload = GeminiUploadFileOperator(task_id="upload", path=str(path))
            create = GeminiCreateBatchOperator(task_id="create", model=MODEL, input_file=upload.output)
            wait = GeminiBatchSensor(task_id="wait", batch_name=create.output, poll_interval=0.2)
            results = GeminiBatchResultsOperator(
                task_id="results", batch_name=create.output, destination=str(tmp_path / "out.jsonl")
            )
            wait >> results
        return dag

    with recording_failures() as failures:
        refused = run_dag(dag_for(source))

    assert refused.state == "failed"
    kind, message = failures.tries["upload"][0]
    assert kind == "GeminiInputFileError"
    assert f"{source}, line 1, field custom_id:" in message
    assert 'rename "custom_id" to "key"' in message
    assert gemini_conn.control.journal() == []  # nothing was sent

    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text(source.read_text(encoding="utf-8").replace('"custom_id":', '"key":'), encoding="utf-8")
    landed = run_dag(dag_for(fixed))

    assert landed.state == "success", landed.task_states
    import json

    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(row["key"] for row in rows) == sorted(OPENAI_IDS)
    assert not any(row.get("key_inferred") for row in rows)


def test_openai_custom_id_inline_is_refused_with_the_fix(gemini_conn: EmulatorServer) -> None:
    """The inline form follows the same rule (an item's ``custom_id`` used to be refused as a field
    that "would be dropped", without saying what to do)."""
    requests = [{"custom_id": i, "request": {"contents": [{"parts": [{"text": i}]}]}} for i in OPENAI_IDS]
    with _dag("custom_id_inline") as dag:
        GeminiCreateBatchOperator(task_id="create", model=MODEL, requests=requests)

    with recording_failures() as failures:
        result = run_dag(dag)

    assert result.state == "failed"
    kind, message = failures.tries["create"][0]
    assert kind == "GeminiInvalidInputError"
    assert message.startswith('requests[0], field custom_id: the item has "custom_id"')
    assert 'rename "custom_id" to "key"' in message
    assert gemini_conn.control.journal() == []
