"""The deferred wait for a free batch slot: watch the project's batches in flight, then resume.

When a create is refused at the project's concurrent-batch limit (``_core/capacity.py``), the
create operator defers to :class:`GeminiBatchCapacityTrigger`. The trigger never creates anything
(a triggerer restart must not submit a batch): it counts the project's batches PENDING or RUNNING
through ``batches.list`` and fires one ``free`` event when a slot looks free; the operator then
creates through its usual idempotent path (reattaching if its batch exists after all). Two waiters
may see the same free slot: the loser's create is refused again and it defers again, with a
longer minimum wait (``attempt``).

Bounds (the rules of ``triggers/gemini_batch.py``): async only; kwargs are primitives with an
absolute deadline ``end_time``; each list page is one HTTP exchange under the origin's poll slot,
bounded in total time (``triggers/_bounds.py``); a count reads at most ``max_pages`` pages and
stops at the first batch older than the 48 h expiry (the list is newest first); transient
failures back off with the one retry policy; one event, then return.

Shared reads: every waiter of one connection on one event loop shares one count, refreshed at
most every ``poll_interval / 2`` seconds, so a backfill of 1,000 deferred creates lists the
project once per interval, not 1,000 times.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_gemini_batch._core.capacity import (
    DEFAULT_CONCURRENT_BATCH_LIMIT,
    MAX_COUNT_PAGES,
    InFlightCount,
    slot_looks_free,
)
from airflow_provider_gemini_batch._core.errors import redact_all
from airflow_provider_gemini_batch._core.list_page import decode_operation
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.poll_errors import ErrorAction, PollErrorPolicy
from airflow_provider_gemini_batch._core.retry import RetryPolicy
from airflow_provider_gemini_batch.exceptions import GeminiBatchError
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from airflow_provider_gemini_batch.triggers._bounds import (
    TimeLimitReached,
    bounded_call,
    call_seconds,
    origin_of,
    within,
)
from airflow_provider_gemini_batch.triggers._poller import SharedPoller, poller_for, release_poller
from airflow_provider_gemini_batch.triggers.gemini_batch import _poll_limit

#: Event statuses: a slot looks free; the deadline passed; the batches could not be counted.
FREE, TIMEOUT, ERROR = "free", "timeout", "error"


async def count_in_flight(hook: GeminiBatchAsyncHook, max_pages: int = MAX_COUNT_PAGES) -> InFlightCount:
    """Count the project's batches in flight: at most ``max_pages`` light list pages, each under
    its origin's poll slot and bounded in total time.

    :raises GeminiBatchError: a page could not be read (one attempt; the caller backs off).
    """
    settings = await hook.get_settings()
    count = InFlightCount()
    now = datetime.now(timezone.utc)
    token: str | None = None
    for _ in range(max(1, max_pages)):
        async with _poll_limit(origin_of(settings.base_url)):
            page = await bounded_call(
                hook.list_operations_page(token, light=True),
                call_seconds(settings.timeout),
                what="Listing batches",
                timeout=settings.timeout,
            )
        batches = [Batch.from_operation(decode_operation(raw)) for _, raw in page.items]
        if count.add_page(batches, now):
            return count
        token = page.next_page_token
        if not token:
            return count
    count.complete = False
    return count


class _SharedCount:
    """One count per poller (loop and connection), reused for ``max_age`` seconds; concurrent
    askers await the same walk."""

    def __init__(self) -> None:
        self.at = float("-inf")
        self.value: InFlightCount | None = None
        self.walk: asyncio.Future[InFlightCount] | None = None

    async def get(self, hook: GeminiBatchAsyncHook, max_age: float, max_pages: int) -> InFlightCount:
        now = time.monotonic()
        if self.value is not None and now - self.at <= max_age:
            return self.value
        if self.walk is None or self.walk.done():
            self.walk = asyncio.ensure_future(count_in_flight(hook, max_pages))
            self.walk.add_done_callback(self._keep)
        # Shielded: one waiter reaching its deadline must not cancel the walk the others await.
        return await asyncio.shield(self.walk)

    def _keep(self, walk: asyncio.Future[InFlightCount]) -> None:
        if not walk.cancelled() and walk.exception() is None:
            self.value, self.at = walk.result(), time.monotonic()


_COUNTS: weakref.WeakKeyDictionary[SharedPoller, _SharedCount] = weakref.WeakKeyDictionary()


class GeminiBatchCapacityTrigger(BaseTrigger):
    """Wait in the triggerer until the project has a free batch slot; never creates anything.

    :param gemini_conn_id: Airflow connection id of type ``gemini_batch``.
    :param limit: batches the project may have in flight (default 100, the documented limit).
    :param attempt: how many creates of this task were refused so far (1 for the first); the
        trigger fires no sooner than the jittered backoff of this attempt, so refusals in a row
        (two waiters, one slot) space out.
    :param end_time: absolute deadline, epoch seconds; then a ``timeout`` event.
    :param poll_interval: seconds between two counts. Default 60.
    :param backoff_base: the first attempt's minimum wait and first error backoff, seconds. Default 2.
    :param backoff_cap: longest minimum wait and error backoff, seconds. Default 300.
    :param max_consecutive_errors: failed counts in a row before an ``error`` event. Default 10.
    :param max_pages: list pages one count reads at most. Default 20.

    The event is ``{"status": "free"|"timeout"|"error", "message", "running", "limit",
    "attempt", "end_time"}`` (``running``: batches in flight at the last count, or None).
    """

    def __init__(
        self,
        gemini_conn_id: str = "gemini_batch_default",
        limit: int = DEFAULT_CONCURRENT_BATCH_LIMIT,
        attempt: int = 1,
        end_time: float | None = None,
        poll_interval: float = 60.0,
        backoff_base: float = 2.0,
        backoff_cap: float = 300.0,
        max_consecutive_errors: int = 10,
        max_pages: int = MAX_COUNT_PAGES,
    ) -> None:
        super().__init__()
        self.gemini_conn_id = gemini_conn_id
        self.limit = int(limit)
        self.attempt = max(1, int(attempt))
        self.end_time = float(end_time) if end_time is not None else time.time() + 24 * 3600
        self.poll_interval = float(poll_interval)
        self.backoff_base = float(backoff_base)
        self.backoff_cap = float(backoff_cap)
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.max_pages = int(max_pages)
        self._poller: SharedPoller | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and primitive kwargs; ``Cls(**kwargs)`` rebuilds an equivalent trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "gemini_conn_id": self.gemini_conn_id,
                "limit": self.limit,
                "attempt": self.attempt,
                "end_time": self.end_time,
                "poll_interval": self.poll_interval,
                "backoff_base": self.backoff_base,
                "backoff_cap": self.backoff_cap,
                "max_consecutive_errors": self.max_consecutive_errors,
                "max_pages": self.max_pages,
            },
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(initial_delay=self.backoff_base, max_delay=self.backoff_cap)

    @property
    def error_policy(self) -> PollErrorPolicy:
        """What a failed count means: give up after ``max_consecutive_errors`` transient failures
        in a row, back off with :attr:`retry_policy` in between."""
        return PollErrorPolicy(self.max_consecutive_errors, self.retry_policy)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Count until a slot looks free, the deadline passes or errors persist; yield one event."""
        if self._poller is None:
            self._poller = poller_for(self.gemini_conn_id, _poll_limit)
        payload = await self._watch(self._poller)
        try:
            secrets = (await self._poller.hook.get_settings()).secrets()
        except GeminiBatchError:
            secrets = ()
        yield TriggerEvent(redact_all(payload, secrets))

    def _event(self, status: str, message: str, running: int | None) -> dict[str, Any]:
        return {
            "status": status,
            "message": message,
            "running": running,
            "limit": self.limit,
            "attempt": self.attempt,
            "end_time": self.end_time,
        }

    async def _watch(self, poller: SharedPoller) -> dict[str, Any]:
        shared = _COUNTS.setdefault(poller, _SharedCount())
        started = time.monotonic()
        min_wait = self.retry_policy.backoff(self.attempt)
        first_seen: int | None = None
        last_seen: int | None = None
        warned_partial = False
        failures = 0
        while True:
            remaining = self.end_time - time.time()
            if remaining <= 0:
                return self._timed_out(last_seen)
            try:
                count = await within(
                    shared.get(poller.hook, self.poll_interval / 2, self.max_pages), remaining
                )
            except TimeLimitReached:
                return self._timed_out(last_seen)
            except GeminiBatchError as exc:
                # The error policy every wait shares (_core/poll_errors.py). A backoff longer than
                # what is left is cut to it; the deadline check above then ends the wait.
                outcome = self.error_policy.judge(exc, failures, remaining)
                if outcome.action is ErrorAction.FAIL:
                    return self._event(
                        ERROR,
                        f"Cannot count the project's batches with connection {self.gemini_conn_id!r}: {exc}",
                        last_seen,
                    )
                failures = outcome.failures
                if outcome.action is ErrorAction.GIVE_UP:
                    return self._event(
                        ERROR,
                        f"Gave up counting the project's batches after {failures} transient errors "
                        f"in a row. Last error: {exc}",
                        last_seen,
                    )
                delay = outcome.delay
                self.log.warning(
                    "Counting the project's batches failed (%d/%d in a row), retrying in %.1f s: %s",
                    failures,
                    self.max_consecutive_errors,
                    delay,
                    exc,
                )
                await asyncio.sleep(max(0.0, min(delay, remaining)))
                continue
            failures = 0
            if not count.complete and not warned_partial:
                self.log.warning(
                    "Counted the project's batches on the first %d list pages only (%d batches) and "
                    "stopped; %d found in flight is a lower bound.",
                    self.max_pages,
                    count.scanned,
                    count.running,
                )
                warned_partial = True
            if first_seen is None:
                first_seen = count.running
            if slot_looks_free(count.running, self.limit, first_seen):
                wait_more = min(min_wait - (time.monotonic() - started), self.end_time - time.time())
                if wait_more > 0:
                    # Refusals in a row (another waiter took the slot) space out by the backoff.
                    await asyncio.sleep(wait_more)
                message = (
                    f"A batch slot looks free: {count.running} batches in flight (limit "
                    f"{self.limit}); creating again (attempt {self.attempt + 1})."
                )
                self.log.info("%s", message)
                return self._event(FREE, message, count.running)
            if count.running != last_seen:
                self.log.info(
                    "The project has %d batches in flight (limit %d); waiting until one finishes, "
                    "counting every %.0f s.",
                    count.running,
                    self.limit,
                    self.poll_interval,
                )
            last_seen = count.running
            await asyncio.sleep(max(0.0, min(self.poll_interval, self.end_time - time.time())))

    def _timed_out(self, running: int | None) -> dict[str, Any]:
        seen = "not counted" if running is None else f"{running} in flight"
        return self._event(
            TIMEOUT,
            f"Stopped waiting for a free batch slot: the capacity deadline passed ({seen}, limit "
            f"{self.limit}). Nothing was created.",
            running,
        )

    async def cleanup(self) -> None:
        """Release the shared poller (and its client); nothing remote to undo."""
        poller, self._poller = self._poller, None
        if poller is not None:
            await release_poller(poller)
