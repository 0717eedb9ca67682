"""What a failed poll means for a wait: retry after a backoff, run out of time, give up, or fail.

Pure: the caller passes the error, how many polls failed in a row before it and the seconds left
before its deadline, and gets an :class:`ErrorOutcome` back; it sleeps, logs and builds its
event or exception itself (the words are in :mod:`airflow_provider_gemini_batch.messages.waiting`).
Every wait uses it:

* the trigger's loop, whose hook makes one attempt per call, with ``max_consecutive_errors``
  (default 10) and its own backoff bounds (``backoff_base``, ``backoff_cap``);
* the capacity trigger's count of the project's batches (the same rules; a backoff longer than
  the time left is cut to it, and its deadline check ends the wait);
* the worker-side wait (the operators' ``poll_until_done`` and the sensor's ``poke``) with
  :data:`WORKER_POLL_ERRORS`: its sync hook has already retried each read with the connection's
  retry policy, so one read that still fails ends the wait and the task's ``retries`` apply.

Which errors are worth waiting out is :func:`~airflow_provider_gemini_batch._core.retry.is_retryable`
for an idempotent call (408, 429 other than a zero quota, 5xx, no answer); everything else (404
after a delete or under another key, a bad key, a broken connection) fails at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from airflow_provider_gemini_batch._core.retry import RetryPolicy, is_retryable


class ErrorAction(str, enum.Enum):
    """What the waiter does after a failed poll."""

    RETRY = "retry"  # sleep ``delay`` seconds (outside any poll slot), then poll again
    OUT_OF_TIME = "out_of_time"  # the next attempt would pass the deadline: wait it out, then time out
    GIVE_UP = "give_up"  # transient errors persisted ``max_consecutive_errors`` polls in a row
    FAIL = "fail"  # an error no wait can outlast


@dataclass(frozen=True)
class ErrorOutcome:
    """The verdict on one failed poll.

    :param action: what to do next.
    :param failures: consecutive transient failures counting this one (for RETRY, OUT_OF_TIME and
        GIVE_UP; for FAIL, the count before it, unchanged).
    :param delay: seconds to back off before the next poll (RETRY, OUT_OF_TIME), else 0.
    """

    action: ErrorAction
    failures: int
    delay: float = 0.0

    @property
    def ends_wait(self) -> bool:
        """Whether the wait ends here (GIVE_UP or FAIL; OUT_OF_TIME ends it at the deadline)."""
        return self.action in (ErrorAction.GIVE_UP, ErrorAction.FAIL)


@dataclass(frozen=True)
class PollErrorPolicy:
    """How many failed polls a wait tolerates and how long it backs off between them.

    :param max_consecutive_errors: transient failures in a row that end the wait (default 10;
        1 ends it at the first failure).
    :param backoff: the one retry policy of ``_core/retry.py``; only its backoff is used
        (:meth:`RetryPolicy.delay_for`: jittered, exponential, ``Retry-After`` as a floor up to
        ``max_delay``), not its ``max_retries``/``deadline``.
    """

    max_consecutive_errors: int = 10
    backoff: RetryPolicy = field(default_factory=RetryPolicy)

    def judge(self, error: BaseException, failures: int, remaining: float) -> ErrorOutcome:
        """The outcome of a poll that failed with ``error``.

        :param failures: consecutive failed polls before this one (0 after a good poll).
        :param remaining: seconds left before the wait's deadline (``math.inf`` for none).
        """
        if not is_retryable(error, idempotent=True):
            return ErrorOutcome(ErrorAction.FAIL, failures)
        failures += 1
        if failures >= self.max_consecutive_errors:
            return ErrorOutcome(ErrorAction.GIVE_UP, failures)
        delay = self.backoff.delay_for(error, failures)
        if delay >= remaining:
            return ErrorOutcome(ErrorAction.OUT_OF_TIME, failures, delay)
        return ErrorOutcome(ErrorAction.RETRY, failures, delay)


#: The worker-side wait's policy: the sync hook retried the read already, so a failure is final.
WORKER_POLL_ERRORS = PollErrorPolicy(max_consecutive_errors=1)
