"""The pending watch: timed from ``createTime``, each signal once, the policy's stop flag."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.pending import (
    DEFAULT_PENDING_TIMEOUT,
    EXPIRY_SECONDS,
    PendingWatch,
    SignalKind,
    check_policy,
)
from airflow_provider_gemini_batch.messages.pending import near_expiry_text, stuck_text

CREATED = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


def _batch(state: str = "BATCH_STATE_PENDING", *, created: bool = True, done: bool = False) -> Batch:
    meta: dict[str, object] = {"name": "batches/abc", "state": state}
    if created:
        meta["createTime"] = "2026-01-01T00:00:00Z"
    return Batch.from_operation({"name": "batches/abc", "done": done, "metadata": meta})


def test_default_is_six_hours_and_leaves_a_replacement_most_of_the_48() -> None:
    assert DEFAULT_PENDING_TIMEOUT == 6 * 3600
    assert EXPIRY_SECONDS - DEFAULT_PENDING_TIMEOUT == 42 * 3600


def test_a_watch_started_late_counts_from_create_time_at_once() -> None:
    """A resumed or reattached wait does not restart the clock: its first poll, 7 h after the
    batch was created, flags it."""
    watch = PendingWatch("batches/abc", timeout=6 * 3600, policy="warn")
    signal = watch.observe(_batch(), CREATED + 7 * 3600)
    assert signal is not None
    assert signal.kind is SignalKind.STUCK
    assert signal.age == pytest.approx(7 * 3600)
    assert signal.timed_from_create
    assert not signal.stop
    assert watch.observe(_batch(), CREATED + 8 * 3600) is None  # once per wait


def test_without_create_time_the_first_observation_starts_the_clock() -> None:
    watch = PendingWatch("batches/abc", timeout=60, policy="fail")
    assert watch.observe(_batch(created=False), 1000.0) is None
    signal = watch.observe(_batch(created=False), 1061.0)
    assert signal is not None
    assert signal.stop
    assert not signal.timed_from_create
    assert "since this wait first saw it" in stuck_text(signal, "fail")


@pytest.mark.parametrize("state", ["BATCH_STATE_RUNNING", "BATCH_STATE_CANCELLING"])
def test_a_started_batch_is_never_stuck(state: str) -> None:
    watch = PendingWatch("batches/abc", timeout=60, policy="recreate")
    assert watch.observe(_batch(state), CREATED + 3600) is None


def test_queued_is_pending_too_and_none_never_flags() -> None:
    assert PendingWatch("batches/abc", 60, "warn").observe(_batch("JOB_STATE_QUEUED"), CREATED + 61)
    assert PendingWatch("batches/abc", None, "warn").observe(_batch(), CREATED + 3600) is None


def test_near_expiry_is_said_once_for_any_batch_not_ended() -> None:
    watch = PendingWatch("batches/abc", timeout=None)
    assert watch.observe(_batch("BATCH_STATE_RUNNING"), CREATED + 41 * 3600) is None
    signal = watch.observe(_batch("BATCH_STATE_RUNNING"), CREATED + 43 * 3600)
    assert signal is not None
    assert signal.kind is SignalKind.NEAR_EXPIRY
    assert "expires in about 5 h 0 min" in near_expiry_text(signal, "RUNNING")
    assert watch.observe(_batch("BATCH_STATE_RUNNING"), CREATED + 44 * 3600) is None
    ended = PendingWatch("batches/abc", timeout=60)
    assert ended.observe(_batch("BATCH_STATE_SUCCEEDED", done=True), CREATED + 47 * 3600) is None


def test_policy_names_are_checked() -> None:
    assert check_policy("warn") is None
    assert check_policy("retry") is not None
