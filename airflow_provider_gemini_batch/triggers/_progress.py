"""What a waiting trigger writes to the task's log while the batch runs: news, and a heartbeat.

A line when the state or the request counts (``batchStats``) change; while nothing changes, a
"still waiting" line at most once per ``heartbeat`` seconds, so a long wait shows it is alive
without writing a line per poll.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from airflow_provider_gemini_batch._core.models import Batch


class InfoLog(Protocol):
    """A stdlib :class:`logging.Logger` or Airflow's trigger logger, called with %-style arguments."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...


class ProgressLog:
    """The progress lines of one wait (one per trigger run).

    :param log: the trigger's logger (its lines reach the task's log).
    :param batch_name: the batch watched.
    :param poll_interval: seconds between polls (quoted in the heartbeat).
    :param end_time: the wait's deadline, epoch seconds (quoted in the heartbeat).
    :param heartbeat: seconds between two "still waiting" lines while nothing changes.
    """

    def __init__(
        self, log: InfoLog, batch_name: str, poll_interval: float, end_time: float, heartbeat: float
    ) -> None:
        self._log = log
        self._batch_name = batch_name
        self._poll_interval = poll_interval
        self._end_time = end_time
        self._heartbeat = heartbeat
        self._last_stats: Any = None
        self._started = self._last_news = time.monotonic()

    def observed(self, batch: Batch, state_changed: bool) -> None:
        """Log ``batch`` if it is news (``state_changed``, or new counts), or if the heartbeat is due."""
        now = time.monotonic()
        if state_changed or batch.stats != self._last_stats:
            self._log.info(
                "Batch %s is %s (%s).", self._batch_name, batch.state_label, batch.stats.describe()
            )
            self._last_stats, self._last_news = batch.stats, now
        elif now - self._last_news >= self._heartbeat:
            self._log.info(
                "Still waiting for %s: %s for %.0f min (%s); polling every %.0f s, deadline in %.0f min.",
                self._batch_name,
                batch.state_label,
                (now - self._started) / 60,
                batch.stats.describe(),
                self._poll_interval,
                max(0.0, self._end_time - time.time()) / 60,
            )
            self._last_news = now
