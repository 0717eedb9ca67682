"""The synchronous wait on a worker, shared by the create operator and the sensor.

The decision is :mod:`airflow_provider_gemini_batch._core.verdict` (one :class:`WaitTracker` per
wait, the same the trigger uses) and a failed read is judged by the trigger's error policy too
(:mod:`airflow_provider_gemini_batch._core.poll_errors`); this module adds only the worker's I/O
around them: one read (:func:`read_batch`), one poll (:func:`poll_once`, the sensor's ``poke``
and :func:`poll_until_done` both use it), the cancel
with its bounded re-read (:func:`cancel_and_settle`) and what a timed-out wait with
``cancel_on_timeout`` reports (:func:`settle_timed_out_wait`). ``time.sleep`` and
``time.monotonic`` are the only clock boundaries.
"""

from __future__ import annotations

import math
import time

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.pending import PendingTooLong, PendingWatch
from airflow_provider_gemini_batch._core.poll_errors import WORKER_POLL_ERRORS, ErrorAction, PollErrorPolicy
from airflow_provider_gemini_batch._core.settle import (
    CANCEL_SETTLE_INTERVAL,
    DEFAULT_CANCEL_SETTLE_SECONDS,
    settle_after_cancel,
)
from airflow_provider_gemini_batch._core.verdict import (
    DEFAULT_OUTPUT_GRACE_SECONDS,
    Step,
    StepKind,
    WaitTracker,
    raise_for_step,
    verdict_once,
)
from airflow_provider_gemini_batch.exceptions import GeminiBatchError, GeminiBatchTimeoutError
from airflow_provider_gemini_batch.messages.pending import signal_text
from airflow_provider_gemini_batch.messages.waiting import (
    create_timeout_advice,
    describe_settled,
    sync_timeout_stopped,
    timeout_message,
)
from airflow_provider_gemini_batch.operators._common import BatchCanceller, BatchReader, KillableWait, TaskLog

#: Seconds ``on_kill`` spends re-reading after its cancel (Airflow bounds ``on_kill`` too).
ON_KILL_SETTLE_SECONDS = 10.0


def cancel_and_settle(
    hook: BatchCanceller,
    batch_name: str,
    log: TaskLog,
    *,
    settle_timeout: float = DEFAULT_CANCEL_SETTLE_SECONDS,
) -> Batch | None:
    """Request a cancel, then re-read the batch (bounded) and log the state it really ended in.

    A cancel is a request, not an outcome: a batch being cancelled may still end SUCCEEDED or
    FAILED (python-genai ``JobState.JOB_STATE_CANCELLING``). Returns the last batch read (None if
    none could be read); never raises for the cancel itself.
    """
    try:
        hook.cancel_batch(batch_name)
    except GeminiBatchError as exc:
        log.warning("Could not cancel %s: %s", batch_name, exc)
    settled = settle_after_cancel(
        lambda: hook.get_batch(batch_name, light=True),
        timeout=settle_timeout,
        interval=CANCEL_SETTLE_INTERVAL,
        clock=time.monotonic,
        sleep=time.sleep,
    )
    log.info("%s", describe_settled(batch_name, settled))
    return settled


def cancel_in_flight(op: KillableWait, batch_name: str | None, enabled: bool) -> None:
    """Best-effort cancel of a batch a killed task was waiting for, then a bounded re-read."""
    if not batch_name or not enabled:
        return
    op.log.info("Task killed; cancelling %s.", batch_name)
    cancel_and_settle(op.hook, batch_name, op.log, settle_timeout=ON_KILL_SETTLE_SECONDS)


def raise_for_outcome(batch: Batch) -> None:
    """Raise :class:`GeminiBatchFailedError` for a batch that ended FAILED, CANCELLED, EXPIRED
    or done in an unknown state (the FAILURE verdict of :func:`verdict_once`; nothing else)."""
    step = verdict_once(batch)
    if step.kind is StepKind.FAILURE:
        raise_for_step(step, batch)


def read_batch(
    hook: BatchReader, tracker: WaitTracker, policy: PollErrorPolicy = WORKER_POLL_ERRORS
) -> Batch:
    """Read the tracked batch (light unless the tracker asks for a full read), failed reads
    judged by ``policy`` (the error policy the trigger uses too).

    With the default :data:`WORKER_POLL_ERRORS` a read that fails is final: the sync hook has
    already retried it with the connection's retry policy.

    :raises GeminiBatchError: the read failed and ``policy`` ends the wait (the hook's own error).
    """
    failures = 0
    while True:
        try:
            return hook.get_batch(tracker.batch_name, light=tracker.light)
        except GeminiBatchError as exc:
            outcome = policy.judge(exc, failures, math.inf)
            if outcome.action is not ErrorAction.RETRY:
                raise
            failures = outcome.failures
            time.sleep(outcome.delay)


def poll_once(
    hook: BatchReader, tracker: WaitTracker, log: TaskLog, pending: PendingWatch | None = None
) -> tuple[Batch, Step]:
    """One poll of a synchronous wait: read (light unless the tracker asks for a full read),
    judge with ``tracker``, log the state when it changed and each new warning once.

    With ``pending``, a batch still PENDING past its timeout, or near its 48 h expiry, is logged
    (once per wait, measured from its ``createTime``: ``time.time()`` is the clock).

    :returns: the batch read and the verdict (WAIT or SUCCESS).
    :raises PendingTooLong: the batch is stuck in PENDING and the policy is not ``warn`` (the
        caller applies it).
    :raises GeminiBatchFailedError: the batch ended FAILED, CANCELLED, EXPIRED or done in an
        unknown state.
    :raises GeminiBatchOutputMissingError: the batch reports success but names no output after
        the grace.
    :raises GeminiBatchError: the batch could not be read (:func:`read_batch`).
    """
    batch = read_batch(hook, tracker)
    step = tracker.observe(batch, time.monotonic())
    if step.state_changed:
        log.info("%s", step.message)
    if step.warning:
        log.warning("%s", step.warning)
    raise_for_step(step, batch)
    signal = pending.observe(batch, time.time()) if pending is not None else None
    if signal is not None:
        log.warning("%s", signal_text(signal, pending.policy if pending else "warn", batch.state_label))
        if signal.stop:
            raise PendingTooLong(batch, signal)
    return batch, step


def settle_timed_out_wait(
    hook: BatchCanceller, batch_name: str, log: TaskLog, *, settle_timeout: float
) -> tuple[Batch | None, bool]:
    """Cancel a batch whose wait timed out and judge the state it settled in.

    :returns: ``(settled, succeeded)``: the last batch read (None if none could be read) and
        whether it still ended successfully (the wait then succeeds). When it had not ended, the
        caller raises its own timeout error.
    :raises GeminiBatchFailedError, GeminiBatchOutputMissingError: it ended badly (as
        :func:`poll_once`).
    """
    settled = cancel_and_settle(hook, batch_name, log, settle_timeout=settle_timeout)
    if settled is None or not settled.done:
        return settled, False
    step = verdict_once(settled, batch_name)
    raise_for_step(step, settled)
    return settled, step.kind is StepKind.SUCCESS


def poll_until_done(
    hook: BatchCanceller,
    batch_name: str,
    poll_interval: float,
    end_time: float,
    log: TaskLog,
    *,
    output_grace: float = DEFAULT_OUTPUT_GRACE_SECONDS,
    cancel_on_timeout: bool = False,
    settle_timeout: float = DEFAULT_CANCEL_SETTLE_SECONDS,
    pending: PendingWatch | None = None,
) -> Batch:
    """Synchronous wait with the same decision as the trigger (one :class:`WaitTracker`).

    Polls are light (``fields`` mask); a success without an output reference is re-read in full
    for up to ``output_grace`` seconds. Transient errors are already retried inside the sync
    hook. ``time.sleep`` is the only clock boundary (tests may patch it).

    :returns: the batch that ended SUCCEEDED or PARTIALLY_SUCCEEDED (the latter logged as a warning).
    :raises GeminiBatchFailedError: the batch ended FAILED, CANCELLED, EXPIRED or done in an
        unknown state.
    :raises GeminiBatchOutputMissingError: the batch reports success but names no output after
        the grace.
    :raises GeminiBatchTimeoutError: ``end_time`` (epoch seconds) passed first (with
        ``cancel_on_timeout``: after the cancel, when the batch did not end SUCCEEDED). Without
        ``cancel_on_timeout`` the message says the batch was left running and how to keep waiting
        for it (a :class:`GeminiBatchSensor`; this function serves the create operator).
    :raises PendingTooLong: (with ``pending``) the batch stayed PENDING past the timeout and the
        policy is ``fail`` or ``recreate``.
    """
    tracker = WaitTracker(batch_name, output_grace=output_grace)
    while True:
        batch, step = poll_once(hook, tracker, log, pending)
        if step.kind is StepKind.SUCCESS:
            return batch
        remaining = end_time - time.time()
        if remaining <= 0:
            message = sync_timeout_stopped(batch_name, tracker.last_state)
            if not cancel_on_timeout:
                raise GeminiBatchTimeoutError(
                    timeout_message(batch_name, tracker.last_state, create_timeout_advice(batch_name))
                )
            settled, succeeded = settle_timed_out_wait(hook, batch_name, log, settle_timeout=settle_timeout)
            if settled is not None and succeeded:
                log.warning("%s %s", message, describe_settled(batch_name, settled))
                return settled
            raise GeminiBatchTimeoutError(f"{message} {describe_settled(batch_name, settled)}")
        time.sleep(min(poll_interval, remaining))
