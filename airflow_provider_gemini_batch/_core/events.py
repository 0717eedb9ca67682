"""The trigger's one event, and how a task reads it back. Pure.

The trigger builds exactly one event of primitives with :func:`make_event` (or
:func:`event_for_step` from a verdict); the operators' ``execute_complete`` validate it with
:func:`parse_event` and turn it into a return value or a typed exception with
:func:`raise_for_event`. ``dag.test()`` drops ``defer(kwargs=...)``, so everything the worker needs
after the wait (batch name included) travels in this payload.

The payload's shape is a contract with running deployments: an event a trigger of an earlier
release serialized must still be read, so keys and status values only ever grow
(``{"status", "batch_name", "message", "summary"}``, plus ``"pending"`` when the batch was
flagged as stuck).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.verdict import Step, StepKind, verdict_once
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiBatchFailedError,
    GeminiBatchOutputMissingError,
    GeminiBatchTimeoutError,
)


class EventStatus(str, enum.Enum):
    """How a wait ended."""

    SUCCESS = "success"  # the batch SUCCEEDED
    FAILURE = "failure"  # the batch ended FAILED, CANCELLED or EXPIRED (or done in an unknown state)
    NO_OUTPUT = "no_output"  # it reports success but names no output, after the grace (final)
    TIMEOUT = "timeout"  # our own deadline passed while the batch was in flight
    # Still PENDING past pending_timeout and the policy is not "warn": the task applies it (the
    # trigger never cancels or creates for it); the payload's "pending" holds the facts (_core/pending.py).
    PENDING_TIMEOUT = "pending_timeout"
    # We could not observe the batch (gave up on transient errors, 404, a bad key): not an outcome
    # of the batch, so the task may retry. (Releases before NO_OUTPUT also sent a missing output as
    # ERROR; such an event from a trigger started by them is then retried once more, harmlessly.)
    ERROR = "error"


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


_EVENT_OF_STEP = {
    StepKind.SUCCESS: EventStatus.SUCCESS,
    StepKind.FAILURE: EventStatus.FAILURE,
    StepKind.ERROR: EventStatus.NO_OUTPUT,
}


def event_for_step(step: Step, batch: Batch, batch_name: str | None = None) -> dict[str, Any] | None:
    """The final event for a tracker verdict, or None while the wait goes on.

    ``batch_name`` names the event when the Operation itself carried no name (a bare
    ``{"done": true, "metadata": {...}}`` answer).
    """
    status = _EVENT_OF_STEP.get(step.kind)
    if status is None:
        return None
    name = batch.name or batch_name or ""
    summary = batch.summary()
    summary["batch_name"] = name
    return make_event(status, name, step.message, summary)


def event_for_batch(batch: Batch, batch_name: str | None = None) -> dict[str, Any] | None:
    """The final event for one observed batch with a fresh tracker (no grace memory)."""
    name = batch.name or batch_name or ""
    return event_for_step(verdict_once(batch, name), batch, name)


#: A Vertex AI batch prediction job's name (the other backend's batches).
_VERTEX_JOB_NAME = re.compile(r"projects/[^/\s]+/locations/[^/\s]+/batchPredictionJobs/[0-9]+")


def parse_event(event: Any) -> WaitEvent:
    """Validate a payload received by ``execute_complete``.

    :raises GeminiBatchError: when the payload is not a mapping with a known ``status`` and a
        ``batches/...`` (or Vertex ``projects/.../batchPredictionJobs/...``) name (a trigger from
        another version, or a corrupted event).
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
    if not isinstance(batch_name, str) or not (
        batch_name.startswith("batches/") or _VERTEX_JOB_NAME.fullmatch(batch_name)
    ):
        raise GeminiBatchError(f"Gemini batch trigger event has no valid batch name: {batch_name!r}.")
    summary = event.get("summary")
    if summary is not None and not isinstance(summary, Mapping):
        raise GeminiBatchError(f"Gemini batch trigger event for {batch_name} has a malformed summary.")
    return WaitEvent(
        status=status, batch_name=batch_name, message=str(event.get("message") or ""), summary=summary
    )


#: The advice earlier releases' triggers put in their timeout event (it did not fit a sensor); a
#: trigger started by such a release may still send it.
_OLD_TRIGGER_ADVICE = "; raise the timeout or wait for it with a GeminiBatchSensor."


def raise_for_event(event: WaitEvent, *, timeout_advice: str | None = None) -> Mapping[str, Any]:
    """Return the batch summary of a successful wait; raise the matching error otherwise.

    :param timeout_advice: appended to a TIMEOUT event's message: what the caller (sensor or
        create operator) should do next. The trigger's own message says only what happened.

    :raises GeminiBatchFailedError: the batch ended FAILED, CANCELLED or EXPIRED (no retries).
    :raises GeminiBatchOutputMissingError: it reports success without output (no retries).
    :raises GeminiBatchTimeoutError: the wait deadline passed (no retries).
    :raises GeminiBatchError: the batch could not be observed (retryable).
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
    if event.status is EventStatus.NO_OUTPUT:
        raise GeminiBatchOutputMissingError(event.message)
    if event.status is EventStatus.TIMEOUT:
        message = event.message.replace(_OLD_TRIGGER_ADVICE, ".")
        if timeout_advice and timeout_advice not in message:
            message = f"{message.rstrip()} {timeout_advice}"
        raise GeminiBatchTimeoutError(message)
    raise GeminiBatchError(event.message)
