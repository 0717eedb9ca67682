"""The deferrable wait: poll one batch from the triggerer until it ends, then fire one event.

Rules this trigger keeps (see the design guide, section 2 item 7):

* async all the way down: every call goes through :class:`GeminiBatchAsyncHook` (httpx); no
  ``requests``, no ``time.sleep``, no sync connection lookup inside :meth:`run`;
* kwargs are primitives, and the deadline ``end_time`` is absolute (epoch seconds), so a
  triggerer restart rebuilds the trigger from the same kwargs without resetting the budget;
* it never creates anything: the batch already exists when the task defers, so a restart can
  never submit a second billable job;
* one retry layer: the trigger owns retrying. Its hook makes a single attempt per call
  (``retry=False``); what a failed poll means is the error policy the worker-side wait shares
  (``_core/poll_errors.py``): a failure :func:`~airflow_provider_gemini_batch._core.retry.is_retryable`
  deems transient (408, 429, 5xx, no answer) is waited out with the backoff of
  ``_core/retry.py`` (jittered exponential, ``Retry-After`` as a floor up to
  ``backoff_cap``), anything else ends the wait at once. The poll
  slot is held only for the HTTP exchange, never during a backoff, so one failing batch cannot
  delay another's polls; a backoff never runs past ``end_time``. It gives up after
  ``max_consecutive_errors`` failures in a row or at the deadline;
* exactly one event of primitives, then return; ``CancelledError`` is never swallowed;
* :meth:`cleanup` only closes clients (it also runs on triggerer restarts); cancelling the remote
  batch happens in :meth:`on_kill`, which Airflow >= 3.3 calls when a user marks or clears the
  deferred task. Airflow 3.0-3.2 never call it; there a user's mark/clear leaves the batch running.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.common.compat.sdk import conf
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_gemini_batch._core.errors import redact, redact_all
from airflow_provider_gemini_batch._core.events import (
    EventStatus,
    event_for_batch,
    event_for_step,
    make_event,
)
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.pending import PendingWatch
from airflow_provider_gemini_batch._core.poll_errors import ErrorAction, PollErrorPolicy
from airflow_provider_gemini_batch._core.retry import RetryPolicy
from airflow_provider_gemini_batch._core.settle import DEFAULT_CANCEL_SETTLE_SECONDS, asettle_after_cancel
from airflow_provider_gemini_batch._core.verdict import DEFAULT_OUTPUT_GRACE_SECONDS, WaitTracker
from airflow_provider_gemini_batch.exceptions import GeminiBatchError

# Imported at module level on purpose: the triggerer imports this module once, outside any
# trigger's run(); a lazy import inside run() would block the shared event loop on first use.
# From the async module itself: the sync hook module (which re-exports it) loads ``requests``,
# which the triggerer never needs.
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from airflow_provider_gemini_batch.messages import waiting as text
from airflow_provider_gemini_batch.messages.pending import signal_text
from airflow_provider_gemini_batch.triggers._bounds import (
    TimeLimitReached,
    bounded_call,
    call_seconds,
    within,
)
from airflow_provider_gemini_batch.triggers._pending import stuck_event, with_flag
from airflow_provider_gemini_batch.triggers._poller import SharedPoller, poller_for, release_poller
from airflow_provider_gemini_batch.triggers._progress import ProgressLog

#: Seconds ``on_kill`` allows the cancel call (Airflow bounds it too, 30 s by default).
ON_KILL_CANCEL_TIMEOUT = 20.0
#: Seconds ``on_kill`` spends re-reading the batch after the cancel, to log the state it ended in.
ON_KILL_SETTLE_TIMEOUT = 8.0

#: Polls in flight at once per event loop and API origin (scheme, host, port), across all Gemini
#: triggers (Airflow config ``[gemini_batch] max_concurrent_polls``, default 8). httpcore's pool
#: checks every pooled connection for every queued request, so unbounded concurrency costs O(n^2)
#: CPU on the shared loop: measured with 100 triggers polling every 50 ms, stalls of 110-800 ms
#: unbounded vs none over 20 ms with a limit; with 1,000 triggers, 4 slots gave 2.6x the polls/s
#: of 16. Eight slots at ~200 ms real-API latency still allow ~40 polls/s, i.e. 2,400 triggers at
#: a 60 s interval. Per origin, because the pool is per base URL and because a sick upstream (one
#: that trickles its answers) must hold only its own slots: triggers of a healthy origin keep
#: polling. A slot is held for one HTTP exchange only, never during a backoff, and that exchange
#: is bounded in total time (``triggers/_bounds.py``). The value is read when a semaphore is built
#: (first poll of an origin on a loop), so it can be changed before a loop starts.
MAX_CONCURRENT_POLLS = conf.getint("gemini_batch", "max_concurrent_polls", fallback=8)

#: Seconds a read started at (or after) ``end_time`` may still take: the last poll, made when the
#: deadline comes, and the first one of a trigger restarted after it, report a batch that ended
#: meanwhile as it ended. So a wait ends at most this long after ``end_time``, whatever its call does.
LAST_READ_SECONDS = 2.0

#: Seconds between two "still waiting" lines of one trigger while nothing changes (Airflow config
#: ``[gemini_batch] progress_heartbeat_seconds``, default 600 = 10 min). Count or state changes are
#: logged when seen; the heartbeat only says the wait is alive. Per trigger, so 10,000 waits write
#: at most ~17 heartbeat lines/s in the triggerer, and one task's log one line per 10 minutes.
HEARTBEAT_SECONDS = conf.getfloat("gemini_batch", "progress_heartbeat_seconds", fallback=600.0)

_POLL_LIMITS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _poll_limit(origin: str) -> asyncio.Semaphore:
    """The poll semaphore of ``origin`` (``scheme://host:port``) on the running loop (semaphores
    must not cross loops)."""
    mine = _POLL_LIMITS.setdefault(asyncio.get_running_loop(), {})
    limit = mine.get(origin)
    if limit is None:
        limit = mine[origin] = asyncio.Semaphore(MAX_CONCURRENT_POLLS)
    return limit


class GeminiBatchTrigger(BaseTrigger):
    """Wait in the triggerer for a Gemini batch to reach a terminal state.

    :param batch_name: the batch to watch, ``batches/...``.
    :param gemini_conn_id: Airflow connection id of type ``gemini_batch``.
    :param poll_interval: seconds between two polls while the batch is in flight.
    :param end_time: absolute deadline, epoch seconds (``time.time()`` scale). When it passes with
        the batch still in flight, the trigger fires a ``timeout`` event (the batch is left alone).
    :param cancel_on_kill: cancel the remote batch when a user marks or clears the deferred task
        (Airflow >= 3.3 calls :meth:`on_kill`). Default False.
    :param max_consecutive_errors: transient failures in a row after which the trigger gives up
        with an ``error`` event. Default 10 (with the default backoff, about 8-17 minutes of
        failures). Each failure is one request: the hook does not retry inside the trigger.
    :param backoff_base: first backoff after a transient failure, seconds (doubles each time, with
        the jitter and ``Retry-After`` floor of :class:`~airflow_provider_gemini_batch._core.retry.
        RetryPolicy`). Default 2. Larger than a single call's (the connection's
        ``retry_initial_delay``) because a wait lasts hours, not one call's ``retry_deadline``.
    :param backoff_cap: longest backoff, seconds, also the longest ``Retry-After`` honoured (a
        server asking for a day is polled again after this), and no backoff runs past
        ``end_time``. Default 300.
    :param output_grace_period: seconds a batch reporting SUCCEEDED without naming its output is
        re-read (with full reads) before an ``error`` event. Default 600.
    :param cancel_on_timeout: when the deadline passes, cancel the batch, re-read it for up to
        ``cancel_settle_timeout`` seconds and report the state it really ended in (a cancelled
        batch may still end SUCCEEDED: then the event is ``success``). Default False (the batch
        is left running).
    :param cancel_settle_timeout: seconds spent re-reading after that cancel. Default 60.
    :param pending_timeout: seconds the batch may stay PENDING after its ``createTime`` before it
        is flagged (logged once), or None (default) to never flag it. The 48 h expiry is
        announced in any case, once, when less than 6 h remain.
    :param on_pending_timeout: ``"warn"`` (default: flag and keep waiting; the final event then
        carries ``"pending"``), or ``"fail"``/``"recreate"``: end the wait with a
        ``pending_timeout`` event and let the task apply its policy (the trigger never cancels
        or creates for it).

    Polls are light: they ask the service only for what the wait needs (``fields`` partial
    response, no inline result bodies) and fall back to full reads if it refuses the mask.

    The single event's payload is ``{"status", "batch_name", "message", "summary"}`` where status
    is ``success``, ``failure``, ``timeout``, ``pending_timeout`` or ``error`` and summary is the
    batch's small JSON-native summary (None when the batch was never observed); ``"pending"``
    (``{"age", "limit", "timed_from_create"}``) is added when the batch was flagged as stuck.
    """

    def __init__(
        self,
        batch_name: str,
        gemini_conn_id: str = "gemini_batch_default",
        poll_interval: float = 60.0,
        end_time: float | None = None,
        cancel_on_kill: bool = False,
        max_consecutive_errors: int = 10,
        backoff_base: float = 2.0,
        backoff_cap: float = 300.0,
        output_grace_period: float = DEFAULT_OUTPUT_GRACE_SECONDS,
        cancel_on_timeout: bool = False,
        cancel_settle_timeout: float = DEFAULT_CANCEL_SETTLE_SECONDS,
        pending_timeout: float | None = None,
        on_pending_timeout: str = "warn",
    ) -> None:
        super().__init__()
        self.batch_name = batch_name
        self.gemini_conn_id = gemini_conn_id
        self.poll_interval = float(poll_interval)
        # A trigger built without a deadline still gets one: the API expires batches after 48 h.
        self.end_time = float(end_time) if end_time is not None else time.time() + 49 * 3600
        self.cancel_on_kill = bool(cancel_on_kill)
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.backoff_base = float(backoff_base)
        self.backoff_cap = float(backoff_cap)
        self.output_grace_period = float(output_grace_period)
        self.cancel_on_timeout = bool(cancel_on_timeout)
        self.cancel_settle_timeout = float(cancel_settle_timeout)
        self.pending_timeout = float(pending_timeout) if pending_timeout is not None else None
        self.on_pending_timeout = str(on_pending_timeout)
        self._hook: GeminiBatchAsyncHook | None = None
        self._poller: SharedPoller | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and primitive kwargs; ``Cls(**kwargs)`` rebuilds an equivalent trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "batch_name": self.batch_name,
                "gemini_conn_id": self.gemini_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "cancel_on_kill": self.cancel_on_kill,
                "max_consecutive_errors": self.max_consecutive_errors,
                "backoff_base": self.backoff_base,
                "backoff_cap": self.backoff_cap,
                "output_grace_period": self.output_grace_period,
                "cancel_on_timeout": self.cancel_on_timeout,
                "cancel_settle_timeout": self.cancel_settle_timeout,
                "pending_timeout": self.pending_timeout,
                "on_pending_timeout": self.on_pending_timeout,
            },
        )

    @property
    def hook(self) -> GeminiBatchAsyncHook:
        """The async hook, created on first use (inside the event loop, never in ``__init__``).

        It makes one attempt per call (``retry=False``): this trigger owns retrying.
        """
        if self._hook is None:
            self._hook = GeminiBatchAsyncHook(gemini_conn_id=self.gemini_conn_id, retry=False)
        return self._hook

    @property
    def retry_policy(self) -> RetryPolicy:
        """The one retry policy (``_core/retry.py``) with this trigger's backoff bounds.

        Only its backoff is used here (:meth:`RetryPolicy.delay_for`): the trigger's own budget is
        ``max_consecutive_errors`` and ``end_time``, not the policy's ``max_retries``/``deadline``.
        """
        return RetryPolicy(initial_delay=self.backoff_base, max_delay=self.backoff_cap)

    @property
    def error_policy(self) -> PollErrorPolicy:
        """What a failed poll means (``_core/poll_errors.py``): give up after
        ``max_consecutive_errors`` transient failures in a row, back off with :attr:`retry_policy`."""
        return PollErrorPolicy(self.max_consecutive_errors, self.retry_policy)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the batch ends, the deadline passes or errors persist; yield one event."""
        payload = await self._wait()
        # The message and summary quote server-supplied text (error messages, state spellings,
        # file names): whatever the server echoed of the key leaves the triggerer as ``***``.
        yield TriggerEvent(redact_all(payload, await self._secrets()))

    async def _secrets(self) -> tuple[str, ...]:
        """The connection's secrets (to redact from what this trigger shows); () if unreadable."""
        # The poller's hook has read the connection already (its settings are cached).
        hook = self._poller.hook if self._poller is not None else self.hook
        try:
            return (await hook.get_settings()).secrets()
        except GeminiBatchError:
            return ()

    async def _wait(self) -> dict[str, Any]:
        # Reads go through the loop's shared poller of this connection (triggers/_poller.py): a lone
        # trigger GETs its batch; thousands share list pages. Retrying stays here.
        if self._poller is None:
            self._poller = poller_for(self.gemini_conn_id, _poll_limit)
        poller = self._poller
        poller.active += 1
        try:
            return await self._poll_until_done(poller)
        finally:
            poller.active -= 1

    async def _poll_until_done(self, poller: SharedPoller) -> dict[str, Any]:
        failures = 0
        # Progress lines: news when the state or counts change, else a heartbeat (triggers/_progress.py).
        progress = ProgressLog(
            self.log, self.batch_name, self.poll_interval, self.end_time, HEARTBEAT_SECONDS
        )
        last_summary: dict[str, Any] | None = None
        last_batch: Batch | None = None
        # The one wait decision (_core/verdict.py), with its memory across polls: the state last
        # seen, the output grace and whether the next read must be a full one.
        tracker = WaitTracker(self.batch_name, output_grace=self.output_grace_period)
        # Timed from the batch's createTime: a restarted triggerer or a resumed task keeps counting.
        pending = PendingWatch(self.batch_name, self.pending_timeout, self.on_pending_timeout)
        while True:
            asked = time.monotonic()
            try:
                # The poller holds a poll slot for one HTTP exchange only (the hook does not retry),
                # bounded in total time; a backoff is slept below, outside any slot, so a failing
                # batch never delays others. The read itself is bounded by end_time: a call stuck
                # on a trickling server (or a list walk stuck behind one) cannot hold the wait
                # past its deadline.
                batch: Batch = await within(
                    poller.read(self.batch_name, light=tracker.light),
                    max(self.end_time - time.time(), LAST_READ_SECONDS),
                )
            except TimeLimitReached:
                self.log.warning(
                    "The deadline of the wait for %s passed while its poll was still unanswered.",
                    self.batch_name,
                )
                return await self._timeout_event(tracker.last_state, last_summary)
            except GeminiBatchError as exc:
                # The one error policy (_core/poll_errors.py), which the worker-side wait shares.
                outcome = self.error_policy.judge(exc, failures, self.end_time - time.time())
                if outcome.action is ErrorAction.FAIL:
                    # 4xx (404 after a delete or under another key, bad key), a broken
                    # connection: waiting longer cannot fix any of these.
                    return make_event(
                        EventStatus.ERROR,
                        self.batch_name,
                        text.cannot_watch(self.batch_name, self.gemini_conn_id, exc),
                        last_summary,
                    )
                failures = outcome.failures
                if outcome.action is ErrorAction.GIVE_UP:
                    return make_event(
                        EventStatus.ERROR,
                        self.batch_name,
                        text.gave_up(self.batch_name, failures, exc),
                        last_summary,
                    )
                if outcome.action is ErrorAction.OUT_OF_TIME:
                    # The next poll may not come before the deadline (nor, with a Retry-After,
                    # before the service allows it): wait out what is left, then time out.
                    self.log.warning(
                        "Polling %s failed and the next attempt (in %.1f s) would pass the deadline: %s",
                        self.batch_name,
                        outcome.delay,
                        exc,
                    )
                    await asyncio.sleep(max(0.0, self.end_time - time.time()))
                    return await self._timeout_event(tracker.last_state, last_summary)
                self.log.warning(
                    "Polling %s failed (%d/%d in a row), retrying in %.1f s: %s",
                    self.batch_name,
                    failures,
                    self.max_consecutive_errors,
                    outcome.delay,
                    exc,
                )
                await asyncio.sleep(outcome.delay)
                continue
            failures = 0
            if batch is not last_batch:
                # The shared poller answers the same object while the batch does not change: no
                # new summary either, so a quiet poll allocates nothing that outlives it.
                last_summary, last_batch = batch.summary(), batch
            step = tracker.observe(batch, time.monotonic())
            progress.observed(batch, step.state_changed)
            if step.warning:
                self.log.warning("%s", step.warning)
            final = event_for_step(step, batch, self.batch_name)
            if final is not None:
                return with_flag(final, pending)
            signal = pending.observe(batch, time.time())
            if signal is not None:
                self.log.warning("%s", signal_text(signal, self.on_pending_timeout, batch.state_label))
                if signal.stop:
                    return stuck_event(signal, self.on_pending_timeout, last_summary)
            # Drop this poll's objects before sleeping: kept across the sleep they would survive
            # into the collector's oldest generation and make its full passes more frequent.
            del step, batch
            remaining = self.end_time - time.time()
            if remaining <= 0:
                return await self._timeout_event(tracker.last_state, last_summary)
            # Polls start poll_interval apart (the time the read took counts): when reads queue
            # behind a long shared list walk, the cadence stays the interval, not interval + walk.
            await asyncio.sleep(max(0.0, min(self.poll_interval - (time.monotonic() - asked), remaining)))

    async def _timeout_event(
        self, last_state: str | None, last_summary: dict[str, Any] | None
    ) -> dict[str, Any]:
        if not self.cancel_on_timeout:
            return make_event(
                EventStatus.TIMEOUT,
                self.batch_name,
                text.deadline_passed(self.batch_name, last_state, text.LEFT_RUNNING),
                last_summary,
            )
        settled = await self._cancel_and_settle(self.cancel_settle_timeout)
        report = redact(text.describe_settled(self.batch_name, settled), await self._secrets())
        self.log.warning("The deadline passed; %s", report)
        if settled is not None and settled.done:
            # Report what really happened: a batch that finished before the cancel took is a success.
            event = event_for_batch(settled, self.batch_name)
            if event is not None:
                event["message"] = f"The wait deadline passed. {report} {event['message']}"
                return event
        return make_event(
            EventStatus.TIMEOUT,
            self.batch_name,
            text.deadline_passed(self.batch_name, last_state, report),
            settled.summary() if settled is not None else last_summary,
        )

    async def _cancel_and_settle(self, settle_timeout: float) -> Batch | None:
        """Request a cancel, then re-read the batch (bounded) for the state it really ends in.

        The hook makes single attempts, so the cancel is retried here with the one policy, all of it
        within ``ON_KILL_CANCEL_TIMEOUT``; the re-reads tolerate failures on their own.
        """
        retrying = self.retry_policy.async_retrying(idempotent=True, what=f"Cancelling {self.batch_name}")
        try:
            await asyncio.wait_for(
                retrying(self.hook.cancel_batch, self.batch_name), timeout=ON_KILL_CANCEL_TIMEOUT
            )
        except (GeminiBatchError, asyncio.TimeoutError) as exc:
            self.log.warning("Could not cancel %s: %s", self.batch_name, exc)

        async def read() -> Batch:
            # Each re-read is bounded too: a trickling answer must not hold on_kill or the timeout
            # event past the settle time (a failed read is tolerated, the next one is tried).
            settings = await self.hook.get_settings()
            return await bounded_call(
                self.hook.get_batch(self.batch_name, light=True),
                min(call_seconds(settings.timeout), max(settle_timeout, LAST_READ_SECONDS)),
                what=f"Getting {self.batch_name}",
                timeout=settings.timeout,
            )

        return await asettle_after_cancel(
            read,
            timeout=settle_timeout,
            interval=min(5.0, max(0.05, self.poll_interval)),
            clock=time.monotonic,
            sleep=asyncio.sleep,
        )

    async def on_kill(self) -> None:
        """Cancel the remote batch when ``cancel_on_kill`` is set (a user marked/cleared the task)."""
        if not self.cancel_on_kill:
            self.log.info("Task killed; leaving %s running (cancel_on_kill is False).", self.batch_name)
            return
        self.log.info("Task killed; cancelling %s.", self.batch_name)
        settled = await self._cancel_and_settle(ON_KILL_SETTLE_TIMEOUT)
        self.log.info("%s", redact(text.describe_settled(self.batch_name, settled), await self._secrets()))

    async def cleanup(self) -> None:
        """Release this trigger's client handles; never touches the remote batch."""
        hook, self._hook = self._hook, None
        poller, self._poller = self._poller, None
        if hook is not None:
            await hook.aclose()
        if poller is not None:
            await release_poller(poller)
