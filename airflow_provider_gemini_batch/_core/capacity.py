"""The project's concurrent-batch limit: telling its 429 apart, counting batches in flight.

Pure: no I/O. Used by the create operator (worker-side wait), the capacity trigger (deferred wait)
and the retry policy (which must not spend a create's retry budget on a wait of hours).

Wire facts, each with its source:

* the limit: the Gemini API's rate-limits page (https://ai.google.dev/gemini-api/docs/rate-limits,
  section "Batch API", table row "Concurrent batch requests: 100") allows 100 batches in flight
  per project; :data:`DEFAULT_CONCURRENT_BATCH_LIMIT`. Batches PENDING and RUNNING both count.
* the answer to a create over a project limit: HTTP 429, ``status`` RESOURCE_EXHAUSTED, message
  "You exceeded your current quota, please check your plan and billing details. For more
  information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits ...",
  with no ``details`` or only a ``google.rpc.Help`` link: no ``QuotaFailure``, no ``RetryInfo``,
  no ``ErrorInfo.reason`` and no ``Retry-After`` [OBS: langchain4j/langchain4j pull request #3942
  (a batch integration run, CI log), googleapis/js-genai issue #1264 (batch creates on a paid
  project "well under" the rate limits), discuss.ai.google.dev thread 115183 ("no Retry-After or
  anything similar" on ``asyncBatchEmbedContent``)]. No public capture names the concurrent-batch
  limit as the cause in the text, so the text cannot be matched; what a waiter can observe is the
  project's own count of batches in flight (``batches.list``).
* a per-minute (or per-day) quota 429 is shaped differently: a ``QuotaFailure`` whose violation
  names a time window (``quotaId`` "GenerateRequestsPerMinutePerProjectPerModel...") and a
  ``RetryInfo`` ``retryDelay`` ("Please retry in 36s") [OBS: google-gemini/gemini-cli issues
  8437 and 22486]. That one passes in seconds: the retry policy waits it out as before.
* a quota of zero (``limit: 0``) is neither: no wait lifts it (``_core/error_hints.is_quota_zero``).
* batches end within 48 hours: the service expires a batch still unfinished then
  (https://ai.google.dev/gemini-api/docs/batch-mode, "Batch jobs expire after 48 hours"), so a
  batch created more than :data:`IN_FLIGHT_HORIZON_SECONDS` ago no longer counts, and a list
  walk (newest first, as the service lists) can stop at the first such batch.

So a create's 429 is read as "the project is at its concurrent-batch (or enqueued-token) limit"
when it is a 429 that is neither a quota of zero nor a windowed quota (:func:`is_capacity_refusal`).
Both limits are freed by batches ending, which is what the waiters watch for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_gemini_batch._core.error_hints import is_quota_zero
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch.exceptions import GeminiApiError, GeminiNoQuotaError

#: Batches a project may have PENDING or RUNNING at once (rate-limits page, "Batch API" table).
DEFAULT_CONCURRENT_BATCH_LIMIT = 100
#: Seconds after which a batch cannot be in flight any more: 48 h expiry plus one hour of margin.
IN_FLIGHT_HORIZON_SECONDS = 49 * 3600.0
#: Most list pages one count reads (at the default 100 per page: 2,000 batches, far past the
#: 100 that can be in flight). A count cut short by it is a lower bound and says so.
MAX_COUNT_PAGES = 20
#: A quota whose window is a minute or a day (``quotaId`` or message), not a count of batches.
_WINDOWED = re.compile(r"per\s*(?:minute|day|second)|retry in\s+\d", re.IGNORECASE)


def _windowed_quota(message: str | None, details: Iterable[Any]) -> bool:
    """Whether a 429 names a time-windowed quota (requests or tokens per minute/day)."""
    if message and _WINDOWED.search(message):
        return True
    for item in details:
        if not isinstance(item, Mapping):
            continue
        kind = str(item.get("@type", ""))
        if kind.endswith("RetryInfo"):
            return True
        if kind.endswith("QuotaFailure"):
            violations = item.get("violations")
            for violation in violations if isinstance(violations, list) else []:
                if not isinstance(violation, Mapping):
                    continue
                words = " ".join(str(violation.get(k, "")) for k in ("quotaId", "quotaMetric", "subject"))
                if _WINDOWED.search(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", words)):
                    return True
    return False


def is_capacity_refusal(exc: BaseException) -> bool:
    """Whether a create's error is the project's concurrent-batch (or enqueued-token) limit.

    True for a 429 that is not a quota of zero (:class:`GeminiNoQuotaError`), names no
    per-minute/per-day quota and says nothing of when to retry (no ``RetryInfo``, no
    ``Retry-After``; see the module docstring for the shapes).
    """
    if not isinstance(exc, GeminiApiError) or isinstance(exc, GeminiNoQuotaError):
        return False
    if exc.http_status != 429 or is_quota_zero(429, exc.api_message, exc.details):
        return False
    if exc.retry_after is not None:
        # The server said when to try again (Retry-After or RetryInfo): the call's retry honours it.
        return False
    return not _windowed_quota(exc.api_message, exc.details)


@dataclass
class InFlightCount:
    """Batches in flight found by one bounded list walk.

    :param running: batches PENDING or RUNNING (or in a state this release does not know).
    :param scanned: batches looked at.
    :param complete: False when the walk stopped at its page bound before the list ended or
        reached batches older than the horizon: ``running`` is then a lower bound.
    """

    running: int = 0
    scanned: int = 0
    complete: bool = True

    def add_page(self, batches: Iterable[Batch], now: datetime) -> bool:
        """Count one page; returns True when the walk may stop (a batch past the horizon seen)."""
        for batch in batches:
            self.scanned += 1
            created = batch.create_time
            if created is not None and (now - created).total_seconds() > IN_FLIGHT_HORIZON_SECONDS:
                # Newest first: everything after this one is older and has ended.
                return True
            if not batch.done:
                self.running += 1
        return False


def slot_looks_free(running: int, limit: int, first_seen: int | None) -> bool:
    """Whether a create may be tried again.

    ``first_seen`` is the count the waiter saw at its first look after the refusal. Free when the
    count is under ``limit``, and, when the refusal came below ``limit`` (the project's limit is
    lower, or the limit hit was the enqueued tokens), once a batch ended since then (fewer than
    ``first_seen``), or when nothing at all is in flight.
    """
    if running == 0:
        return True
    if first_seen is not None and first_seen < limit:
        return running < first_seen
    return running < limit
