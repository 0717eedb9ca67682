"""Cleanup never turns a failed run green: the cleanup operators are Airflow teardown tasks.

The documented pattern put a ``GeminiDeleteFileOperator(..., trigger_rule="all_done")`` after the
results task; as the run's only last task its success decided the run's state, so a run whose
upload failed on bad input, or whose results failed ``max_failed_ratio``, ended ``success``.
Each run below goes through ``dag.test()`` against the emulator and checks the run's state, that
the cleanup ran, and what it deleted.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCancelBatchOperator,
    GeminiCreateBatchOperator,
    GeminiDeleteBatchOperator,
    GeminiDeleteFileOperator,
    GeminiUploadFileOperator,
)
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.operators._failures import plain_dag as _dag
from tests.operators._failures import recording_failures
from tests.operators._support import MODEL, inline_requests, write_jsonl

pytestmark = pytest.mark.usefixtures("airflow_db")


def _deletes(emulator: EmulatorServer) -> list[str]:
    return [c["path"] for c in emulator.control.journal() if c["method"] == "DELETE"]


@pytest.mark.parametrize("explicit_all_done", [False, True], ids=["default", "old_docs_all_done"])
def test_failed_upload_keeps_the_run_failed_and_cleanup_still_runs(
    gemini_conn: EmulatorServer, tmp_path: Path, explicit_all_done: bool
) -> None:
    """Bad input fails the upload: the run ends ``failed``, the cleanup ran (a no-op, nothing was
    uploaded). Also with the ``trigger_rule="all_done"`` the docs used to show."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "a", "request": {"contents": []}}\nnot json\n', encoding="utf-8")
    extra: dict[str, Any] = {"trigger_rule": "all_done"} if explicit_all_done else {}
    with _dag("teardown_upload") as dag:
        upload = GeminiUploadFileOperator(task_id="upload", path=str(bad))
        create = GeminiCreateBatchOperator(task_id="create", model=MODEL, input_file=upload.output)
        wait = GeminiBatchSensor(task_id="wait", batch_name=create.output, poll_interval=0.2)
        results = GeminiBatchResultsOperator(
            task_id="results", batch_name=create.output, destination=str(tmp_path / "out.jsonl")
        )
        cleanup = GeminiDeleteFileOperator(task_id="delete_input", file_name=upload.output, **extra)
        wait >> results >> cleanup

    with recording_failures() as failures:
        result = run_dag(dag)

    assert result.state == "failed", result.task_states
    assert result.task_states["upload"] == "failed"
    assert failures.last("upload") is not None
    assert failures.last("upload")[0] == "GeminiInputFileError"  # type: ignore[index]
    assert result.task_states["delete_input"] == "success"
    assert _deletes(gemini_conn) == []


def test_results_over_max_failed_ratio_keep_the_run_failed_and_cleanup_deletes(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    """Results above ``max_failed_ratio`` fail the results task: the run ends ``failed`` and both
    cleanups (input file, batch) still ran and deleted what the run made."""
    gemini_conn.control.configure(error_fraction=0.5)
    with _dag("teardown_threshold") as dag:
        upload = GeminiUploadFileOperator(task_id="upload", path=write_jsonl(tmp_path / "in.jsonl", 10))
        create = GeminiCreateBatchOperator(task_id="create", model=MODEL, input_file=upload.output)
        wait = GeminiBatchSensor(task_id="wait", batch_name=create.output, poll_interval=0.2)
        results = GeminiBatchResultsOperator(
            task_id="results",
            batch_name=create.output,
            destination=str(tmp_path / "out.jsonl"),
            max_failed_ratio=0.1,
        )
        delete_input = GeminiDeleteFileOperator(task_id="delete_input", file_name=upload.output)
        delete_batch = GeminiDeleteBatchOperator(task_id="delete_batch", batch_name=create.output)
        wait >> results >> [delete_input, delete_batch]

    with recording_failures() as failures:
        result = run_dag(dag)

    assert result.state == "failed", result.task_states
    assert result.task_states["results"] == "failed"
    assert failures.last("results")[0] == "GeminiResultsThresholdError"  # type: ignore[index]
    assert result.task_states["delete_input"] == "success"
    assert result.task_states["delete_batch"] == "success"
    deleted = _deletes(gemini_conn)
    assert any(path.endswith(result.xcom("upload")) for path in deleted), deleted
    assert any(path.endswith(result.xcom("create")) for path in deleted), deleted


def test_a_successful_run_with_cleanup_succeeds(gemini_conn: EmulatorServer, tmp_path: Path) -> None:
    """The other side: nothing failed, the run is ``success`` and the cancel (a no-op for an
    ended batch) ran as a teardown too."""
    with _dag("teardown_ok") as dag:
        create = GeminiCreateBatchOperator(task_id="create", model=MODEL, requests=inline_requests(3))
        wait = GeminiBatchSensor(task_id="wait", batch_name=create.output, poll_interval=0.2)
        results = GeminiBatchResultsOperator(
            task_id="results", batch_name=create.output, destination=str(tmp_path / "out.jsonl")
        )
        cancel = GeminiCancelBatchOperator(task_id="cancel", batch_name=create.output, settle_timeout=0)
        wait >> results >> cancel

    result = run_dag(dag)

    assert result.state == "success", result.task_states
    assert result.task_states["cancel"] == "success"


def test_cleanup_operators_are_teardowns_unless_asked_not_to_be() -> None:
    """Construction: teardown by default (trigger rule all_done_setup_success, a given rule kept),
    a plain task with ``teardown=False``; ``as_teardown(setups=...)`` still composes."""
    from airflow.sdk import DAG

    with DAG(unique_dag_id("teardown_flags"), schedule=None, start_date=datetime.datetime(2026, 1, 1)):
        upload = GeminiUploadFileOperator(task_id="upload", path="/tmp/x.jsonl")
        by_default = GeminiDeleteFileOperator(task_id="a", file_name="files/x")
        kept_rule = GeminiDeleteBatchOperator(task_id="b", batch_name="batches/x", trigger_rule="all_done")
        plain = GeminiCancelBatchOperator(task_id="c", batch_name="batches/x", teardown=False)
        with_setup = GeminiDeleteFileOperator(task_id="d", file_name=upload.output).as_teardown(setups=upload)

    assert by_default.is_teardown
    assert by_default.trigger_rule == "all_done_setup_success"
    assert kept_rule.is_teardown
    assert kept_rule.trigger_rule == "all_done"
    assert not plain.is_teardown
    assert plain.trigger_rule == "all_success"
    assert with_setup.is_teardown
    assert upload.is_setup


def _mapped_states(result: Any, task_id: str) -> list[str | None]:
    """The states of every mapped instance of ``task_id`` in the run, by map index."""
    from airflow import settings
    from airflow.models.taskinstance import TaskInstance

    session = settings.Session()
    try:
        where = {"dag_id": result.dag_id, "run_id": result.run_id, "task_id": task_id}
        tis = session.query(TaskInstance).filter_by(**where)
        return [None if ti.state is None else str(ti.state) for ti in sorted(tis, key=lambda t: t.map_index)]
    finally:
        session.close()


def test_mapped_cleanups_are_teardowns_too(gemini_conn: EmulatorServer, tmp_path: Path) -> None:
    """``GeminiDeleteBatchOperator.partial(...).expand(...)`` (one cleanup per batch of a mapped
    create): a mapped operator is built without running the operator's ``__init__``, so it must
    still come out a teardown. Both results fail ``max_failed_ratio``: the run ends ``failed``,
    both mapped cleanups ran and deleted their batch."""
    gemini_conn.control.configure(error_fraction=0.5)
    with _dag("teardown_mapped") as dag:
        create = GeminiCreateBatchOperator.partial(
            task_id="create", model=MODEL, wait_for_completion=True, poll_interval=0.2
        ).expand(requests=[inline_requests(10), inline_requests(10)])
        results = GeminiBatchResultsOperator.partial(
            task_id="results",
            destination=str(tmp_path / "out-{{ ti.map_index }}.jsonl"),
            max_failed_ratio=0.1,
        ).expand(batch_name=create.output)
        delete = GeminiDeleteBatchOperator.partial(task_id="delete_batches", settle_timeout=0).expand(
            batch_name=create.output
        )
        results >> delete

    assert delete.is_teardown
    assert delete.trigger_rule == "all_done_setup_success"
    result = run_dag(dag)

    assert result.state == "failed", result.task_states
    assert _mapped_states(result, "results") == ["failed", "failed"]
    assert _mapped_states(result, "delete_batches") == ["success", "success"]
    assert len([p for p in _deletes(gemini_conn) if "/batches/" in p]) == 2, _deletes(gemini_conn)


def test_mapped_cleanups_keep_a_given_rule_and_teardown_false() -> None:
    """``partial(trigger_rule=...)`` is kept; ``partial(teardown=False)`` makes a plain mapped task."""
    from airflow.sdk import DAG

    with DAG(unique_dag_id("teardown_mapped_flags"), schedule=None, start_date=datetime.datetime(2026, 1, 1)):
        kept = GeminiDeleteFileOperator.partial(task_id="a", trigger_rule="all_done").expand(
            file_name=["files/a", "files/b"]
        )
        plain = GeminiCancelBatchOperator.partial(task_id="b", teardown=False).expand(
            batch_name=["batches/a"]
        )
        composed = (
            GeminiDeleteFileOperator.partial(task_id="c", teardown=False)
            .expand(file_name=["files/c"])
            .as_teardown()
        )

    assert kept.is_teardown
    assert kept.trigger_rule == "all_done"
    assert not plain.is_teardown
    assert plain.trigger_rule == "all_success"
    assert composed.is_teardown
