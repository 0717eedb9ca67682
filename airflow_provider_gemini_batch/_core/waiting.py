"""The wait's pure parts under one name (kept for the modules and tests that import them here).

Each part lives in a module of its own:

* :mod:`~airflow_provider_gemini_batch._core.verdict`: what one observed batch means
  (:func:`interpret`, :class:`WaitTracker`, :func:`verdict_once`, :func:`raise_for_step`);
* :mod:`~airflow_provider_gemini_batch._core.poll_errors`: what a failed poll means
  (:class:`PollErrorPolicy`), shared by the trigger and the worker-side wait;
* :mod:`~airflow_provider_gemini_batch._core.events`: the trigger's event payload and how a task
  reads it back (:func:`make_event`, :func:`parse_event`, :func:`raise_for_event`);
* :mod:`~airflow_provider_gemini_batch._core.settle`: the bounded re-read after a cancel;
* :mod:`~airflow_provider_gemini_batch._core.file_ready`: whether an input file can feed a batch;
* :mod:`airflow_provider_gemini_batch.messages.waiting`: the words of all of these.
"""

from __future__ import annotations

from airflow_provider_gemini_batch._core.events import (
    EventStatus,
    WaitEvent,
    event_for_batch,
    event_for_step,
    make_event,
    parse_event,
    raise_for_event,
)
from airflow_provider_gemini_batch._core.file_ready import (
    DEFAULT_FILE_ACTIVE_TIMEOUT,
    FILE_ACTIVE_INTERVAL,
    FileReadiness,
    file_readiness,
)
from airflow_provider_gemini_batch._core.poll_errors import (
    WORKER_POLL_ERRORS,
    ErrorAction,
    ErrorOutcome,
    PollErrorPolicy,
)
from airflow_provider_gemini_batch._core.settle import (
    CANCEL_SETTLE_INTERVAL,
    DEFAULT_CANCEL_SETTLE_SECONDS,
    asettle_after_cancel,
    settle_after_cancel,
)
from airflow_provider_gemini_batch._core.verdict import (
    DEFAULT_OUTPUT_GRACE_SECONDS,
    Outcome,
    OutcomeKind,
    Step,
    StepKind,
    WaitTracker,
    interpret,
    raise_for_step,
    verdict_once,
)
from airflow_provider_gemini_batch.messages.waiting import (
    LANDING_AFTER_FAILURE_HINT,
    SENSOR_TIMEOUT_ADVICE,
    create_timeout_advice,
    describe_deferral,
    describe_failure,
    describe_file_error,
    describe_settled,
    timeout_message,
)

__all__ = [
    "CANCEL_SETTLE_INTERVAL",
    "DEFAULT_CANCEL_SETTLE_SECONDS",
    "DEFAULT_FILE_ACTIVE_TIMEOUT",
    "DEFAULT_OUTPUT_GRACE_SECONDS",
    "FILE_ACTIVE_INTERVAL",
    "LANDING_AFTER_FAILURE_HINT",
    "SENSOR_TIMEOUT_ADVICE",
    "WORKER_POLL_ERRORS",
    "ErrorAction",
    "ErrorOutcome",
    "EventStatus",
    "FileReadiness",
    "Outcome",
    "OutcomeKind",
    "PollErrorPolicy",
    "Step",
    "StepKind",
    "WaitEvent",
    "WaitTracker",
    "asettle_after_cancel",
    "create_timeout_advice",
    "describe_deferral",
    "describe_failure",
    "describe_file_error",
    "describe_settled",
    "event_for_batch",
    "event_for_step",
    "file_readiness",
    "interpret",
    "make_event",
    "parse_event",
    "raise_for_event",
    "raise_for_step",
    "settle_after_cancel",
    "timeout_message",
    "verdict_once",
]
