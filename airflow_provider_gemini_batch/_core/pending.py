"""How long a batch has waited to start, and when that is too long. Pure: no I/O, no text.

A batch the service never starts stays PENDING until it EXPIRES, 48 hours after it was created
(REST reference ``BatchState``: "expired: the batch was pending or running for more than 48
hours"). Users have watched that happen: python-genai #1482 ("stuck all jobs on
BATCH_STATE_PENDING for more than 24 hours"; a later comment there: five such batches ended
JOB_STATE_EXPIRED, while small batches on other models finished within 10 minutes), #2221
(PENDING for more than 24 hours; others mention up to 4 days of delay), #2974 (not SUCCEEDED
after 24+ hours) and js-genai #1453 (PENDING for more than 24 hours, where "these same jobs were
usually completing within a few hours"; they went on to recreate stuck batches).

:data:`DEFAULT_PENDING_TIMEOUT` is 6 hours: several times the "few hours" in which healthy batches
of those reports *finished* (not merely started), so a healthy batch is not flagged, and early
enough that a replacement still has 42 of its own 48 hours. Flagging costs a log line (the
default policy is to warn), so the default leans early.

Every waiter (the create operator's wait, the sensor, the trigger) keeps one :class:`PendingWatch`
per wait. Its clock is the batch's ``createTime`` (``time.time()`` scale), not the start of the
task: a retried or resumed wait, or a task that reattached to the batch, keeps counting where the
batch's life began. A batch whose answer carries no ``createTime`` is timed from the first time
this wait saw it.

What the watch reports is a :class:`PendingSignal` of facts (kind, seconds); the sentences a
person reads are built from them in ``airflow_provider_gemini_batch/messages/pending.py``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.states import BatchState

#: Seconds a batch may stay PENDING (or QUEUED) after its ``createTime`` before it is flagged.
DEFAULT_PENDING_TIMEOUT = 6 * 3600.0
#: Seconds after ``createTime`` at which the service expires a batch that has not ended.
EXPIRY_SECONDS = 48 * 3600.0
#: Seconds before expiry from which a waiter says the batch is near it (once per wait).
NEAR_EXPIRY_MARGIN = 6 * 3600.0
#: Replacement batches the ``recreate`` policy creates at most for one task instance.
DEFAULT_MAX_PENDING_RECREATES = 2

PendingPolicy = Literal["warn", "fail", "recreate"]
#: The policies, default first.
PENDING_POLICIES: tuple[str, ...] = ("warn", "fail", "recreate")

#: States in which a batch has not started. ``QUEUED`` is the SDK's (and Vertex's) spelling of a
#: waiting job (python-genai ``JobState``); the REST service reports PENDING.
NOT_STARTED: frozenset[BatchState] = frozenset({BatchState.PENDING, BatchState.QUEUED})


class SignalKind(str, enum.Enum):
    STUCK = "stuck"  # still not started after the pending timeout
    NEAR_EXPIRY = "near_expiry"  # not ended, and the 48 h expiry is less than the margin away


@dataclass(frozen=True)
class PendingSignal:
    """One thing a waiter must say (or act on) about a batch, reported once per wait.

    :param kind: what happened.
    :param batch_name: the batch.
    :param age: seconds since ``createTime`` (or since first seen, without one).
    :param limit: the pending timeout (STUCK) or the expiry (NEAR_EXPIRY), seconds.
    :param stop: the policy wants the wait to stop here (``fail``/``recreate`` on STUCK).
    :param timed_from_create: False when the batch carried no ``createTime``.
    """

    kind: SignalKind
    batch_name: str
    age: float
    limit: float
    stop: bool = False
    timed_from_create: bool = True


class PendingTooLong(Exception):
    """Control flow of a synchronous wait: the batch stayed PENDING past the timeout and the policy
    is ``fail`` or ``recreate``. Carries the last batch read and the signal; never reaches a user
    (the operator turns it into the policy's action)."""

    def __init__(self, batch: Batch, signal: PendingSignal) -> None:
        super().__init__(signal.batch_name)
        self.batch = batch
        self.signal = signal


def check_policy(policy: object) -> str | None:
    """None when ``policy`` is one of :data:`PENDING_POLICIES`, else what is wrong (for the caller's
    error message)."""
    if policy in PENDING_POLICIES:
        return None
    return f"must be one of {', '.join(repr(p) for p in PENDING_POLICIES)}, got {policy!r}"


def created_at(batch: Batch) -> float | None:
    """The batch's ``createTime`` as epoch seconds, or None when the answer carried none."""
    return batch.create_time.timestamp() if batch.create_time is not None else None


class PendingWatch:
    """The pending memory of one wait: what was already said, when the batch was first seen.

    :param batch_name: the batch watched.
    :param timeout: the pending timeout, seconds (> 0), or None to never flag a pending batch
        (the near-expiry signal is still given).
    :param policy: ``"warn"`` (flag and keep waiting), ``"fail"`` or ``"recreate"`` (flag with
        :attr:`PendingSignal.stop`: the caller acts).
    """

    def __init__(self, batch_name: str, timeout: float | None, policy: str = "warn") -> None:
        self.batch_name = batch_name
        self.timeout = timeout
        self.policy = policy
        self._first_seen: float | None = None
        self._said: set[SignalKind] = set()
        #: The STUCK signal, once given (for reports after the wait).
        self.stuck: PendingSignal | None = None

    def observe(self, batch: Batch, now: float) -> PendingSignal | None:
        """Judge one observation at ``now`` (epoch seconds, ``time.time()``); returns a signal the
        first time one applies, else None. A batch that ended yields nothing."""
        if self._first_seen is None:
            self._first_seen = now
        if batch.done:
            return None
        created = created_at(batch)
        age = now - (created if created is not None else self._first_seen)
        timed = created is not None
        if (
            self.timeout is not None
            and batch.state in NOT_STARTED
            and age >= self.timeout
            and SignalKind.STUCK not in self._said
        ):
            self._said.add(SignalKind.STUCK)
            self.stuck = PendingSignal(
                SignalKind.STUCK,
                batch.name or self.batch_name,
                age,
                self.timeout,
                stop=self.policy != "warn",
                timed_from_create=timed,
            )
            return self.stuck
        if age >= EXPIRY_SECONDS - NEAR_EXPIRY_MARGIN and SignalKind.NEAR_EXPIRY not in self._said:
            self._said.add(SignalKind.NEAR_EXPIRY)
            return PendingSignal(
                SignalKind.NEAR_EXPIRY,
                batch.name or self.batch_name,
                age,
                EXPIRY_SECONDS,
                timed_from_create=timed,
            )
        return None
