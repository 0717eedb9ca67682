"""What a wait reports back: the trigger event payload, its validation, and the transient backoff.

The trigger builds exactly one event of primitives with :func:`make_event`; the operators'
``execute_complete`` turn it back into a return value or a typed exception with
:func:`raise_for_event`. ``dag.test()`` drops ``defer(kwargs=...)``, so everything the worker
needs after the wait (batch name included) travels in this payload. Pure: no I/O.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.states import OutcomeKind, interpret
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiBatchFailedError,
    GeminiBatchTimeoutError,
)


class EventStatus(str, enum.Enum):
    """How a wait ended."""

    SUCCESS = "success"  # the batch SUCCEEDED
    FAILURE = "failure"  # the batch ended FAILED, CANCELLED or EXPIRED
    TIMEOUT = "timeout"  # our own deadline passed while the batch was in flight
    ERROR = "error"  # we could not observe the batch (gave up on errors, unknown state, 404 ...)


@dataclass(frozen=True)
class WaitEvent:
    """A validated trigger event."""

    status: EventStatus
    batch_name: str
    message: str
    summary: Mapping[str, Any] | None

    @property
    def state(self) -> str | None:
        return None if self.summary is None else self.summary.get("state")


def make_event(
    status: EventStatus, batch_name: str, message: str, summary: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The event payload: primitives only (str, int, None, dicts and lists of them)."""
    return {
        "status": status.value,
        "batch_name": batch_name,
        "message": message,
        "summary": dict(summary) if summary is not None else None,
    }


def event_for_batch(batch: Batch) -> dict[str, Any] | None:
    """The final event for an observed batch, or None while it is still in flight."""
    outcome = interpret(batch)
    if outcome.kind is OutcomeKind.WAIT:
        return None
    status = EventStatus.SUCCESS if outcome.kind is OutcomeKind.SUCCESS else EventStatus.FAILURE
    return make_event(status, batch.name, outcome.message, batch.summary())


def parse_event(event: Any) -> WaitEvent:
    """Validate a payload received by ``execute_complete``.

    :raises GeminiBatchError: when the payload is not a mapping with a known ``status`` and a
        ``batches/...`` name (a trigger from another version, or a corrupted event).
    """
    if not isinstance(event, Mapping):
        raise GeminiBatchError(
            f"Expected a Gemini batch trigger event (a mapping), got {type(event).__name__}."
        )
    try:
        status = EventStatus(event.get("status"))
    except ValueError:
        raise GeminiBatchError(
            f"Gemini batch trigger event has an unknown status {event.get('status')!r}."
        ) from None
    batch_name = event.get("batch_name")
    if not isinstance(batch_name, str) or not batch_name.startswith("batches/"):
        raise GeminiBatchError(f"Gemini batch trigger event has no valid batch name: {batch_name!r}.")
    summary = event.get("summary")
    if summary is not None and not isinstance(summary, Mapping):
        raise GeminiBatchError(f"Gemini batch trigger event for {batch_name} has a malformed summary.")
    return WaitEvent(
        status=status, batch_name=batch_name, message=str(event.get("message") or ""), summary=summary
    )


def raise_for_event(event: WaitEvent) -> Mapping[str, Any]:
    """Return the batch summary of a successful wait; raise the matching error otherwise.

    :raises GeminiBatchFailedError: the batch ended FAILED, CANCELLED or EXPIRED.
    :raises GeminiBatchTimeoutError: the wait deadline passed.
    :raises GeminiBatchError: the batch could not be observed.
    """
    if event.status is EventStatus.SUCCESS:
        return event.summary or {"batch_name": event.batch_name}
    if event.status is EventStatus.FAILURE:
        raise GeminiBatchFailedError(
            event.message,
            batch_name=event.batch_name,
            state=str(event.state),
            summary=event.summary or {},
        )
    if event.status is EventStatus.TIMEOUT:
        raise GeminiBatchTimeoutError(event.message)
    raise GeminiBatchError(event.message)


def transient_backoff(
    consecutive_failures: int,
    *,
    base: float = 2.0,
    cap: float = 300.0,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after ``consecutive_failures`` (>= 1) transient errors in a row.

    Exponential (``base * 2**(n-1)``, capped at ``cap`` seconds) with full jitter in the upper
    half, so a thousand waits hit by the same outage do not retry in lock-step. A server's
    ``Retry-After`` (seconds) is a floor.
    """
    n = max(1, consecutive_failures)
    ceiling = min(cap, base * (2 ** (n - 1)))
    delay = ceiling / 2 + (rng or random).random() * ceiling / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
