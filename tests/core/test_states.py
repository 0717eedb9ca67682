"""The one table of batch states: spellings, terminal sets, and the wait decision."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.states import (
    ACTIVE_STATES,
    FAILURE_STATES,
    SUCCESS_STATES,
    TERMINAL_STATES,
    BatchState,
    OutcomeKind,
    interpret,
)
from airflow_provider_gemini_batch.exceptions import UnknownBatchStateError


def _batch(state: str, **meta: Any) -> Batch:
    op: dict[str, Any] = {
        "name": "batches/abc",
        "metadata": {"name": "batches/abc", "state": state, **meta},
    }
    return Batch.from_operation(op)


def test_every_state_is_exactly_one_of_active_success_or_failure() -> None:
    for state in BatchState:
        memberships = [state in ACTIVE_STATES, state in SUCCESS_STATES, state in FAILURE_STATES]
        assert memberships.count(True) == 1, state


def test_terminal_states_are_success_plus_failure() -> None:
    assert TERMINAL_STATES == SUCCESS_STATES | FAILURE_STATES
    assert {BatchState.SUCCEEDED} == SUCCESS_STATES


@pytest.mark.parametrize("state", list(BatchState))
def test_rest_and_sdk_spellings_parse_to_the_same_state(state: BatchState) -> None:
    assert BatchState.parse(state.value) is state
    assert BatchState.parse("JOB_STATE_" + state.name) is state


def test_missing_state_is_unspecified_not_an_error() -> None:
    # proto3 omits zero values, so an absent state is the enum's zero value.
    assert BatchState.parse(None) is BatchState.UNSPECIFIED
    assert BatchState.parse("") is BatchState.UNSPECIFIED


@pytest.mark.parametrize(
    "spelling", ["JOB_STATE_PARTIALLY_SUCCEEDED", "BATCH_STATE_PAUSED", "SUCCEEDED?", "done"]
)
def test_unknown_state_raises_naming_the_batch(spelling: str) -> None:
    with pytest.raises(UnknownBatchStateError) as info:
        BatchState.parse(spelling, batch_name="batches/xyz")
    assert spelling in str(info.value)
    assert "batches/xyz" in str(info.value)


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        ("BATCH_STATE_PENDING", OutcomeKind.WAIT),
        ("BATCH_STATE_RUNNING", OutcomeKind.WAIT),
        ("BATCH_STATE_UNSPECIFIED", OutcomeKind.WAIT),
        ("BATCH_STATE_SUCCEEDED", OutcomeKind.SUCCESS),
        ("BATCH_STATE_FAILED", OutcomeKind.FAILURE),
        ("BATCH_STATE_CANCELLED", OutcomeKind.FAILURE),
        ("BATCH_STATE_EXPIRED", OutcomeKind.FAILURE),
        ("JOB_STATE_SUCCEEDED", OutcomeKind.SUCCESS),
        ("JOB_STATE_CANCELLED", OutcomeKind.FAILURE),
    ],
)
def test_interpret_waits_succeeds_only_on_succeeded_and_fails_otherwise(
    state: str, kind: OutcomeKind
) -> None:
    assert interpret(_batch(state)).kind is kind


def test_failure_message_names_batch_state_counts_error_and_next_step() -> None:
    batch = Batch.from_operation(
        {
            "name": "batches/abc",
            "metadata": {
                "state": "BATCH_STATE_FAILED",
                "batchStats": {"requestCount": "4", "failedRequestCount": "4"},
            },
            "error": {"code": 13, "message": "Internal error."},
        }
    )
    message = interpret(batch).message
    assert "batches/abc" in message
    assert "FAILED" in message
    assert "4 requests" in message
    assert "4 failed" in message
    assert "API error: code 13: Internal error." in message
    assert ".." not in message
    assert "submit a new batch" in message


def test_expired_message_says_to_split_and_resubmit() -> None:
    assert "split" in interpret(_batch("BATCH_STATE_EXPIRED")).message
