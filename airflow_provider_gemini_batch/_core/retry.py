"""The one retry policy, used by the sync hook, the async hook and upload chunks.

What is retried
    * HTTP 408, 429, 500, 502, 503, 504 and transport failures (connection refused or reset,
      connect/read timeouts), for *idempotent* calls: get, list, delete, cancel, download, upload
      start (it only opens a session) and upload chunks (they carry their own byte offset).
    * For calls that are **not idempotent** — creating a batch — only failures that prove the
      server never acted on the request: a 429 (the server refused it) or a connection that could
      not be opened. A 429 that is the project's concurrent-batch limit is the exception: it is
      raised at once, and the create operator waits for a free slot (``_core/capacity.py``).
      A timeout after the body was sent, a reset connection or a 5xx may hide a batch that *was*
      created; retrying would create (and bill) a second one, so those are raised
      for the caller to reattach (look the batch up) instead.

How long
    Exponential backoff: ``initial_delay * 2**(n-1)`` capped at ``max_delay``, with "equal jitter"
    (a uniformly random value between half and all of it) so many workers do not retry in step.
    A ``Retry-After`` header or ``RetryInfo.retryDelay`` is a floor for the wait, up to
    ``max_delay``: the server's wish is honoured only as far as the backoff cap, so one answer
    asking for a day (a broken or hostile front end, or a misread HTTP date) cannot park a call or
    a wait until its deadline. At most
    ``max_retries`` retries, and never beyond ``deadline`` seconds in total: a retry whose wait
    would cross the deadline is not made and the last error is raised.

Progress renews the budget
    Calls that move data in many steps (an upload's chunks, a result file's stream) carry a
    :class:`RetryBudget`. Each step that moves data forward calls :meth:`RetryBudget.renew`: the
    retry count and the deadline then count again from that moment, so a 2 GB upload that has
    been running for an hour still gets ``max_retries`` retries within ``deadline`` seconds when
    a chunk fails, and a result stream does not charge the consumer's time between rows to the
    network (the stream renews the budget when the consumer asks for more).

Built on tenacity (installed with Airflow). Sleeping goes through :func:`sleep` /
:func:`async_sleep` and the deadline is read from :func:`monotonic`, both in this module: the
only clock and sleep boundaries tests patch.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tenacity

from airflow_provider_gemini_batch._core.capacity import is_capacity_refusal
from airflow_provider_gemini_batch.exceptions import (
    GeminiApiError,
    GeminiNoQuotaError,
    GeminiRateLimitError,
    GeminiTransportError,
)

if TYPE_CHECKING:
    from airflow_provider_gemini_batch._core.settings import ConnectionSettings

log = logging.getLogger(__name__)

#: HTTP statuses worth retrying (for idempotent calls; only 429 for create).
RETRYABLE_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})


def monotonic() -> float:
    """Seconds on a monotonic clock (the clock the deadline is measured with)."""
    return time.monotonic()


def sleep(seconds: float) -> None:
    """Block for ``seconds`` (the sync sleep boundary)."""
    time.sleep(seconds)


async def async_sleep(seconds: float) -> None:
    """Wait ``seconds`` without blocking the event loop (the async sleep boundary)."""
    await asyncio.sleep(seconds)


def is_retryable(exc: BaseException, *, idempotent: bool) -> bool:
    """Whether a failed call may be sent again (see the module docstring for the rules).

    A 429 with a quota of zero (:class:`GeminiNoQuotaError`) is never retried: no wait lifts it.
    A create refused at the project's concurrent-batch limit (:func:`~._core.capacity.
    is_capacity_refusal`) is not retried here either: a slot frees when a batch ends, hours away
    perhaps, so the create operator waits for one by watching the project's batches instead of
    spending this call's retry budget.
    """
    if isinstance(exc, GeminiNoQuotaError):
        return False
    if isinstance(exc, GeminiRateLimitError):
        return idempotent or not is_capacity_refusal(exc)
    if isinstance(exc, GeminiTransportError):
        return idempotent or not exc.sent
    if isinstance(exc, GeminiApiError):
        return idempotent and exc.http_status in RETRYABLE_STATUS
    return False


class RetryBudget:
    """Failures and time spent on one call path since it last made progress.

    Fresh when a retry loop starts. :meth:`renew` is called by the call path when data moved
    forward (a chunk confirmed, a block of a body read): the failures counted so far are
    forgotten and the deadline counts from now. A budget that is never renewed behaves exactly
    like a plain ``max_retries``/``deadline`` bound on the whole call.
    """

    def __init__(self) -> None:
        self._attempt = 0  # the tenacity attempt running now (1-based)
        self._renewed_at_attempt = 0  # failures are counted from the attempt after this one
        self._since = monotonic()

    def _starting(self, attempt_number: int) -> None:
        if attempt_number == 1:
            self._renewed_at_attempt, self._since = 0, monotonic()
        self._attempt = attempt_number

    def renew(self) -> None:
        """Progress was made: retries and deadline start over (call from inside an attempt)."""
        self._renewed_at_attempt = max(0, self._attempt - 1)
        self._since = monotonic()

    def failures(self, attempt_number: int) -> int:
        """Failed attempts since the last progress, counting the attempt ``attempt_number``."""
        return attempt_number - self._renewed_at_attempt

    def elapsed(self) -> float:
        """Seconds since the loop started or last made progress."""
        return monotonic() - self._since


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop. Times in seconds.

    :param max_retries: retries after the first attempt (default 5; 0 disables retrying).
    :param initial_delay: first backoff (default 1 s), doubled on each retry.
    :param max_delay: cap of one backoff (default 60 s), and of the ``Retry-After`` honoured.
    :param deadline: total time budget of one call, waits included (default 300 s).
    """

    max_retries: int = 5
    initial_delay: float = 1.0
    max_delay: float = 60.0
    deadline: float = 300.0

    @classmethod
    def from_settings(cls, settings: ConnectionSettings) -> RetryPolicy:
        return cls(
            max_retries=settings.max_retries,
            initial_delay=settings.retry_initial_delay,
            max_delay=settings.retry_max_delay,
            deadline=settings.retry_deadline,
        )

    def backoff(self, retry_number: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        """The jittered exponential wait before retry ``retry_number`` (1-based)."""
        base = min(self.max_delay, self.initial_delay * (2 ** max(0, retry_number - 1)))
        return rng(base / 2, base)

    def delay_for(self, exc: BaseException | None, retry_number: int) -> float:
        """The wait before retry ``retry_number``: backoff, raised to the server's Retry-After
        (or ``RetryInfo.retryDelay``) but never above ``max_delay``, seconds."""
        delay = self.backoff(retry_number)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            # Capped: a Retry-After of 86400 would otherwise outlast every deadline, so the call
            # (or the trigger's wait) would give up on a service that recovered long before.
            delay = max(delay, min(float(retry_after), self.max_delay))
        return delay

    def _tenacity_kwargs(self, idempotent: bool, what: str, budget: RetryBudget) -> dict[str, Any]:
        def retry_if(state: tenacity.RetryCallState) -> bool:
            outcome = state.outcome
            if outcome is None or not outcome.failed:
                return False
            exc = outcome.exception()
            return exc is not None and is_retryable(exc, idempotent=idempotent)

        def before(state: tenacity.RetryCallState) -> None:
            budget._starting(state.attempt_number)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            return self.delay_for(exc, budget.failures(state.attempt_number))

        def stop(state: tenacity.RetryCallState) -> bool:
            if budget.failures(state.attempt_number) > self.max_retries:
                return True
            # upcoming_sleep is computed before stop is consulted (tenacity >= 8.3).
            return budget.elapsed() + (state.upcoming_sleep or 0.0) > self.deadline

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            # Exception texts are built without secrets (see _core.errors), so logging them is safe.
            log.warning(
                "%s failed (attempt %d of at most %d since the last progress), retrying in %.2f s: %s",
                what,
                budget.failures(state.attempt_number),
                self.max_retries + 1,
                state.upcoming_sleep,
                exc,
            )

        return {
            "before": before,
            "retry": retry_if,
            "wait": wait,
            "stop": stop,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def retrying(
        self, *, idempotent: bool, what: str = "Request", budget: RetryBudget | None = None
    ) -> tenacity.Retrying:
        """A tenacity ``Retrying`` for a sync call: ``policy.retrying(idempotent=True)(fn, *args)``.

        :param budget: renewed by the caller on progress (see :class:`RetryBudget`); default a
            fresh budget nobody renews, i.e. ``max_retries``/``deadline`` bound the whole call.
        """
        # Resolve the module-level sleep at call time so tests can patch it.
        return tenacity.Retrying(
            sleep=lambda s: sleep(s), **self._tenacity_kwargs(idempotent, what, budget or RetryBudget())
        )

    def async_retrying(
        self, *, idempotent: bool, what: str = "Request", budget: RetryBudget | None = None
    ) -> tenacity.AsyncRetrying:
        """A tenacity ``AsyncRetrying`` for a coroutine function (waits with ``asyncio.sleep``)."""

        async def _sleep(seconds: float) -> None:
            await async_sleep(seconds)

        return tenacity.AsyncRetrying(
            sleep=_sleep, **self._tenacity_kwargs(idempotent, what, budget or RetryBudget())
        )
