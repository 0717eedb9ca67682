"""Capacity-aware creates: what the create operator does when the project is at its batch limit.

A create refused with the concurrent-batch limit's 429 (``_core/capacity.is_capacity_refusal``)
neither fails the task nor retries blindly:

* deferrable: the task defers to :class:`~airflow_provider_gemini_batch.triggers.capacity.
  GeminiBatchCapacityTrigger`, which watches the project's batches in flight from the triggerer
  (no worker slot held) and resumes the task when a slot looks free; the task then runs its
  create path again from the top (reattach lookup first, so a batch that exists is not made twice);
* not deferrable: the worker counts the project's batches itself (bounded list walks, backoff
  between counts) until a slot looks free, then creates again.

Both are bounded by ``capacity_timeout`` (an absolute deadline carried across deferrals and
refusals); past it the task fails with :class:`~airflow_provider_gemini_batch.exceptions.
GeminiBatchTimeoutError` and nothing was created.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_gemini_batch._core import retry
from airflow_provider_gemini_batch._core.capacity import (
    MAX_COUNT_PAGES,
    InFlightCount,
    slot_looks_free,
)
from airflow_provider_gemini_batch._core.retry import RetryPolicy, is_retryable
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiBatchTimeoutError,
    GeminiRateLimitError,
)
from airflow_provider_gemini_batch.triggers.capacity import FREE, TIMEOUT, GeminiBatchCapacityTrigger

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.operators.create import GeminiCreateBatchOperator

#: The operator method a capacity deferral resumes in.
RESUME_METHOD = "execute_after_capacity"


def count_in_flight_sync(hook: Any, max_pages: int = MAX_COUNT_PAGES) -> InFlightCount:
    """The worker-side count: the project's batches in flight on at most ``max_pages`` pages of
    the (light, newest-first) list, stopping at the first batch past the 48 h expiry."""
    count = InFlightCount()
    now = datetime.now(timezone.utc)
    budget = max(1, max_pages) * max(1, int(getattr(hook, "list_page_size", 100) or 100))
    for batch in hook.list_batches(light=True):
        if count.scanned >= budget:
            count.complete = False
            break
        if count.add_page((batch,), now):
            break
    return count


def _refused_message(op: GeminiCreateBatchOperator, exc: GeminiRateLimitError, what: str) -> str:
    return (
        f"The project is at its concurrent-batch limit (concurrent_batch_limit={op.concurrent_batch_limit}; "
        f"the create was refused with HTTP {exc.http_status} {exc.status or ''}); {what}"
    )


def wait_for_capacity(op: GeminiCreateBatchOperator, exc: GeminiRateLimitError) -> None:
    """After a refused create: defer until a slot looks free, or (not deferrable) wait for one here.

    Returns (not deferrable) when the caller may create again.

    :raises TaskDeferred: (deferrable) via ``op.defer``; the task resumes in :data:`RESUME_METHOD`.
    :raises GeminiBatchTimeoutError: ``capacity_timeout`` passed; nothing was created.
    """
    op.capacity_attempt += 1
    if op.capacity_end_time is None:
        op.capacity_end_time = time.time() + float(op.capacity_timeout_seconds)
    end_time = op.capacity_end_time
    if time.time() >= end_time:
        raise _timeout(op, None)
    if op.deferrable:
        op.log.info("%s", _refused_message(op, exc, "deferring until one of its running batches finishes."))
        op.defer(
            trigger=GeminiBatchCapacityTrigger(
                gemini_conn_id=op.gemini_conn_id,
                limit=int(op.concurrent_batch_limit),
                attempt=op.capacity_attempt,
                end_time=end_time,
                poll_interval=float(op.capacity_poll_interval),
            ),
            method_name=RESUME_METHOD,
        )
    op.log.info(
        "%s",
        _refused_message(
            op,
            exc,
            f"waiting in the worker until one of its running batches finishes (at most "
            f"{max(0.0, end_time - time.time()):.0f} s more; deferrable=True would free the worker).",
        ),
    )
    _wait_in_worker(op, end_time)


def _wait_in_worker(op: GeminiCreateBatchOperator, end_time: float) -> None:
    policy = RetryPolicy(initial_delay=2.0, max_delay=300.0)
    started = time.monotonic()
    min_wait = policy.backoff(op.capacity_attempt)
    first_seen: int | None = None
    failures = 0
    interval = float(op.capacity_poll_interval)
    while True:
        try:
            count = count_in_flight_sync(op.hook)
        except GeminiBatchError as exc:
            if not is_retryable(exc, idempotent=True):
                raise
            failures += 1
            delay = policy.delay_for(exc, failures)
            if time.time() + delay >= end_time:
                raise _timeout(op, None) from exc
            op.log.warning("Counting the project's batches failed, retrying in %.1f s: %s", delay, exc)
            retry.sleep(delay)
            continue
        failures = 0
        if first_seen is None:
            first_seen = count.running
        if slot_looks_free(count.running, int(op.concurrent_batch_limit), first_seen):
            retry.sleep(max(0.0, min(min_wait - (time.monotonic() - started), end_time - time.time())))
            op.log.info("A batch slot looks free (%d batches in flight); creating again.", count.running)
            return
        if time.time() + interval >= end_time:
            raise _timeout(op, count.running)
        op.log.info(
            "The project has %d batches in flight; waiting %.0f s before counting again.",
            count.running,
            interval,
        )
        retry.sleep(interval)


def _timeout(op: GeminiCreateBatchOperator, running: int | None) -> GeminiBatchTimeoutError:
    seen = "" if running is None else f" ({running} batches in flight at the last count)"
    return GeminiBatchTimeoutError(
        f"{op.task_id}: no batch slot came free within capacity_timeout="
        f"{float(op.capacity_timeout_seconds):.0f} s{seen}; nothing was created. Clear the task to "
        "try again, or raise capacity_timeout."
    )


def resume_after_capacity(op: GeminiCreateBatchOperator, event: Any) -> None:
    """Restore the capacity state from a :class:`GeminiBatchCapacityTrigger` event (nothing on
    ``op`` survives a deferral), so the caller can run the create path again.

    :raises GeminiBatchTimeoutError: the event says the deadline passed.
    :raises GeminiBatchError: the event says the batches could not be counted (retryable).
    """
    data: Mapping[str, Any] = event if isinstance(event, Mapping) else {}
    status = data.get("status")
    op.capacity_attempt = int(data.get("attempt") or 1)
    end_time = data.get("end_time")
    op.capacity_end_time = float(end_time) if isinstance(end_time, (int, float)) else None
    message = str(data.get("message") or "")
    if status == FREE:
        op.log.info("%s", message)
        return
    if status == TIMEOUT:
        raise GeminiBatchTimeoutError(f"{op.task_id}: {message}")
    raise GeminiBatchError(f"{op.task_id}: {message or 'the capacity wait ended without an answer'}")
