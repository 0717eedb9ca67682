"""The create task records its batch in Airflow's task state store (3.3+).

Each test runs a small DAG with ``dag.test()`` against the emulator. A try of the create task is
made to fail after the batch (or the input file) exists, the way the existing tests lose a try
after its work (a ``post_execute`` that raises on try 1, or an error answer to the create); the
retry must then reattach through the store: one GET of the recorded batch and no listing, told
from the emulator's journal and the task log. A recorded batch that is unusable (cancelled,
deleted) falls back to the display-name lookup. On Airflow < 3.3 (``make test-oldest``) there is
no store, and the same retry reattaches by the display-name marker.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import airflow
import pytest
from packaging.version import Version

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators._state_store import KEY, Recorded
from tests.fixtures.airflow_env import DagRunResult, run_dag, unique_dag_id
from tests.operators._support import MODEL, inline_requests, sync_hook, write_jsonl

#: Airflow 3.3 brought the task state store (AIP-103).
HAS_STORE = Version(airflow.__version__).release >= (3, 3)
STORE_LOG = "recorded in the task state store"
MARKER_LOG = "found by its display-name marker"
RETRY = {"retries": 1, "retry_delay": datetime.timedelta(seconds=0)}


def _lose_first_try(context: Any, result: Any = None) -> None:
    """``post_execute``: try 1 is lost after execute returned (batch created, recorded, pushed)."""
    if context["ti"].try_number == 1:
        raise RuntimeError("simulated worker loss after the create")


def _dag(dag_id: str, **create_kwargs: Any) -> Any:
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator

    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        GeminiCreateBatchOperator(task_id="create", model=MODEL, **RETRY, **create_kwargs)
    return dag


def _creates(journal: list[dict[str, Any]]) -> list[int]:
    return [
        i
        for i, e in enumerate(journal)
        if e["method"] == "POST" and e["path"].endswith(":batchGenerateContent")
    ]


def _lists(journal: list[dict[str, Any]], what: str) -> list[int]:
    """Indexes of ``GET /v1beta/<what>`` listings (``batches`` or ``files``) in the journal."""
    return [i for i, e in enumerate(journal) if e["method"] == "GET" and e["path"] == f"/v1beta/{what}"]


def _reads(journal: list[dict[str, Any]], name: str) -> list[int]:
    return [i for i, e in enumerate(journal) if e["method"] == "GET" and e["path"] == f"/v1beta/{name}"]


def _stored(result: DagRunResult) -> Recorded | None:
    """The record under ``KEY`` for the run's create task, read from the metadata DB."""
    from airflow import settings
    from airflow.models.task_state_store import TaskStateStoreModel

    session = settings.Session()
    try:
        row = (
            session.query(TaskStateStoreModel)
            .filter_by(dag_id=result.dag_id, run_id=result.run_id, task_id="create", key=KEY)
            .one_or_none()
        )
        return None if row is None else Recorded.from_json(json.loads(row.value))
    finally:
        session.close()


def test_retry_after_the_create_reattaches_through_the_store_without_listing(
    airflow_db: str, gemini_conn: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    dag = _dag(unique_dag_id("store_retry"), requests=inline_requests(2, "s"), post_execute=_lose_first_try)
    result = run_dag(dag)
    out, err = capfd.readouterr()
    journal = gemini_conn.control.journal()

    assert result.task_states["create"] == "success"
    assert result.tries["create"] == 2
    name = result.xcom("create")
    creates = _creates(journal)
    assert len(creates) == 1  # the retry created nothing
    if not HAS_STORE:  # Airflow < 3.3: the display-name lookup (a listing) finds it
        assert MARKER_LOG in out + err
        return
    # The retry listed nothing: the only listing is try 1's lookup, before its create.
    assert [i for i in _lists(journal, "batches") if i > creates[0]] == []
    assert _reads(journal, name), "the retry checked the recorded batch with a GET"
    assert STORE_LOG in out + err
    assert MARKER_LOG not in out + err
    stored = _stored(result)
    assert stored is not None
    assert stored.batch_name == name
    assert stored.input_fingerprint
    assert len(stored.input_fingerprint) == 12


@pytest.mark.skipif(not HAS_STORE, reason="the task state store arrived in Airflow 3.3")
def test_a_clear_keeps_the_record(airflow_db: str, gemini_conn: EmulatorServer) -> None:
    """Clearing the task instance (what the UI's Clear does) leaves its record in the store, so the
    cleared task's next run would read it; only deleting the DAG run deletes it."""
    from airflow import settings
    from airflow.models.taskinstance import TaskInstance, clear_task_instances

    result = run_dag(_dag(unique_dag_id("store_clear"), requests=inline_requests(2, "c")))
    assert _stored(result) is not None
    session = settings.Session()
    try:
        tis = session.query(TaskInstance).filter_by(dag_id=result.dag_id, run_id=result.run_id).all()
        clear_task_instances(tis, session)
        session.commit()
        assert {ti.state for ti in session.query(TaskInstance).filter_by(dag_id=result.dag_id)} == {None}
    finally:
        session.close()
    stored = _stored(result)
    assert stored is not None
    assert stored.batch_name == result.xcom("create")


@pytest.mark.skipif(not HAS_STORE, reason="the task state store arrived in Airflow 3.3")
def test_retry_after_the_upload_reuses_the_recorded_file_without_listing_files(
    airflow_db: str, gemini_conn: EmulatorServer, tmp_path: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """Try 1 uploads ``input_path``, then its create is refused (400): the retry reads the file
    from the store (one GET) instead of listing files, and creates once."""
    path = write_jsonl(tmp_path / "in.jsonl", 3, "u")
    gemini_conn.control.inject_fault(method="POST", path=r":batchGenerateContent$", status=400, times=1)
    result = run_dag(_dag(unique_dag_id("store_upload"), input_path=path))
    out, err = capfd.readouterr()
    journal = gemini_conn.control.journal()

    assert result.task_states["create"] == "success"
    assert result.tries["create"] == 2
    starts = [
        i
        for i, e in enumerate(journal)
        if e["method"] == "POST"
        and e["path"].startswith("/upload/")
        and "upload_id" not in (e["query"] or "")
    ]
    assert len(starts) == 1  # uploaded once
    assert [i for i in _lists(journal, "files") if i > starts[0]] == []  # the retry listed no files
    assert "recorded in the task state store by an earlier try" in out + err
    stored = _stored(result)
    assert stored is not None
    assert stored.batch_name == result.xcom("create")
    assert stored.input_file
    assert stored.input_sha256


@pytest.mark.skipif(not HAS_STORE, reason="the task state store arrived in Airflow 3.3")
@pytest.mark.parametrize("spoil", ["cancel", "delete"])
def test_unusable_recorded_batch_falls_back_to_the_display_name_lookup(
    airflow_db: str, gemini_conn: EmulatorServer, capfd: pytest.CaptureFixture[str], spoil: str
) -> None:
    """Try 1's batch is cancelled (or deleted) before the retry: the retry does not reattach to
    the recorded name, the display-name lookup decides (a cancelled batch is not reused), and the
    new batch replaces the record."""
    gemini_conn.control.configure(processing_seconds=600)  # still running when spoiled
    spoiled: list[str] = []

    def spoil_and_lose(context: Any, result: Any = None) -> None:
        if context["ti"].try_number == 1:
            spoiled.append(result)
            hook = sync_hook()
            if spoil == "cancel":
                hook.cancel_batch(result)
            else:
                hook.cancel_batch(result)  # a running batch cannot be deleted
                hook.delete_batch(result)
            raise RuntimeError("simulated worker loss after the create")

    dag = _dag(
        unique_dag_id(f"store_{spoil}"), requests=inline_requests(2, spoil[0]), post_execute=spoil_and_lose
    )
    result = run_dag(dag)
    out, err = capfd.readouterr()
    journal = gemini_conn.control.journal()

    assert result.task_states["create"] == "success"
    creates = _creates(journal)
    assert len(creates) == 2  # the spoiled batch is not reused
    assert [i for i in _lists(journal, "batches") if i > creates[0]], "the retry fell back to a listing"
    assert "The task state store names batches/" in out + err
    assert STORE_LOG not in out + err
    assert spoiled
    assert result.xcom("create") != spoiled[0]
    stored = _stored(result)
    assert stored is not None
    assert stored.batch_name == result.xcom("create")


def test_record_shape_is_the_deployed_one_and_keeps_the_found_batch_out_of_the_store() -> None:
    """A record as runs in flight hold it (written before resolve_or_create existed) reads back,
    and what a try knows beyond it (the batch as read, where it was found) never reaches the store."""
    from airflow_provider_gemini_batch._core.models import Batch

    deployed = {
        "version": 1,
        "batch_name": "batches/abc",
        "input_fingerprint": "0123456789ab",
        "input_file": "files/in",
        "input_sha256": "ff" * 32,
        "attempts": [{"batch_name": "batches/old", "action": "replaced", "ended": "CANCELLED"}],
    }
    read = Recorded.from_json(deployed)
    assert read is not None
    assert read.to_json() == deployed
    batch = Batch.from_operation(
        {"name": "batches/abc", "metadata": {"displayName": "x", "state": "BATCH_STATE_RUNNING"}}
    )
    found = Recorded(
        batch_name="batches/abc",
        input_fingerprint="0123456789ab",
        input_file="files/in",
        input_sha256="ff" * 32,
        attempts=read.attempts,
        batch=batch,
        found_by="state_store",
    )
    assert found.to_json() == deployed
    assert found == read
    assert found.display_name == "x"
