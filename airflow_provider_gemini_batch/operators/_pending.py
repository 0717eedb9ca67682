"""The create operator's answer to a batch stuck in PENDING: warn, fail or recreate.

The watch itself (:class:`~airflow_provider_gemini_batch._core.pending.PendingWatch`) runs where
the wait runs: in the worker's poll loop (``_wait.poll_once``) or in the trigger, which sends a
``pending_timeout`` event back instead of acting (a trigger never creates a batch). Here, on the
worker, the policy is applied:

* ``warn``: nothing to do here; the wait logged the flag and goes on. The flag is reported
  under XCom key :data:`ATTEMPTS_XCOM_KEY` when the wait ends (the batch page and the results
  manifest show it).
* ``fail``: cancel the batch, re-read it (bounded) for the state it ended in, and raise
  :class:`~airflow_provider_gemini_batch.exceptions.GeminiBatchStuckError`. A batch that ended
  SUCCEEDED meanwhile is a success after all. The batch is cancelled rather than left: left
  PENDING it may start hours later and bill with no task waiting for it, and a cleared task
  would reattach to it and fail at once (its pending time counts from ``createTime``).
* ``recreate``: the same cancel and re-read; the attempt (batch name, creation time, time spent
  PENDING, reason, end state) is recorded in the task state store *before* a new batch is made;
  only when the old batch has ended does the operator create again, through its ordinary
  idempotent path (same input, same display-name marker; an ended-CANCELLED batch is never
  reattached). So two batches of one task instance never run at once, and a worker killed at any
  point leaves a retry that either reattaches to the one live batch or, if none is live, creates
  one. After ``max_pending_recreates`` replacements, a stuck batch fails the task as ``fail`` does.

The attempts also live under XCom key :data:`ATTEMPTS_XCOM_KEY` (kept across a deferral, cleared
on a new try); on Airflow before 3.3, which has no task state store, the count of replacements
therefore restarts with each try of the task (each try still makes at most
``max_pending_recreates`` of them, one batch at a time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.pending import (
    PendingSignal,
    PendingWatch,
    SignalKind,
    check_policy,
    created_at,
)
from airflow_provider_gemini_batch._core.states import RESULT_STATES
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiBatchStuckError,
    GeminiInvalidInputError,
)
from airflow_provider_gemini_batch.messages.pending import (
    not_ended_text,
    stuck_failure_text,
    stuck_text,
)
from airflow_provider_gemini_batch.messages.waiting import describe_settled
from airflow_provider_gemini_batch.operators._state_store import (
    Recorded,
    read_attempts,
    read_record,
    store_of,
    write_record,
)
from airflow_provider_gemini_batch.operators._wait import cancel_and_settle

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: XCom key of the pending report: ``{"pending_timeout", "on_pending_timeout",
#: "max_pending_recreates", "attempts": [...]}`` (see :func:`report`).
ATTEMPTS_XCOM_KEY = "batch_attempts"


def pending_seconds(value: timedelta | float | None) -> float | None:
    """``pending_timeout`` in seconds (None: never flag)."""
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def check_pending_arguments(
    task_id: str, timeout: Any, policy: Any, max_recreates: Any, *, allowed: Sequence[str] | None = None
) -> None:
    """Refuse bad pending arguments before any request.

    :param allowed: the policies this waiter supports (the sensor cannot recreate).
    :raises GeminiInvalidInputError: naming the argument and the fix.
    """
    problem = check_policy(policy)
    if problem is None and allowed is not None and policy not in allowed:
        problem = (
            f"must be one of {', '.join(repr(p) for p in allowed)} here, got {policy!r} (only "
            "GeminiCreateBatchOperator with wait_for_completion=True knows the input to create again)"
        )
    if problem is not None:
        raise GeminiInvalidInputError(f"{task_id}: on_pending_timeout {problem}.")
    if timeout is not None:
        ok = isinstance(timeout, timedelta) or (
            isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
        )
        if not ok or (pending_seconds(timeout) or 0.0) <= 0:
            raise GeminiInvalidInputError(
                f"{task_id}: pending_timeout must be a positive number of seconds or a timedelta "
                f"(or None to never flag a pending batch), got {timeout!r}."
            )
    if isinstance(max_recreates, bool) or not isinstance(max_recreates, int) or max_recreates < 0:
        raise GeminiInvalidInputError(
            f"{task_id}: max_pending_recreates must be a whole number >= 0, got {max_recreates!r}."
        )


def _when(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def attempt_entry(
    batch_name: str, created: float | None, signal: PendingSignal, *, action: str, ended: str | None
) -> dict[str, Any]:
    """One attempt as recorded: names, times and states only (JSON-native)."""
    return {
        "batch_name": batch_name,
        "created": _when(created),
        "pending_seconds": round(signal.age, 1),
        "reason": f"still PENDING after {round(signal.age)} s (pending_timeout {round(signal.limit)} s)",
        "ended": ended or "not ended",
        "action": action,
    }


def load_attempts(context: Context, recorded: Recorded | None) -> list[dict[str, Any]]:
    """Attempts recorded so far by this task instance: the task state store's (every try), else
    this try's XCom (kept across a deferral)."""
    if recorded is not None and recorded.attempts:
        return [dict(a) for a in recorded.attempts]
    if store_of(context) is not None:
        # The store keeps every attempt (and XComs would be cleared by a new try anyway).
        return []
    ti = context["ti"]
    try:
        value = ti.xcom_pull(task_ids=ti.task_id, key=ATTEMPTS_XCOM_KEY, map_indexes=ti.map_index)
    except Exception:  # no XCom backend reachable: nothing recorded is the safe reading
        value = None
    attempts = value.get("attempts") if isinstance(value, Mapping) else None
    return [dict(a) for a in read_attempts(attempts) if a.get("action") != "current"]


def report(
    op: Any, attempts: Sequence[Mapping[str, Any]], current: str | None, flag: PendingSignal | None
) -> dict[str, Any]:
    """The XCom value of :data:`ATTEMPTS_XCOM_KEY`: the settings and every attempt, the batch being
    waited for last (``action: "current"``, with ``flag`` when it was flagged under ``warn``)."""
    rows = [dict(a) for a in attempts]
    if current:
        row: dict[str, Any] = {"batch_name": current, "action": "current"}
        if flag is not None and flag.kind is SignalKind.STUCK:
            row["pending_seconds"] = round(flag.age, 1)
            row["reason"] = stuck_text(flag, "warn")
        rows.append(row)
    return {
        "pending_timeout": pending_seconds(op.pending_timeout),
        "on_pending_timeout": op.on_pending_timeout,
        "max_pending_recreates": op.max_pending_recreates,
        "attempts": rows,
    }


def push_report(
    context: Context,
    op: Any,
    attempts: Sequence[Mapping[str, Any]],
    current: str | None,
    flag: PendingSignal | None = None,
) -> None:
    """Push the report when there is something to report (an attempt, or a flag)."""
    if attempts or (flag is not None and flag.kind is SignalKind.STUCK):
        context["ti"].xcom_push(key=ATTEMPTS_XCOM_KEY, value=report(op, attempts, current, flag))


def make_watch(op: Any, batch_name: str) -> PendingWatch:
    return PendingWatch(batch_name, pending_seconds(op.pending_timeout), str(op.on_pending_timeout))


def signal_from_event(event: Mapping[str, Any], default_limit: float) -> PendingSignal:
    """The STUCK signal a trigger's ``pending_timeout`` event carries (``event["pending"]``)."""
    raw = event.get("pending")
    data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}

    def number(key: str, default: float) -> float:
        value = data.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default

    return PendingSignal(
        SignalKind.STUCK,
        str(event.get("batch_name")),
        number("age", default_limit),
        number("limit", default_limit),
        stop=True,
        timed_from_create=data.get("timed_from_create") is not False,
    )


def _store_attempts(
    context: Context, op: Any, recorded: Recorded | None, attempts: list[dict[str, Any]]
) -> None:
    """Write ``attempts`` into the task state store record, keeping the rest of the record."""
    write_record(context, replace(recorded or Recorded(), attempts=tuple(attempts)), op.log)


def apply_policy(op: Any, context: Context, signal: PendingSignal) -> Batch | None:
    """Apply ``fail`` or ``recreate`` to the stuck batch ``signal.batch_name``.

    Under ``recreate`` the attempt is recorded twice: as ``replacing`` before the cancel is sent
    (a worker killed from here on leaves a retry that counts it, even if it then reattaches to
    the same batch, which the count then does not count twice), then with the state the batch
    ended in.

    :returns: the batch when it ended SUCCEEDED or PARTIALLY_SUCCEEDED during the cancel (the wait
        then succeeds with it), or None when the caller must create the replacement now (the old
        batch has ended, the attempt is recorded).
    :raises GeminiBatchStuckError: ``fail``, or ``recreate`` with no replacement left.
    :raises GeminiBatchError: (``recreate``) the batch had not ended after the cancel, so no
        replacement is created; retryable (a retry reattaches to it, or replaces it once ended).
    """
    name = signal.batch_name
    recorded = read_record(context, op.log)
    # Earlier attempts: every other batch this task instance replaced (a killed try may already
    # have recorded this one as "replacing").
    attempts = [a for a in load_attempts(context, recorded) if a.get("batch_name") != name]
    policy = str(op.on_pending_timeout)
    replacing = policy == "recreate" and len(attempts) < int(op.max_pending_recreates)
    op.log.warning(
        "Batch %s is stuck in PENDING; on_pending_timeout=%r%s: cancelling it.",
        name,
        policy,
        "" if replacing or policy != "recreate" else f" (all {op.max_pending_recreates} replacements used)",
    )
    if replacing:
        _store_attempts(
            context,
            op,
            recorded,
            [*attempts, attempt_entry(name, None, signal, action="replacing", ended=None)],
        )
    settled = cancel_and_settle(op.hook, name, op.log)
    ended = settled.state.short if settled is not None and settled.done else None
    created = created_at(settled) if settled is not None else None
    if settled is not None and settled.state in RESULT_STATES:
        # It started and finished after all: a success, with the flag reported.
        if replacing:
            _store_attempts(context, op, recorded, attempts)
        push_report(context, op, attempts, name, signal)
        return settled
    entry = attempt_entry(name, created, signal, action="replaced" if replacing else "cancelled", ended=ended)
    if replacing and ended is not None:
        attempts.append(entry)
        # Recorded before the replacement exists: a retry after a worker kill counts it, and finds
        # the old batch ended (not reattached) and the new one, if made, by its marker.
        _store_attempts(context, op, recorded, attempts)
        push_report(context, op, attempts, None)
        op.log.warning(
            "Creating a replacement for %s with the same input (replacement %d of at most %d).",
            name,
            len(attempts),
            op.max_pending_recreates,
        )
        return None
    push_report(context, op, [*attempts, entry], None)
    if replacing:
        # The old batch has not ended: a replacement now could run beside it.
        raise GeminiBatchError(not_ended_text(name, describe_settled(name, settled)))
    raise GeminiBatchStuckError(
        stuck_failure_text(
            signal,
            policy,
            describe_settled(name, settled),
            attempts=attempts,
            max_recreates=int(op.max_pending_recreates),
        ),
        batch_name=name,
        pending_seconds=signal.age,
        policy=policy,
    )


def find_attempts(op: Any, context: Context, batch_name: str) -> list[dict[str, Any]] | None:
    """The attempts an upstream create task reported for ``batch_name`` (under
    :data:`ATTEMPTS_XCOM_KEY`), or None: only create tasks upstream of ``op`` are asked, one XCom
    read for them all; a DAG without any costs no read."""
    try:
        # ``op.dag`` raises (RuntimeError) for a task run outside a DAG: nothing to look at then.
        upstream = op.get_flat_relatives(upstream=True) if op.dag is not None else ()
    except RuntimeError:
        return None
    task_ids = sorted(t.task_id for t in upstream if hasattr(t, "max_pending_recreates"))
    if not task_ids:
        return None
    values = context["ti"].xcom_pull(task_ids=task_ids, key=ATTEMPTS_XCOM_KEY)
    for value in values if isinstance(values, list) else [values]:
        attempts = read_attempts(value.get("attempts")) if isinstance(value, Mapping) else ()
        if any(a.get("batch_name") == batch_name for a in attempts):
            return [dict(a) for a in attempts]
    return None


def attempts_warning(attempts: Sequence[Mapping[str, Any]], batch_name: str) -> str | None:
    """The manifest's sentence about a batch flagged as stuck or made to replace stuck ones."""
    earlier = [a for a in attempts if a.get("batch_name") != batch_name]
    own = next((a for a in attempts if a.get("batch_name") == batch_name), None)
    parts = []
    if earlier:
        names = ", ".join(str(a.get("batch_name")) for a in earlier)
        parts.append(
            f"{batch_name} replaced {len(earlier)} batch(es) that stayed PENDING past pending_timeout "
            f"and were cancelled ({names}); see 'attempts'."
        )
    if own is not None and own.get("reason") and own.get("action") == "current":
        parts.append(f"{batch_name} was flagged while it waited: {own['reason']}")
    return " ".join(parts) or None
