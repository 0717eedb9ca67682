"""The deferrable wait: poll one batch from the triggerer until it ends, then fire one event.

Rules this trigger keeps (see the design guide, section 2 item 7):

* async all the way down: every call goes through :class:`GeminiBatchAsyncHook` (httpx); no
  ``requests``, no ``time.sleep``, no sync connection lookup inside :meth:`run`;
* kwargs are primitives, and the deadline ``end_time`` is absolute (epoch seconds), so a
  triggerer restart rebuilds the trigger from the same kwargs without resetting the budget;
* it never creates anything: the batch already exists when the task defers, so a restart can
  never submit a second billable job;
* transient errors (429, 5xx, no answer) are retried with jittered exponential backoff; it gives
  up after ``max_consecutive_errors`` failures in a row or at the deadline;
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

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.waiting import (
    EventStatus,
    event_for_batch,
    make_event,
    transient_backoff,
)
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiRateLimitError,
    GeminiServerError,
    GeminiTransportError,
)

# Imported at module level on purpose: the triggerer imports this module once, outside any
# trigger's run(); a lazy import inside run() would block the shared event loop on first use.
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchAsyncHook

#: Failures that say nothing about the batch itself; worth waiting out.
TRANSIENT_ERRORS: tuple[type[GeminiBatchError], ...] = (
    GeminiRateLimitError,
    GeminiServerError,
    GeminiTransportError,
)

#: Seconds ``on_kill`` allows the cancel call (Airflow bounds it too, 30 s by default).
ON_KILL_CANCEL_TIMEOUT = 20.0

#: Polls in flight at once per event loop, across all Gemini triggers (Airflow config
#: ``[gemini_batch] max_concurrent_polls``, default 8). httpcore's pool checks every pooled
#: connection for every queued request, so unbounded concurrency costs O(n^2) CPU on the shared
#: loop: measured with 100 triggers polling every 50 ms, stalls of 110-800 ms unbounded vs none
#: over 20 ms with a limit; with 1,000 triggers, 4 slots gave 2.6x the polls/s of 16. Eight slots
#: at ~200 ms real-API latency still allow ~40 polls/s, i.e. 2,400 triggers at a 60 s interval.
MAX_CONCURRENT_POLLS = conf.getint("gemini_batch", "max_concurrent_polls", fallback=8)

_POLL_LIMITS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _poll_limit() -> asyncio.Semaphore:
    """The poll semaphore of the running loop (semaphores must not cross loops)."""
    loop = asyncio.get_running_loop()
    limit = _POLL_LIMITS.get(loop)
    if limit is None:
        limit = _POLL_LIMITS[loop] = asyncio.Semaphore(MAX_CONCURRENT_POLLS)
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
        with an ``error`` event. Default 10.
    :param backoff_base: first backoff after a transient failure, seconds (doubles each time).
    :param backoff_cap: longest backoff, seconds.

    The single event's payload is ``{"status", "batch_name", "message", "summary"}`` where status
    is ``success``, ``failure``, ``timeout`` or ``error`` and summary is the batch's small
    JSON-native summary (None when the batch was never observed).
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
        self._hook: Any = None

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
            },
        )

    @property
    def hook(self) -> Any:
        """The async hook, created on first use (inside the event loop, never in ``__init__``)."""
        if self._hook is None:
            self._hook = GeminiBatchAsyncHook(gemini_conn_id=self.gemini_conn_id)
        return self._hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the batch ends, the deadline passes or errors persist; yield one event."""
        payload = await self._wait()
        yield TriggerEvent(payload)

    async def _wait(self) -> dict[str, Any]:
        failures = 0
        last_state: str | None = None
        last_summary: dict[str, Any] | None = None
        while True:
            try:
                async with _poll_limit():
                    batch: Batch = await self.hook.get_batch(self.batch_name)
            except TRANSIENT_ERRORS as exc:
                failures += 1
                if failures >= self.max_consecutive_errors:
                    return make_event(
                        EventStatus.ERROR,
                        self.batch_name,
                        f"Gave up watching {self.batch_name} after {failures} consecutive transient "
                        f"errors; the batch may still be running. Last error: {exc}",
                        last_summary,
                    )
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    return self._timeout_event(last_state, last_summary)
                delay = transient_backoff(
                    failures,
                    base=self.backoff_base,
                    cap=self.backoff_cap,
                    retry_after=getattr(exc, "retry_after", None),
                )
                self.log.warning(
                    "Polling %s failed (%d/%d in a row), retrying in %.1f s: %s",
                    self.batch_name,
                    failures,
                    self.max_consecutive_errors,
                    delay,
                    exc,
                )
                await asyncio.sleep(min(delay, remaining))
                continue
            except GeminiBatchError as exc:
                # 4xx (404 after a delete, bad key), an unknown state, a broken connection: waiting
                # longer cannot fix any of these.
                return make_event(
                    EventStatus.ERROR,
                    self.batch_name,
                    f"Cannot watch {self.batch_name}: {exc}",
                    last_summary,
                )
            failures = 0
            last_summary = batch.summary()
            if batch.state.short != last_state:
                last_state = batch.state.short
                self.log.info("Batch %s is %s (%s).", self.batch_name, last_state, batch.stats.describe())
            final = event_for_batch(batch)
            if final is not None:
                return final
            remaining = self.end_time - time.time()
            if remaining <= 0:
                return self._timeout_event(last_state, last_summary)
            await asyncio.sleep(min(self.poll_interval, remaining))

    def _timeout_event(self, last_state: str | None, last_summary: dict[str, Any] | None) -> dict[str, Any]:
        return make_event(
            EventStatus.TIMEOUT,
            self.batch_name,
            f"Stopped waiting for {self.batch_name}: the deadline passed while it was "
            f"{last_state or 'not yet observed'}. The batch was left running; raise the timeout or "
            "wait for it with a GeminiBatchSensor.",
            last_summary,
        )

    async def on_kill(self) -> None:
        """Cancel the remote batch when ``cancel_on_kill`` is set (a user marked/cleared the task)."""
        if not self.cancel_on_kill:
            self.log.info("Task killed; leaving %s running (cancel_on_kill is False).", self.batch_name)
            return
        self.log.info("Task killed; cancelling %s.", self.batch_name)
        try:
            await asyncio.wait_for(self.hook.cancel_batch(self.batch_name), timeout=ON_KILL_CANCEL_TIMEOUT)
        except GeminiBatchError as exc:
            self.log.warning("Could not cancel %s: %s", self.batch_name, exc)
        except asyncio.TimeoutError:  # wait_for's timeout is not a GeminiBatchError
            self.log.warning(
                "Could not cancel %s: no answer within %.0f s; cancel it by hand if it must stop.",
                self.batch_name,
                ON_KILL_CANCEL_TIMEOUT,
            )

    async def cleanup(self) -> None:
        """Release this trigger's client handle; never touches the remote batch."""
        hook, self._hook = self._hook, None
        close = getattr(hook, "aclose", None) or getattr(hook, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
