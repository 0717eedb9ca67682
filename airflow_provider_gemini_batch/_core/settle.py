"""After a cancel request: re-read the batch for a bounded time, for the state it really ends in.

After any cancel (operator, ``on_kill``, timeout) :func:`settle_after_cancel` (sync) or
:func:`asettle_after_cancel` (async) re-read the batch: a cancel is a request, and a batch being
cancelled may still end SUCCEEDED or FAILED (python-genai ``JobState``: "From [CANCELLING] the
job may only go to either JOB_STATE_SUCCEEDED, JOB_STATE_FAILED or JOB_STATE_CANCELLED"). Pure:
the read, the clock and the sleep arrive as callables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch.exceptions import GeminiBatchError

#: Seconds spent re-reading a batch after a cancel request, looking for the state it ends in.
DEFAULT_CANCEL_SETTLE_SECONDS = 60.0
#: Seconds between two reads while settling after a cancel.
CANCEL_SETTLE_INTERVAL = 5.0


def settle_after_cancel(
    read: Callable[[], Batch],
    *,
    timeout: float = DEFAULT_CANCEL_SETTLE_SECONDS,
    interval: float = CANCEL_SETTLE_INTERVAL,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Batch | None:
    """Re-read a batch after a cancel request until it is terminal or ``timeout`` seconds pass.

    Returns the last batch read (terminal, or still in flight when the time ran out), or None
    when no read succeeded. Errors of single reads are swallowed (the caller logs the result):
    settling is a report, never a reason to fail differently.
    """
    deadline = clock() + max(0.0, timeout)
    last: Batch | None = None
    while True:
        with contextlib.suppress(GeminiBatchError):
            last = read()
        if last is not None and last.done:
            return last
        remaining = deadline - clock()
        if remaining <= 0:
            return last
        sleep(min(interval, remaining))


async def asettle_after_cancel(
    read: Callable[[], Awaitable[Batch]],
    *,
    timeout: float = DEFAULT_CANCEL_SETTLE_SECONDS,
    interval: float = CANCEL_SETTLE_INTERVAL,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> Batch | None:
    """The async twin of :func:`settle_after_cancel` (same contract)."""
    deadline = clock() + max(0.0, timeout)
    last: Batch | None = None
    while True:
        with contextlib.suppress(GeminiBatchError):
            last = await read()
        if last is not None and last.done:
            return last
        remaining = deadline - clock()
        if remaining <= 0:
            return last
        await sleep(min(interval, remaining))
