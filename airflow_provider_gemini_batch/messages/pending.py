"""The sentences about batches that wait too long to start, or near their 48-hour expiry.

Built from :class:`~airflow_provider_gemini_batch._core.pending.PendingSignal` facts; the trigger,
the operators' worker-side wait and the sensor all log these same words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_gemini_batch._core.pending import EXPIRY_SECONDS, PendingSignal, SignalKind

#: Where users reported batches stuck in PENDING until they expired (cited in messages and docs).
REPORTS = "python-genai #1482 and #2974, js-genai #1453"


def duration(seconds: float) -> str:
    """``seconds`` for a person: ``45 s``, ``12 min 5 s``, ``3 h 4 min``, ``2 d 5 h``."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    if total == 0 and seconds > 0:
        return f"{seconds:.1f} s"
    return f"{secs} s"


def _since(signal: PendingSignal) -> str:
    return "since it was created" if signal.timed_from_create else "since this wait first saw it"


def stuck_text(signal: PendingSignal, policy: str) -> str:
    """The line logged when a batch is flagged as stuck in PENDING."""
    head = (
        f"Batch {signal.batch_name} has been PENDING for {duration(signal.age)} {_since(signal)}, "
        f"past pending_timeout ({duration(signal.limit)})."
    )
    if policy == "warn":
        return (
            f"{head} Still waiting for it (on_pending_timeout='warn'). Batches stuck in PENDING have "
            f"stayed there until they expired 48 h after creation ({REPORTS}); to replace such a "
            "batch automatically set on_pending_timeout='recreate' on the create task, or cancel it "
            "and clear the create task."
        )
    return f"{head} on_pending_timeout={policy!r}: cancelling it."


def near_expiry_text(signal: PendingSignal, state: str) -> str:
    """The line logged once when a batch that has not ended nears its 48-hour expiry."""
    left = max(0.0, EXPIRY_SECONDS - signal.age)
    return (
        f"Batch {signal.batch_name} was created {duration(signal.age)} ago and is still {state}; the "
        f"service expires a batch 48 h after creation, so it expires in about {duration(left)} and "
        "then offers no results for the requests it has not run."
    )


def signal_text(signal: PendingSignal, policy: str, state: str) -> str:
    """The line for any signal (see :func:`stuck_text`, :func:`near_expiry_text`)."""
    if signal.kind is SignalKind.STUCK:
        return stuck_text(signal, policy)
    return near_expiry_text(signal, state)


def attempts_text(attempts: Sequence[Mapping[str, Any]]) -> str:
    """``batches/a (CANCELLED after 6 h 0 min PENDING), batches/b (...)`` for the attempts so far."""
    parts = []
    for attempt in attempts:
        ended = attempt.get("ended") or "not seen ending"
        pending = attempt.get("pending_seconds")
        waited = f" after {duration(float(pending))} PENDING" if isinstance(pending, (int, float)) else ""
        parts.append(f"{attempt.get('batch_name')} ({ended}{waited})")
    return ", ".join(parts) or "none"


def stuck_failure_text(
    signal: PendingSignal,
    policy: str,
    settled: str,
    *,
    attempts: Sequence[Mapping[str, Any]] = (),
    max_recreates: int | None = None,
) -> str:
    """The error of a task whose batch stayed PENDING too long (``fail``, or ``recreate`` out of
    attempts): what happened, to which batch, how long, the policy, what became of the batch and
    what to do.

    :param settled: one sentence on the state the batch ended in after the cancel.
    :param attempts: the batches replaced before this one (``recreate``).
    """
    head = (
        f"Batch {signal.batch_name} was still PENDING {duration(signal.age)} {_since(signal)}, past "
        f"pending_timeout ({duration(signal.limit)}), and on_pending_timeout={policy!r}"
    )
    if policy == "recreate":
        head += (
            f" had already replaced {len(attempts)} stuck batch(es), the most max_pending_recreates="
            f"{max_recreates} allows: {attempts_text(attempts)}"
        )
    return (
        f"{head}. It was cancelled rather than left to expire: {settled} Clearing this task submits "
        "a new batch (a cancelled batch is never reattached). If the service is slow to start "
        f"batches for everyone ({REPORTS}), raise pending_timeout or keep on_pending_timeout='warn'; "
        "to replace stuck batches automatically use on_pending_timeout='recreate' (bounded by "
        "max_pending_recreates)."
    )


def not_ended_text(batch_name: str, settled: str) -> str:
    """The error when a stuck batch did not end after its cancel, so no replacement is created."""
    return (
        f"Batch {batch_name} stayed PENDING past pending_timeout and a cancel was requested, but it "
        f"had not ended when last read: {settled} No replacement was created, so that two batches of "
        "this task never run at once. Clear this task later: it reattaches to the batch if it still "
        "runs, or creates a new one once it ended CANCELLED."
    )


def sensor_stuck_text(signal: PendingSignal) -> str:
    """The error of a sensor whose batch stayed PENDING too long (``on_pending_timeout='fail'``).

    A sensor watches a batch another task owns, so it leaves the batch alone."""
    return (
        f"Batch {signal.batch_name} was still PENDING {duration(signal.age)} {_since(signal)}, past "
        f"pending_timeout ({duration(signal.limit)}), and this sensor's on_pending_timeout='fail'. "
        "The sensor only watches the batch, so it was left as it is: cancel it if it should not run, "
        "then clear the create task to submit a new one; or let the create task wait "
        "(wait_for_completion=True) with on_pending_timeout='recreate' to replace stuck batches."
    )
