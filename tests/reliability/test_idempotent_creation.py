"""Never pay twice: re-running a create or upload task for the same task instance reattaches.

Every test runs real DAG runs (``dag.test()``) against the emulator. Running a DAG again with the
same logical date re-runs the same run id - the same task-instance identity, exactly what a
cleared task or an Airflow retry sees - and the emulator's journal and listings tell how many
batches and files were really created.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.fixtures.airflow_env import unique_dag_id
from tests.reliability._support import (
    MODEL,
    create_calls,
    file_names,
    keyed_requests,
    run,
    upload_starts,
    write_jsonl,
)

LOGICAL_DATE = datetime(2026, 3, 1, tzinfo=timezone.utc)
NEW = "create_new"


def create_dag(dag_id: str, requests: list[dict[str, Any]], **create_kwargs: Any) -> Any:
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator

    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        GeminiCreateBatchOperator(task_id="create", model=MODEL, requests=requests, **create_kwargs)
    return dag


def run_id_for(logical_date: datetime) -> str:
    """The run id ``dag.test(logical_date=d, run_after=d)`` gives a manual run."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    return str(
        DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=logical_date, run_after=logical_date)
    )


def batch_names(emulator: EmulatorServer) -> list[str]:
    from tests.operators._support import sync_hook

    return [b.name for b in sync_hook().list_batches()]


def test_cleared_create_task_reattaches_to_its_batch(airflow_db: str, gemini_conn: EmulatorServer) -> None:
    """Clearing and re-running a create task returns the same batch; one create call in all."""
    dag = create_dag(unique_dag_id("reattach"), keyed_requests(3))
    first = run(dag, logical_date=LOGICAL_DATE)
    second = run(dag, logical_date=LOGICAL_DATE)

    assert first.run_id == second.run_id
    assert first.states["create"] == second.states["create"] == "success"
    assert second.xcom("create") == first.xcom("create")
    assert len(create_calls(gemini_conn)) == 1
    assert batch_names(gemini_conn) == [first.xcom("create")]


def test_batch_created_before_the_worker_died_is_reattached(
    airflow_db: str, gemini_conn: EmulatorServer
) -> None:
    """The worker died between the create call and the XCom push: the batch exists, tagged with
    this task instance, but Airflow knows nothing of it. The task's next run reattaches to it."""
    from airflow_provider_gemini_batch._core.identity import TaskIdentity, tagged_display_name
    from tests.operators._support import sync_hook

    requests = keyed_requests(2)
    dag = create_dag(unique_dag_id("died_after_create"), requests)
    op = dag.get_task("create")
    identity = TaskIdentity(dag.dag_id, "create", f"manual__{LOGICAL_DATE.isoformat()}", -1)
    assert identity.run_id == run_id_for(LOGICAL_DATE)
    # What the dead worker's create call left behind (made exactly as the operator makes it).
    orphan = sync_hook().create_batch(
        MODEL,
        requests=requests,
        display_name=tagged_display_name(None, identity, op._input_fingerprint({"requests": requests})),
    )
    result = run(dag, logical_date=LOGICAL_DATE)

    assert result.states["create"] == "success"
    assert result.xcom("create") == orphan.name
    assert len(create_calls(gemini_conn)) == 1  # the dead worker's call only
    assert batch_names(gemini_conn) == [orphan.name]


def test_create_that_failed_with_a_server_error_is_retried_by_airflow_once(
    airflow_db: str, gemini_conn: EmulatorServer
) -> None:
    """A 503 on create is not retried inside the hook (it may hide a created batch); the task's
    Airflow retry looks the batch up first, finds none, and creates exactly one."""
    gemini_conn.control.inject_fault(method="POST", path=r":batchGenerateContent$", status=503, times=1)
    dag = create_dag(
        unique_dag_id("create_503"), keyed_requests(2), retries=1, retry_delay=timedelta(seconds=0)
    )
    result = run(dag)

    assert result.states["create"] == "success"
    assert len(create_calls(gemini_conn)) == 2  # the refused one and the retry's
    assert batch_names(gemini_conn) == [result.xcom("create")]


def test_create_whose_answer_was_lost_reattaches_without_an_airflow_retry(
    airflow_db: str, gemini_conn: EmulatorServer
) -> None:
    """The service created the batch but the connection died before its answer arrived. With no
    Airflow retries at all, the task looks its batch up at once and reattaches: one batch."""
    gemini_conn.control.inject_fault(method="POST", path=r":batchGenerateContent$", lose_answer=True)
    dag = create_dag(unique_dag_id("create_lost_answer"), keyed_requests(2), retries=0)
    result = run(dag)

    assert result.states["create"] == "success"
    assert len(create_calls(gemini_conn)) == 1  # never sent twice
    assert batch_names(gemini_conn) == [result.xcom("create")]


def test_create_refused_with_a_server_error_and_no_retries_fails_without_a_batch(
    airflow_db: str, gemini_conn: EmulatorServer
) -> None:
    """A 503 that really created nothing: the lookup finds no batch, so the task fails (and does
    not submit again by itself)."""
    gemini_conn.control.inject_fault(method="POST", path=r":batchGenerateContent$", status=503, times=1)
    dag = create_dag(unique_dag_id("create_503_no_retry"), keyed_requests(2), retries=0)
    result = run(dag)

    assert result.states["create"] == "failed"
    assert len(create_calls(gemini_conn)) == 1
    assert batch_names(gemini_conn) == []


def test_changed_input_fails_by_default_and_sends_nothing(
    airflow_db: str, gemini_conn: EmulatorServer
) -> None:
    """Policy ``on_input_change="fail"``: a re-run with different requests refuses to submit."""
    dag_id = unique_dag_id("changed_fail")
    first = run(create_dag(dag_id, keyed_requests(2)), logical_date=LOGICAL_DATE)
    second = run(create_dag(dag_id, keyed_requests(3)), logical_date=LOGICAL_DATE)

    assert first.states["create"] == "success"
    assert second.states["create"] == "failed"
    assert len(create_calls(gemini_conn)) == 1
    assert batch_names(gemini_conn) == [first.xcom("create")]


def test_changed_input_with_create_new_submits_the_new_input(
    airflow_db: str, gemini_conn: EmulatorServer
) -> None:
    """Policy ``on_input_change="create_new"``: the changed input gets its own batch."""
    dag_id = unique_dag_id("changed_new")
    first = run(
        create_dag(dag_id, keyed_requests(2), on_input_change="create_new"), logical_date=LOGICAL_DATE
    )
    second = run(
        create_dag(dag_id, keyed_requests(3), on_input_change="create_new"), logical_date=LOGICAL_DATE
    )

    assert second.states["create"] == "success"
    assert second.xcom("create") != first.xcom("create")
    assert len(create_calls(gemini_conn)) == 2
    # ... and a third run with that same new input reattaches to the new batch.
    third = run(
        create_dag(dag_id, keyed_requests(3), on_input_change="create_new"), logical_date=LOGICAL_DATE
    )
    assert third.xcom("create") == second.xcom("create")
    assert len(create_calls(gemini_conn)) == 2


def test_rerun_upload_of_unchanged_content_leaves_no_orphan(
    airflow_db: str, gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    """Re-running an upload task for the same content reuses the file: one upload, one file."""
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiUploadFileOperator

    path = write_jsonl(tmp_path / "in.jsonl", keyed_requests(4))
    with DAG(unique_dag_id("upload_twice"), schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        GeminiUploadFileOperator(task_id="upload", path=path)
    first = run(dag, logical_date=LOGICAL_DATE)
    second = run(dag, logical_date=LOGICAL_DATE)

    assert first.states["upload"] == second.states["upload"] == "success"
    assert second.xcom("upload") == first.xcom("upload")
    assert len(upload_starts(gemini_conn)) == 1
    assert file_names(gemini_conn) == [first.xcom("upload")]


def test_create_from_input_path_rerun_uploads_and_creates_once(
    airflow_db: str, gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    """``input_path`` (upload inside create): a cleared re-run neither re-uploads nor re-creates."""
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator

    path = write_jsonl(tmp_path / "in.jsonl", keyed_requests(3))
    with DAG(unique_dag_id("path_twice"), schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        GeminiCreateBatchOperator(task_id="create", model=MODEL, input_path=path)
    first = run(dag, logical_date=LOGICAL_DATE)
    second = run(dag, logical_date=LOGICAL_DATE)

    assert second.xcom("create") == first.xcom("create")
    assert len(upload_starts(gemini_conn)) == 1
    assert len(create_calls(gemini_conn)) == 1
    # One uploaded input (result files of the batch are named files/batch-...).
    assert len([n for n in file_names(gemini_conn) if not n.startswith("files/batch-")]) == 1
