"""What each failed task raised in a ``dag.test()`` run, recorded by an Airflow listener.

A failure callback would be simpler, but Airflow 3.1's ``dag.test()`` leaves ``exception`` out of
the callback context; a listener (the public plugin interface) receives the error on every
supported version, and also for a try that goes up for retry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.providers.common.compat.sdk import hookimpl


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
