"""The one table of batch states: spellings, terminal sets, and the wait decision."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.states import (
    ACTIVE_STATES,
    FAILURE_STATES,
    PARTIAL_STATES,
    SUCCESS_STATES,
    TERMINAL_STATES,
    UNKNOWN_STATES,
    BatchState,
)
from airflow_provider_gemini_batch._core.waiting import OutcomeKind, StepKind, WaitTracker, interpret
from airflow_provider_gemini_batch.exceptions import UnknownBatchStateError


def _batch(state: str, **meta: Any) -> Batch:
    op: dict[str, Any] = {
        "name": "batches/abc",
        "metadata": {"name": "batches/abc", "state": state, **meta},
    }
    return Batch.from_operation(op)


def test_every_state_is_exactly_one_of_active_success_partial_failure_or_unknown() -> None:
    for state in BatchState:
        memberships = [
            state in ACTIVE_STATES,
            state in SUCCESS_STATES,
            state in PARTIAL_STATES,
            state in FAILURE_STATES,
            state in UNKNOWN_STATES,
        ]
        assert memberships.count(True) == 1, state


def test_terminal_states_are_success_partial_and_failure() -> None:
    assert TERMINAL_STATES == SUCCESS_STATES | PARTIAL_STATES | FAILURE_STATES
    assert {BatchState.SUCCEEDED} == SUCCESS_STATES
    assert BatchState.UNKNOWN not in TERMINAL_STATES


def test_every_sdk_job_state_is_known() -> None:
    """python-genai ``types.JobState`` (commit 66807187f212): all twelve values parse strictly."""
    sdk = [
        "UNSPECIFIED", "QUEUED", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING",
        "CANCELLED", "PAUSED", "EXPIRED", "UPDATING", "PARTIALLY_SUCCEEDED",
    ]  # fmt: skip
    for name in sdk:
        assert BatchState.parse("JOB_STATE_" + name) is BatchState[name]


@pytest.mark.parametrize("state", [s for s in BatchState if s is not BatchState.UNKNOWN])
def test_rest_and_sdk_spellings_parse_to_the_same_state(state: BatchState) -> None:
    assert BatchState.parse(state.value) is state
    assert BatchState.parse("JOB_STATE_" + state.name) is state


def test_missing_state_is_unspecified_not_an_error() -> None:
    # proto3 omits zero values, so an absent state is the enum's zero value.
    assert BatchState.parse(None) is BatchState.UNSPECIFIED
    assert BatchState.parse("") is BatchState.UNSPECIFIED


@pytest.mark.parametrize("spelling", ["BATCH_STATE_HIBERNATING", "SUCCEEDED?", "done", "UNKNOWN"])
def test_unknown_state_raises_naming_the_batch_when_parsed_strictly(spelling: str) -> None:
    with pytest.raises(UnknownBatchStateError) as info:
        BatchState.parse(spelling, batch_name="batches/xyz")
    # The spelling is server-supplied: quoted only in the shape of a state word (upper case and
    # underscores), else withheld (a broken server's free text, or a key it echoes).
    if spelling.isupper() and spelling.replace("_", "").isalpha():
        assert repr(spelling) in str(info.value)
    else:
        assert spelling not in str(info.value)
        assert "not a state word, withheld" in str(info.value)
    assert "batches/xyz" in str(info.value)
    assert BatchState.parse_lenient(spelling) is BatchState.UNKNOWN


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
        ("JOB_STATE_QUEUED", OutcomeKind.WAIT),
        ("JOB_STATE_CANCELLING", OutcomeKind.WAIT),
        ("JOB_STATE_PAUSED", OutcomeKind.WAIT),
        ("JOB_STATE_UPDATING", OutcomeKind.WAIT),
        ("JOB_STATE_PARTIALLY_SUCCEEDED", OutcomeKind.SUCCESS),
        ("BATCH_STATE_HIBERNATING", OutcomeKind.WAIT),
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


def test_partial_success_is_success_with_a_warning_never_silent() -> None:
    outcome = interpret(_batch("JOB_STATE_PARTIALLY_SUCCEEDED"))
    assert outcome.kind is OutcomeKind.SUCCESS
    assert outcome.warning
    assert "PARTIALLY_SUCCEEDED" in outcome.warning


def test_unknown_state_waits_with_a_warning_unless_done() -> None:
    waiting = interpret(_batch("BATCH_STATE_HIBERNATING"))
    assert waiting.kind is OutcomeKind.WAIT
    assert waiting.warning
    assert "BATCH_STATE_HIBERNATING" in waiting.warning
    done = Batch.from_operation(
        {"name": "batches/abc", "done": True, "metadata": {"state": "BATCH_STATE_HIBERNATING"}}
    )
    ended = interpret(done)
    assert ended.kind is OutcomeKind.FAILURE
    assert "BATCH_STATE_HIBERNATING" in ended.message
    assert "not treated as success" in ended.message


def test_tracker_warns_once_per_unknown_state() -> None:
    tracker = WaitTracker("batches/abc")
    first = tracker.observe(_batch("BATCH_STATE_HIBERNATING"), 0.0)
    second = tracker.observe(_batch("BATCH_STATE_HIBERNATING"), 1.0)
    assert first.warning
    assert second.warning is None


def test_success_without_output_reference_is_reread_then_fails_clearly() -> None:
    bare = Batch.from_operation(
        {"name": "batches/abc", "done": True, "metadata": {"state": "BATCH_STATE_SUCCEEDED"}}
    )
    tracker = WaitTracker("batches/abc", output_grace=30.0)
    step = tracker.observe(bare, 100.0)
    assert step.kind is StepKind.WAIT
    assert step.full_read
    assert tracker.observe(bare, 129.0).kind is StepKind.WAIT
    final = tracker.observe(bare, 130.0)
    assert final.kind is StepKind.ERROR
    assert "names no output" in final.message
    assert "batches/abc" in final.message


def test_success_with_output_reference_succeeds_at_once() -> None:
    batch = Batch.from_operation(
        {
            "name": "batches/abc",
            "done": True,
            "metadata": {"state": "BATCH_STATE_SUCCEEDED", "output": {"responsesFile": "files/batch-abc"}},
        }
    )
    assert WaitTracker("batches/abc").observe(batch, 0.0).kind is StepKind.SUCCESS
