"""What the trigger sends back about a batch stuck in PENDING (it never acts on it itself).

Under ``on_pending_timeout="warn"`` the trigger logs the flag, keeps waiting, and its final event
carries the facts under ``"pending"`` so the task can report them (nothing else survives a
deferral). Under ``"fail"`` or ``"recreate"`` it ends the wait with a ``pending_timeout`` event;
the task, back on a worker, cancels and (for ``recreate``) creates again: a trigger that
created batches would create a second billable one on every triggerer restart.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_gemini_batch._core.events import EventStatus, make_event
from airflow_provider_gemini_batch._core.pending import PendingSignal, PendingWatch
from airflow_provider_gemini_batch.messages.pending import stuck_text


def facts(signal: PendingSignal) -> dict[str, Any]:
    """The signal as primitives: ``{"age", "limit", "timed_from_create"}`` (seconds)."""
    return {
        "age": round(signal.age, 3),
        "limit": signal.limit,
        "timed_from_create": signal.timed_from_create,
    }


def with_flag(event: dict[str, Any], watch: PendingWatch) -> dict[str, Any]:
    """``event`` with the STUCK facts under ``"pending"`` when the wait flagged the batch."""
    if watch.stuck is not None:
        event["pending"] = facts(watch.stuck)
    return event


def stuck_event(signal: PendingSignal, policy: str, summary: dict[str, Any] | None) -> dict[str, Any]:
    """The ``pending_timeout`` event that hands a stuck batch back to the task and its policy."""
    event = make_event(EventStatus.PENDING_TIMEOUT, signal.batch_name, stuck_text(signal, policy), summary)
    event["pending"] = facts(signal)
    return event
