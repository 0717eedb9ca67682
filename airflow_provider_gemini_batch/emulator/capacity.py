"""The project's concurrent-batch limit: the answer to a create over it.

The limit: https://ai.google.dev/gemini-api/docs/rate-limits, section "Batch API", "Concurrent
batch requests: 100" (the ``max_active_batches`` knob, ``--max-concurrent-batches N`` on the
command line). Batches PENDING or RUNNING count, and so do deleted ones still running.

The answer: no public capture shows the 101st create, so it is shaped like the 429s users reported
from batch creates [OBS: langchain4j/langchain4j pull request #3942 (CI log of a batch integration
run), googleapis/js-genai issue #1264, discuss.ai.google.dev thread 115183]: HTTP 429, status
RESOURCE_EXHAUSTED, the generic quota message, a ``google.rpc.Help`` link to the rate-limits page
and nothing else: no ``QuotaFailure``, no ``RetryInfo``, no ``Retry-After``. A client cannot tell
the cause from the text; it can count the project's batches in flight.
"""

from __future__ import annotations

from airflow_provider_gemini_batch.emulator.wire import ApiError

RATE_LIMITS_URL = "https://ai.google.dev/gemini-api/docs/rate-limits"
#: The message of the batch 429s quoted in the sources above.
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    f"information on this error, head to: {RATE_LIMITS_URL}. To monitor your current usage, head "
    "to: https://ai.dev/rate-limit. "
)


def over_concurrent_limit() -> ApiError:
    """429 RESOURCE_EXHAUSTED for a create while the project is at its concurrent-batch limit."""
    help_link = {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [{"description": "Learn more about Gemini API quotas", "url": RATE_LIMITS_URL}],
    }
    return ApiError(429, QUOTA_MESSAGE, status="RESOURCE_EXHAUSTED", details=[help_link])
