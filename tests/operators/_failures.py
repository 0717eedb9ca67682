"""A recorded ``dag.test()`` run: what each failed task raised (an Airflow listener) and its results.

A failure callback would be simpler, but Airflow 3.1's ``dag.test()`` leaves ``exception`` out of
the callback context; a listener (the public plugin interface) receives the error on every
supported version, and also for a try that goes up for retry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import hookimpl

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.emulator import EmulatorServer
    from tests.fixtures.airflow_env import DagRunResult


class FailureRecorder:
    """Every failed try of every task, in order: ``tries[task_id] = [(class name, message), ...]``."""

    def __init__(self) -> None:
        self.tries: dict[str, list[tuple[str, str]]] = {}

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        self.tries.setdefault(task_instance.task_id, []).append((type(error).__name__, str(error)))

    def last(self, task_id: str) -> tuple[str, str] | None:
        """(class name, message) of the task's last failed try, or None if it never failed."""
        tries = self.tries.get(task_id)
        return tries[-1] if tries else None


def _listener_manager() -> Any:
    try:  # Airflow >= 3.2: task-side listeners live in the SDK
        from airflow.sdk.listener import get_listener_manager
    except ImportError:
        from airflow.listeners.listener import get_listener_manager
    return get_listener_manager()


@contextmanager
def recording_failures() -> Iterator[FailureRecorder]:
    """Register a :class:`FailureRecorder` for the duration of the block."""
    recorder = FailureRecorder()
    listeners = _listener_manager()
    listeners.add_listener(recorder)
    try:
        yield recorder
    finally:
        listeners.pm.unregister(recorder)


class RecordedRun:
    """One ``dag.test()`` run of a test module, with what its tests inspect.

    :param result: task states, tries and XComs read back from the metadata DB.
    :param tmp: the run's temporary folder (inputs, landed results).
    :param emulator: the emulator the run talked to.
    :param journal: the emulator's request journal taken right after the run.
    :param failures: what each failed task's last try raised (a :class:`FailureRecorder`).
    """

    def __init__(
        self,
        result: DagRunResult,
        tmp: Path,
        emulator: EmulatorServer,
        journal: list[dict[str, Any]],
        failures: FailureRecorder,
    ) -> None:
        self.result = result
        self.tmp = tmp
        self.emulator = emulator
        self.journal = journal
        self.failures = failures

    def state(self, task_id: str) -> str | None:
        return self.result.task_states.get(task_id)

    def error(self, task_id: str) -> str:
        """The exception class name the task's last failed try raised (``"<none>"``)."""
        last = self.failures.last(task_id)
        return last[0] if last else "<none>"

    def message(self, task_id: str) -> str:
        last = self.failures.last(task_id)
        return last[1] if last else "<none>"

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        return self.result.xcom(task_id, key)


def plain_dag(prefix: str) -> Any:
    """A DAG with a unique id from ``prefix``, no schedule and no retries (one try per task)."""
    import datetime

    from airflow.sdk import DAG

    from tests.fixtures.airflow_env import unique_dag_id

    return DAG(
        unique_dag_id(prefix),
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1),
        default_args={"retries": 0},
    )


def run_recording(dag: Any) -> tuple[DagRunResult, FailureRecorder]:
    """``dag.test()`` the DAG with every failed try recorded."""
    from tests.fixtures.airflow_env import run_dag

    with recording_failures() as failures:
        result = run_dag(dag)
    return result, failures


def last_failure(failures: FailureRecorder, task_id: str) -> tuple[str, str]:
    """The last ``(class name, message)`` ``task_id`` raised; fails the test if it never failed."""
    last = failures.last(task_id)
    assert last is not None, f"{task_id} did not fail"
    return last
