"""A create refused at the project's concurrent-batch limit is raised at once, not retried.

The wait for a free slot lasts until a batch ends (minutes to hours): the create operator does it
by watching the project's batches (deferred or in the worker), so the hook must not spend the
call's retry budget re-sending a create the service keeps refusing. A per-minute quota 429
(``QuotaFailure`` with a per-minute quota id and ``RetryInfo``) still is retried: it passes in
seconds. Both against the emulator on a real socket; the journal counts the creates sent.
"""

from __future__ import annotations

import pytest

from airflow_provider_gemini_batch._core.capacity import is_capacity_refusal
from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiRateLimitError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.hooks.conftest import make_request
from tests.operators._support import MODEL, creates_seen

#: A per-minute quota answer, shaped as users quote it (google-gemini/gemini-cli #8437, #22486).
PER_MINUTE_429 = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota. Please retry in 2.5s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                        "quotaValue": "10",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0s"},
        ],
    }
}


def test_the_limit_429_is_raised_at_once_and_a_per_minute_429_is_retried(
    hook: GeminiBatchHook, fast_conn: EmulatorServer, sleeps: list[float]
) -> None:
    fast_conn.control.configure(max_active_batches=1, processing_seconds=3600)
    hook.create_batch(MODEL, requests=[make_request("first")])
    fast_conn.control.clear_journal()

    with pytest.raises(GeminiRateLimitError) as refused:
        hook.create_batch(MODEL, requests=[make_request("second")])
    assert is_capacity_refusal(refused.value)
    assert creates_seen(fast_conn) == 1, "the refused create was sent again"
    assert sleeps == []

    # Room again; a per-minute quota refusal of the next create is waited out and retried.
    fast_conn.control.configure(max_active_batches=5)
    fast_conn.control.clear_journal()
    fast_conn.control.inject_fault(
        method="POST", path=r":batchGenerateContent", status=429, body=PER_MINUTE_429
    )
    batch = hook.create_batch(MODEL, requests=[make_request("third")])
    assert batch.name.startswith("batches/")
    assert creates_seen(fast_conn) == 2
    assert len(sleeps) == 1
