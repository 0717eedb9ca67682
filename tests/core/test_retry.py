"""The one retry policy: which failures are retried, how long it waits, when it gives up."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_gemini_batch._core import retry
from airflow_provider_gemini_batch._core.retry import RetryPolicy, is_retryable
from airflow_provider_gemini_batch.exceptions import (
    GeminiClientError,
    GeminiInvalidInputError,
    GeminiRateLimitError,
    GeminiServerError,
    GeminiTransportError,
)


def _api(cls: type, code: int, retry_after: float | None = None) -> Exception:
    return cls(http_status=code, status="S", message="m", retry_after=retry_after)


@pytest.mark.parametrize("code", [408, 500, 502, 503, 504])
def test_transient_statuses_are_retried_for_idempotent_calls_only(code: int) -> None:
    exc = _api(GeminiServerError if code >= 500 else GeminiClientError, code)
    assert is_retryable(exc, idempotent=True)
    # A create that got a 5xx may have created the batch: never repeat it.
    assert not is_retryable(exc, idempotent=False)


def test_rate_limit_is_retried_even_for_create() -> None:
    # A 429 that says when to retry (Retry-After / RetryInfo) is a rate limit: retried for create.
    assert is_retryable(_api(GeminiRateLimitError, 429, retry_after=2.0), idempotent=False)
    # One that does not is read as the project's concurrent-batch limit: the create operator
    # waits for a free slot instead (_core/capacity.py); reads still retry it.
    assert not is_retryable(_api(GeminiRateLimitError, 429), idempotent=False)
    assert is_retryable(_api(GeminiRateLimitError, 429), idempotent=True)


def test_transport_errors_are_retried_for_create_only_when_never_sent() -> None:
    assert is_retryable(GeminiTransportError("refused", sent=False), idempotent=False)
    assert not is_retryable(GeminiTransportError("reset after send", sent=True), idempotent=False)
    assert is_retryable(GeminiTransportError("read timeout", sent=True, timed_out=True), idempotent=True)


def test_client_errors_and_bad_input_are_not_retried() -> None:
    assert not is_retryable(_api(GeminiClientError, 400), idempotent=True)
    assert not is_retryable(_api(GeminiServerError, 501), idempotent=True)
    assert not is_retryable(GeminiInvalidInputError("x"), idempotent=True)


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)
    low = [policy.backoff(n, rng=lambda a, b: a) for n in range(1, 6)]
    high = [policy.backoff(n, rng=lambda a, b: b) for n in range(1, 6)]
    assert high == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert low == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_retry_after_is_a_floor_for_the_wait_up_to_the_backoff_cap() -> None:
    policy = RetryPolicy(initial_delay=0.01, max_delay=5.0)
    assert policy.delay_for(_api(GeminiRateLimitError, 429, retry_after=3.0), 1) == 3.0
    # A day asked for is honoured only up to max_delay.
    assert policy.delay_for(_api(GeminiRateLimitError, 429, retry_after=86400.0), 1) == 5.0


def _flaky(failures: list[Exception]) -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    return calls, fn


def test_sync_retrying_recovers_and_sleeps_through_the_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(retry, "sleep", waits.append)
    calls, fn = _flaky([_api(GeminiServerError, 503), _api(GeminiRateLimitError, 429, retry_after=2.0)])
    assert RetryPolicy(initial_delay=0.01, max_delay=2.0).retrying(idempotent=True)(fn) == "ok"
    assert len(calls) == 3
    assert waits[1] == 2.0  # Retry-After honoured


def test_attempts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "sleep", lambda s: None)
    calls, fn = _flaky([_api(GeminiServerError, 503) for _ in range(10)])
    with pytest.raises(GeminiServerError):
        RetryPolicy(max_retries=2, initial_delay=0.0).retrying(idempotent=True)(fn)
    assert len(calls) == 3


def test_a_wait_beyond_the_deadline_is_not_made(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(retry, "sleep", waits.append)
    calls, fn = _flaky([_api(GeminiRateLimitError, 429, retry_after=600.0), _api(GeminiRateLimitError, 429)])
    with pytest.raises(GeminiRateLimitError):
        RetryPolicy(deadline=10.0).retrying(idempotent=True)(fn)
    assert len(calls) == 1
    assert waits == []


def test_create_is_not_retried_after_a_server_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "sleep", lambda s: None)
    calls, fn = _flaky([_api(GeminiServerError, 500)])
    with pytest.raises(GeminiServerError):
        RetryPolicy().retrying(idempotent=False)(fn)
    assert len(calls) == 1


def test_async_retrying_uses_the_async_sleep_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(retry, "async_sleep", fake_sleep)
    failures = [_api(GeminiServerError, 502)]

    async def fn() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    result = asyncio.run(RetryPolicy(initial_delay=0.5, max_delay=0.5).async_retrying(idempotent=True)(fn))
    assert result == "ok"
    assert len(waits) == 1
    assert 0.25 <= waits[0] <= 0.5


def test_progress_renews_attempts_and_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seven failures in all (max_retries is 5) over 700 s (deadline 300 s), each after progress."""
    now = [0.0]
    waits: list[float] = []
    monkeypatch.setattr(retry, "monotonic", lambda: now[0])
    monkeypatch.setattr(retry, "sleep", waits.append)
    budget = retry.RetryBudget()
    failures = [_api(GeminiServerError, 503) for _ in range(7)]

    def step() -> str:
        now[0] += 100.0  # each attempt moves data for 100 s, then (mostly) fails
        budget.renew()
        if failures:
            raise failures.pop(0)
        return "done"

    assert RetryPolicy().retrying(idempotent=True, budget=budget)(step) == "done"
    assert len(waits) == 7


def test_without_progress_the_budget_is_the_whole_call(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(retry, "monotonic", lambda: now[0])
    monkeypatch.setattr(retry, "sleep", lambda s: None)
    calls = []

    def step() -> str:
        calls.append(1)
        now[0] += 100.0
        raise _api(GeminiServerError, 503)

    with pytest.raises(GeminiServerError):
        RetryPolicy().retrying(idempotent=True, budget=retry.RetryBudget())(step)
    assert len(calls) == 3  # the third failure ends at 300 s: no wait fits in the deadline
