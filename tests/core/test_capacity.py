"""Reading a create's 429: the concurrent-batch limit vs a per-minute quota vs a quota of zero.

The shapes come from public reports (see ``_core/capacity.py``): the batch 429 carries the generic
quota text and at most a ``Help`` link; a per-minute quota names its window in ``QuotaFailure`` and
asks for a delay in ``RetryInfo``; ``limit: 0`` is no quota at all.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.capacity import InFlightCount, is_capacity_refusal, slot_looks_free
from airflow_provider_gemini_batch._core.errors import error_from_response
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.retry import is_retryable
from tests.real_service.captures_faults import QUOTA_ZERO_BODY, RATE_LIMIT_BODY

GENERIC = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
HELP = {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"url": "https://ai.google.dev"}]}


def _answer(message: str, details: list[Any], status: int = 429) -> Any:
    body = json.dumps(
        {"error": {"code": status, "message": message, "status": "RESOURCE_EXHAUSTED", "details": details}}
    )
    return error_from_response(
        status, body, {}, resource="models/gemini-2.5-flash", method="Creating a batch"
    )


@pytest.mark.parametrize(
    ("message", "details", "capacity"),
    [
        (GENERIC, [HELP], True),  # langchain4j PR 3942's batch 429
        (GENERIC, [], True),  # discuss.ai.google.dev 107091: no details at all
        (
            "Quota exceeded. Please retry in 36.3s.",
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "36s"}],
            False,
        ),
        (
            GENERIC,
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}],
                }
            ],
            False,
        ),
        ("Quota exceeded for metric: x, limit: 0, model: gemini-2.5-pro", [], False),
    ],
)
def test_which_429_is_the_concurrent_batch_limit(message: str, details: list[Any], capacity: bool) -> None:
    exc = _answer(message, details)
    assert is_capacity_refusal(exc) is capacity
    # A create is retried by the call's policy only when the refusal is not the batch limit.
    assert is_retryable(exc, idempotent=False) is (not capacity and "limit: 0" not in message)
    # Reads keep retrying any 429 but a quota of zero.
    assert is_retryable(exc, idempotent=True) is ("limit: 0" not in message)


@pytest.mark.parametrize(("body", "capacity"), [(RATE_LIMIT_BODY, False), (QUOTA_ZERO_BODY, False)])
def test_the_replayed_quota_answers_are_not_the_limit(body: dict[str, Any], capacity: bool) -> None:
    """The stand-in's replayed per-minute and limit-0 answers (``tests/real_service``)."""
    exc = error_from_response(429, json.dumps(body), {}, resource="models/m", method="Creating a batch")
    assert is_capacity_refusal(exc) is capacity


def test_a_retry_after_header_makes_it_a_rate_limit() -> None:
    exc = error_from_response(
        429,
        json.dumps({"error": {"code": 429, "message": GENERIC, "status": "RESOURCE_EXHAUSTED"}}),
        {"Retry-After": "3"},
    )
    assert not is_capacity_refusal(exc)


def test_other_statuses_are_not_the_limit() -> None:
    assert not is_capacity_refusal(_answer(GENERIC, [], status=503))
    assert not is_capacity_refusal(ValueError("429"))


def _batch(state: str, age_hours: float, now: datetime) -> Batch:
    created = (now - timedelta(hours=age_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Batch.from_operation(
        {"name": "batches/x", "metadata": {"state": f"BATCH_STATE_{state}", "createTime": created}}
    )


def test_count_stops_at_the_first_batch_past_the_expiry_horizon() -> None:
    now = datetime.now(timezone.utc)
    count = InFlightCount()
    page = [_batch("RUNNING", 1, now), _batch("SUCCEEDED", 2, now), _batch("PENDING", 3, now)]
    assert count.add_page(page, now) is False
    assert count.add_page([_batch("RUNNING", 50, now), _batch("RUNNING", 51, now)], now) is True
    assert (count.running, count.scanned) == (2, 4)


@pytest.mark.parametrize(
    ("running", "limit", "first_seen", "free"),
    [
        (100, 100, 100, False),
        (99, 100, 100, True),
        (2, 100, 2, False),  # the service refused at 2: wait until one of them ends
        (1, 100, 2, True),
        (0, 100, 0, True),  # nothing in flight: the refusal was not about the count
    ],
)
def test_slot_looks_free(running: int, limit: int, first_seen: int, free: bool) -> None:
    assert slot_looks_free(running, limit, first_seen) is free
