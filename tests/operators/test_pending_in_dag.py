"""Batches stuck in PENDING: ``pending_timeout`` and the ``warn``/``fail``/``recreate`` policies.

Each test runs a small DAG with ``dag.test()`` against the emulator, which holds the next created
batches PENDING (``hold_pending``), as the real service held users' batches for more than a day
(python-genai #1482, js-genai #1453). Every policy is run both ways: deferrable (the trigger
flags the batch and hands it back to the task) and on the worker. The pending time counts from
the batch's ``createTime``.
"""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import airflow
import pytest
from packaging.version import Version

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.fixtures.airflow_env import DagRunResult, unique_dag_id
from tests.operators._failures import FailureRecorder, last_failure, run_recording
from tests.operators._support import MODEL, inline_requests, sync_hook

#: The XCom key of the create task's pending report (``operators/_pending.ATTEMPTS_XCOM_KEY``;
#: spelled out so this file also runs against releases without the feature).
ATTEMPTS_XCOM_KEY = "batch_attempts"
HAS_STORE = Version(airflow.__version__).release >= (3, 3)
#: Seconds: short, so a held batch is flagged after ~1 s of a test.
PENDING_TIMEOUT = 1.0
POLL = 0.2
WAYS = [pytest.param(False, id="worker"), pytest.param(True, id="deferrable")]


def _dag(prefix: str, *, deferrable: bool, destination: str | None = None, **create: Any) -> Any:
    """A create task that waits (pending_timeout 1 s), and a results task when ``destination``."""
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import (
        GeminiBatchResultsOperator,
        GeminiCreateBatchOperator,
    )

    if "input_path" not in create:
        create.setdefault("requests", inline_requests(2, prefix[:2]))
    with DAG(
        unique_dag_id(prefix),
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1),
        default_args={"retries": 0},
    ) as dag:
        made = GeminiCreateBatchOperator(
            task_id="create",
            model=MODEL,
            wait_for_completion=True,
            deferrable=deferrable,
            poll_interval=POLL,
            pending_timeout=PENDING_TIMEOUT,
            **create,
        )
        if destination is not None:
            landed = GeminiBatchResultsOperator(
                task_id="results",
                batch_name="{{ ti.xcom_pull(task_ids='create') }}",
                destination=destination,
            )
            made >> landed
    return dag


def _creates(journal: list[dict[str, Any]]) -> list[int]:
    return [
        i
        for i, e in enumerate(journal)
        if e["method"] == "POST" and e["path"].endswith(":batchGenerateContent")
    ]


def _cancels(journal: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [
        (i, e["path"].removeprefix("/v1beta/").removesuffix(":cancel"))
        for i, e in enumerate(journal)
        if e["method"] == "POST" and e["path"].endswith(":cancel")
    ]


def _batches(emulator: EmulatorServer) -> list[Any]:
    """Every batch, oldest first, read back with the hook."""
    batches = list(sync_hook().list_batches())
    return sorted(batches, key=lambda b: b.create_time)


def _never_two_at_once(batches: list[Any]) -> None:
    """Each batch ended before the next was created (the emulator's own timestamps)."""
    for old, new in itertools.pairwise(batches):
        assert old.end_time is not None, f"{old.name} never ended"
        assert old.end_time <= new.create_time, (old.name, old.end_time, new.name, new.create_time)


def _page_of(result: DagRunResult) -> str:
    """The create task's batch page rendered from the run's XComs (what the page would read)."""
    from airflow_provider_gemini_batch.plugins.page import render_batch
    from airflow_provider_gemini_batch.plugins.records import TaskRef, assemble

    ref = TaskRef(dag_id=result.dag_id, run_id=result.run_id, task_id="create")
    rows = [(task, -1, key, value) for task, xcoms in result.xcoms.items() for key, value in xcoms.items()]
    record = assemble(ref, rows)
    assert record is not None
    return render_batch(ref, record, None, "n")


def _run(dag: Any) -> tuple[DagRunResult, FailureRecorder]:
    return run_recording(dag)


# -- warn ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", WAYS)
def test_warn_flags_a_stuck_batch_and_still_succeeds_when_it_starts(
    airflow_db: str,
    gemini_conn: EmulatorServer,
    tmp_path: Any,
    capfd: pytest.CaptureFixture[str],
    deferrable: bool,
) -> None:
    """The batch is held PENDING for 8 s (past the 1 s pending_timeout, with room for a loaded
    machine to start the trigger), then released: the log flags it once, the wait goes on, the
    task succeeds with the same batch, and the flag is reported under XCom ``batch_attempts``, in
    the results manifest and on the batch page."""
    gemini_conn.control.configure(hold_pending=1, hold_pending_seconds=8.0)
    destination = str(tmp_path / "out.jsonl")
    dag = _dag("pend_warn", deferrable=deferrable, destination=destination)
    result, failures = _run(dag)
    out, err = capfd.readouterr()
    log = out + err

    assert result.task_states == {"create": "success", "results": "success"}, failures.tries
    assert len(_creates(gemini_conn.control.journal())) == 1
    assert _cancels(gemini_conn.control.journal()) == []
    name = result.xcom("create")
    assert f"Batch {name} has been PENDING for" in log
    assert "past pending_timeout" in log
    assert "on_pending_timeout='warn'" in log
    # Logged once per wait (the results task quotes it once more, in its manifest warning).
    assert log.count(f"] Batch {name} has been PENDING for") == 1
    report = result.xcom("create", ATTEMPTS_XCOM_KEY)
    assert report["on_pending_timeout"] == "warn"
    assert report["pending_timeout"] == PENDING_TIMEOUT
    [current] = report["attempts"]
    assert current["batch_name"] == name
    assert current["action"] == "current"
    assert current["pending_seconds"] >= PENDING_TIMEOUT
    manifest = result.xcom("results")
    assert manifest["attempts"] == report["attempts"]
    assert any("PENDING" in w and name in w for w in manifest["warnings"]), manifest["warnings"]
    # The batch page built from the run's own XComs shows the flag.
    page = _page_of(result)
    assert "<h2>Attempts</h2>" in page
    assert f"Batch {name} has been PENDING for" in page


# -- fail ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", WAYS)
def test_fail_cancels_the_stuck_batch_and_fails_with_what_to_do(
    airflow_db: str, gemini_conn: EmulatorServer, deferrable: bool
) -> None:
    """Held PENDING indefinitely: the task cancels it (decided: a stuck batch left alone may start
    and bill later with nobody waiting, and a cleared task would reattach to it), re-reads it, and
    fails without retries, naming the batch, how long, the policy and what to do."""
    gemini_conn.control.configure(hold_pending=1)
    dag = _dag("pend_fail", deferrable=deferrable, on_pending_timeout="fail")
    result, failures = _run(dag)
    journal = gemini_conn.control.journal()

    assert result.task_states["create"] == "failed"
    kind, message = last_failure(failures, "create")
    assert kind == "GeminiBatchStuckError"
    [batch] = _batches(gemini_conn)
    assert batch.state.short == "CANCELLED"
    assert [name for _, name in _cancels(journal)] == [batch.name]
    assert len(_creates(journal)) == 1
    assert batch.name in message
    assert "was still PENDING" in message
    assert "past pending_timeout (1.0 s)" in message or "past pending_timeout (1 s)" in message
    assert "on_pending_timeout='fail'" in message
    assert "ended CANCELLED" in message
    assert "Clearing this task submits a new batch" in message
    report = result.xcom("create", ATTEMPTS_XCOM_KEY)
    [attempt] = report["attempts"]
    assert attempt["batch_name"] == batch.name
    assert attempt["ended"] == "CANCELLED"
    assert attempt["action"] == "cancelled"


# -- recreate --------------------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", WAYS)
def test_recreate_cancels_then_creates_the_same_input_again(
    airflow_db: str, gemini_conn: EmulatorServer, tmp_path: Any, deferrable: bool
) -> None:
    """The first batch is held PENDING; the task cancels it, sees it ended CANCELLED, then creates
    a second batch from the same input, which runs and succeeds. Never two at once; both
    attempts are listed under XCom and in the results manifest."""
    gemini_conn.control.configure(hold_pending=1)
    destination = str(tmp_path / "out.jsonl")
    dag = _dag(
        "pend_recreate",
        deferrable=deferrable,
        destination=destination,
        on_pending_timeout="recreate",
    )
    result, failures = _run(dag)
    journal = gemini_conn.control.journal()

    assert result.task_states == {"create": "success", "results": "success"}, failures.tries
    first, second = _batches(gemini_conn)
    assert first.state.short == "CANCELLED"
    assert second.state.short == "SUCCEEDED"
    assert result.xcom("create") == second.name
    _never_two_at_once([first, second])
    creates = _creates(journal)
    assert len(creates) == 2
    [(cancel_at, cancelled)] = _cancels(journal)
    assert cancelled == first.name
    assert creates[0] < cancel_at < creates[1]
    # The old batch was read back (its end state) between the cancel and the new create.
    assert any(
        e["method"] == "GET" and e["path"] == f"/v1beta/{first.name}"
        for e in journal[cancel_at + 1 : creates[1]]
    )
    # The same input: identical create bodies (requests, model, display name with its marker).
    assert journal[creates[0]]["json"] == journal[creates[1]]["json"]
    report = result.xcom("create", ATTEMPTS_XCOM_KEY)
    assert [a["batch_name"] for a in report["attempts"]] == [first.name, second.name]
    assert report["attempts"][0]["action"] == "replaced"
    assert report["attempts"][0]["ended"] == "CANCELLED"
    assert report["attempts"][0]["pending_seconds"] >= PENDING_TIMEOUT
    assert report["attempts"][1]["action"] == "current"
    manifest = result.xcom("results")
    assert manifest["batch_name"] == second.name
    assert [a["batch_name"] for a in manifest["attempts"]] == [first.name, second.name]
    page = _page_of(result)
    assert f"<code>{first.name}</code>" in page
    assert f"<code>{second.name}</code>" in page


@pytest.mark.parametrize("deferrable", WAYS)
def test_recreate_gives_up_after_max_pending_recreates(
    airflow_db: str, gemini_conn: EmulatorServer, deferrable: bool
) -> None:
    """Every batch stays PENDING: one replacement (max_pending_recreates=1), then the task fails
    as ``fail`` does, naming both batches; each was cancelled before the next existed."""
    gemini_conn.control.configure(hold_pending=5)
    dag = _dag("pend_bound", deferrable=deferrable, on_pending_timeout="recreate", max_pending_recreates=1)
    result, failures = _run(dag)
    journal = gemini_conn.control.journal()

    assert result.task_states["create"] == "failed"
    kind, message = last_failure(failures, "create")
    assert kind == "GeminiBatchStuckError"
    batches = _batches(gemini_conn)
    assert len(batches) == 2
    assert len(_creates(journal)) == 2
    assert [b.state.short for b in batches] == ["CANCELLED", "CANCELLED"]
    _never_two_at_once(batches)
    assert "max_pending_recreates=1" in message
    assert batches[0].name in message
    assert batches[1].name in message
    report = result.xcom("create", ATTEMPTS_XCOM_KEY)
    assert [(a["batch_name"], a["action"]) for a in report["attempts"]] == [
        (batches[0].name, "replaced"),
        (batches[1].name, "cancelled"),
    ]


@pytest.mark.skipif(not HAS_STORE, reason="the count survives a new try through the task state store (3.3+)")
def test_recreate_counts_replacements_across_tries(airflow_db: str, gemini_conn: EmulatorServer) -> None:
    """Try 1 replaces its stuck batch, then loses the create of the replacement (a 400); try 2
    reads the recorded attempt from the task state store, creates the replacement once, and when
    that one is stuck too, the bound (1) is already used: it fails instead of a third batch."""
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator

    gemini_conn.control.configure(hold_pending=5)
    with DAG(
        unique_dag_id("pend_tries"),
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1),
        default_args={"retries": 1, "retry_delay": datetime.timedelta(seconds=0)},
    ) as dag:
        GeminiCreateBatchOperator(
            task_id="create",
            model=MODEL,
            requests=inline_requests(2, "t"),
            wait_for_completion=True,
            deferrable=False,
            poll_interval=POLL,
            pending_timeout=PENDING_TIMEOUT,
            on_pending_timeout="recreate",
            max_pending_recreates=1,
        )
    # The second create call (the replacement in try 1) is refused.
    result, failures = _run_with_second_create_refused(dag, gemini_conn)
    journal = gemini_conn.control.journal()

    assert result.task_states["create"] == "failed"
    assert result.tries["create"] == 2
    kind, message = last_failure(failures, "create")
    assert kind == "GeminiBatchStuckError", message
    batches = _batches(gemini_conn)
    assert len(batches) == 2  # the first, and the one replacement made by try 2
    assert [b.state.short for b in batches] == ["CANCELLED", "CANCELLED"]
    _never_two_at_once(batches)
    assert len(_creates(journal)) == 3  # the refused create included
    assert "max_pending_recreates=1" in message


def _run_with_second_create_refused(
    dag: Any, emulator: EmulatorServer
) -> tuple[DagRunResult, FailureRecorder]:
    """Run ``dag`` with the second create call answered 400 (the first is let through)."""
    import threading

    stop = threading.Event()

    def arm() -> None:
        # Arm the fault once the first create went through (400: nothing was created).
        while not stop.is_set():
            if len(_creates(emulator.control.journal())) >= 1:
                emulator.control.inject_fault(
                    method="POST", path=r":batchGenerateContent$", status=400, times=1
                )
                return
            stop.wait(0.05)

    thread = threading.Thread(target=arm, daemon=True)
    thread.start()
    try:
        return _run(dag)
    finally:
        stop.set()
        thread.join(5)


# -- sensor ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", WAYS)
def test_sensor_fail_leaves_the_batch_it_does_not_own(
    airflow_db: str, gemini_conn: EmulatorServer, deferrable: bool
) -> None:
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor

    gemini_conn.control.configure(hold_pending=1)
    batch = sync_hook().create_batch(MODEL, requests=inline_requests(1, "z"))
    with DAG(
        unique_dag_id("pend_sensor"),
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1),
        default_args={"retries": 0},
    ) as dag:
        GeminiBatchSensor(
            task_id="wait",
            batch_name=batch.name,
            deferrable=deferrable,
            poke_interval=POLL,
            pending_timeout=PENDING_TIMEOUT,
            on_pending_timeout="fail",
        )
    result, failures = _run(dag)

    assert result.task_states["wait"] == "failed"
    kind, message = last_failure(failures, "wait")
    assert kind == "GeminiBatchStuckError"
    assert batch.name in message
    assert "left as it is" in message
    assert _cancels(gemini_conn.control.journal()) == []
    assert sync_hook().get_batch(batch.name).state.short == "PENDING"


def test_sensor_refuses_recreate_before_any_request(airflow_db: str, gemini_conn: EmulatorServer) -> None:
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor

    with DAG(
        unique_dag_id("pend_sensor_bad"),
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1),
        default_args={"retries": 0},
    ) as dag:
        GeminiBatchSensor(task_id="wait", batch_name="batches/x", on_pending_timeout="recreate")
    result, failures = _run(dag)
    assert result.task_states["wait"] == "failed"
    kind, message = last_failure(failures, "wait")
    assert kind == "GeminiInvalidInputError"
    assert "on_pending_timeout" in message
    assert "wait_for_completion=True" in message
    assert gemini_conn.control.journal() == []


def test_recreate_from_an_input_path_reuses_the_upload(
    airflow_db: str, gemini_conn: EmulatorServer, tmp_path: Any
) -> None:
    """A file input is not uploaded again: the replacement is created from the same ``files/...``."""
    from tests.operators._support import uploads_started, write_jsonl

    gemini_conn.control.configure(hold_pending=1)
    path = write_jsonl(tmp_path / "in.jsonl", 3, "f")
    dag = _dag("pend_file", deferrable=False, on_pending_timeout="recreate", input_path=path)
    result, failures = _run(dag)
    journal = gemini_conn.control.journal()

    assert result.task_states["create"] == "success", failures.tries
    assert uploads_started(gemini_conn) == 1
    creates = _creates(journal)
    assert len(creates) == 2
    first, second = (journal[i]["json"]["batch"]["inputConfig"]["fileName"] for i in creates)
    assert first == second == result.xcom("create", "input_file")
    old, new = _batches(gemini_conn)
    assert (old.state.short, new.state.short) == ("CANCELLED", "SUCCEEDED")
    _never_two_at_once([old, new])
