"""The one error policy of a wait (``_core/poll_errors.py``): what a failed poll means.

Pure: each case feeds one error, the failures before it and the time left, and checks the outcome.
The trigger's loop and the worker-side wait act on these outcomes (their behaviour over a real
socket is covered by tests/triggers/test_trigger_retry_layer.py and the sensor tests).
"""

from __future__ import annotations

import math

import pytest

from airflow_provider_gemini_batch._core.poll_errors import (
    WORKER_POLL_ERRORS,
    ErrorAction,
    PollErrorPolicy,
)
from airflow_provider_gemini_batch._core.retry import RetryPolicy
from airflow_provider_gemini_batch.exceptions import (
    GeminiConnectionConfigError,
    GeminiNoQuotaError,
    GeminiNotFoundError,
    GeminiServerError,
    GeminiTransportError,
)


def _server_error(retry_after: float | None = None) -> GeminiServerError:
    return GeminiServerError(
        http_status=503, status="UNAVAILABLE", message="try later", retry_after=retry_after
    )


@pytest.mark.parametrize(
    "error",
    [
        GeminiNotFoundError(http_status=404, status="NOT_FOUND", message="gone"),
        GeminiNoQuotaError(http_status=429, status="RESOURCE_EXHAUSTED", message="quota 0"),
        GeminiConnectionConfigError("no api key"),
    ],
    ids=["404", "zero-quota", "config"],
)
def test_an_error_no_wait_can_outlast_fails_at_once(error: Exception) -> None:
    outcome = PollErrorPolicy().judge(error, failures=3, remaining=3600.0)
    assert outcome.action is ErrorAction.FAIL
    assert outcome.failures == 3  # the count of transient failures is left as it was
    assert outcome.ends_wait


def test_transient_errors_back_off_then_give_up_after_the_limit() -> None:
    policy = PollErrorPolicy(
        max_consecutive_errors=3, backoff=RetryPolicy(initial_delay=2.0, max_delay=300.0)
    )
    first = policy.judge(_server_error(), failures=0, remaining=3600.0)
    assert first.action is ErrorAction.RETRY
    assert first.failures == 1
    assert 1.0 <= first.delay <= 2.0  # jittered in [base/2, base]
    second = policy.judge(GeminiTransportError("no answer", timed_out=True), failures=1, remaining=3600.0)
    assert second.action is ErrorAction.RETRY
    assert second.failures == 2
    assert 2.0 <= second.delay <= 4.0  # doubled
    third = policy.judge(_server_error(), failures=2, remaining=3600.0)
    assert third.action is ErrorAction.GIVE_UP
    assert third.failures == 3
    assert third.ends_wait


def test_retry_after_is_a_floor_capped_by_the_backoff_cap() -> None:
    policy = PollErrorPolicy(backoff=RetryPolicy(initial_delay=2.0, max_delay=300.0))
    assert policy.judge(_server_error(retry_after=40.0), 0, 3600.0).delay == 40.0
    assert policy.judge(_server_error(retry_after=86400.0), 0, 3600.0).delay == 300.0


def test_a_backoff_that_would_pass_the_deadline_is_out_of_time() -> None:
    policy = PollErrorPolicy(backoff=RetryPolicy(initial_delay=2.0, max_delay=300.0))
    outcome = policy.judge(_server_error(retry_after=40.0), failures=0, remaining=10.0)
    assert outcome.action is ErrorAction.OUT_OF_TIME
    assert outcome.delay == 40.0
    assert not outcome.ends_wait


def test_the_worker_wait_never_retries_a_read_its_hook_already_retried() -> None:
    transient = WORKER_POLL_ERRORS.judge(_server_error(), failures=0, remaining=math.inf)
    assert transient.action is ErrorAction.GIVE_UP
    permanent = WORKER_POLL_ERRORS.judge(
        GeminiNotFoundError(http_status=404, status="NOT_FOUND", message="gone"), 0, math.inf
    )
    assert permanent.action is ErrorAction.FAIL
