"""Batch states and the one pure decision every waiter makes: keep waiting, succeed, or fail.

The REST service speaks ``BATCH_STATE_*``; the google-genai SDK renames the same values
``JOB_STATE_*``. Both spellings are accepted on input. An unknown state raises instead of being
polled forever, and only an explicit ``SUCCEEDED`` counts as success.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_gemini_batch.exceptions import UnknownBatchStateError

if TYPE_CHECKING:
    from airflow_provider_gemini_batch._core.models import Batch


class BatchState(str, enum.Enum):
    """The seven states of a Gemini batch, valued as the REST API spells them."""

    UNSPECIFIED = "BATCH_STATE_UNSPECIFIED"
    PENDING = "BATCH_STATE_PENDING"
    RUNNING = "BATCH_STATE_RUNNING"
    SUCCEEDED = "BATCH_STATE_SUCCEEDED"
    FAILED = "BATCH_STATE_FAILED"
    CANCELLED = "BATCH_STATE_CANCELLED"
    EXPIRED = "BATCH_STATE_EXPIRED"

    @classmethod
    def parse(cls, value: str | None, *, batch_name: str | None = None) -> BatchState:
        """Map a wire or SDK spelling to a state.

        ``None`` or an empty string (proto3 omits the zero value) is ``UNSPECIFIED``.

        :raises UnknownBatchStateError: for any spelling outside the seven known states.
        """
        if not value:
            return cls.UNSPECIFIED
        suffix = value.removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
        try:
            return cls["UNSPECIFIED" if suffix == "STATE_UNSPECIFIED" else suffix]
        except KeyError:
            raise UnknownBatchStateError(value, batch_name=batch_name) from None

    @property
    def short(self) -> str:
        """The state without its prefix, e.g. ``"SUCCEEDED"`` (for logs and manifests)."""
        return self.name

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


#: States after which the batch will never change again.
TERMINAL_STATES: frozenset[BatchState] = frozenset(
    {BatchState.SUCCEEDED, BatchState.FAILED, BatchState.CANCELLED, BatchState.EXPIRED}
)
#: The only state that makes a wait succeed. Whitelisted on purpose: a new failure state must
#: never be mistaken for success.
SUCCESS_STATES: frozenset[BatchState] = frozenset({BatchState.SUCCEEDED})
#: Terminal states that fail a wait.
FAILURE_STATES: frozenset[BatchState] = TERMINAL_STATES - SUCCESS_STATES
#: States in which the batch is still in flight (worth cancelling on kill).
ACTIVE_STATES: frozenset[BatchState] = frozenset(
    {BatchState.UNSPECIFIED, BatchState.PENDING, BatchState.RUNNING}
)


class OutcomeKind(str, enum.Enum):
    WAIT = "wait"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class Outcome:
    """What a waiter should do next for one observation of a batch."""

    kind: OutcomeKind
    state: BatchState
    message: str


def interpret(batch: Batch) -> Outcome:
    """Decide, purely from one observed batch, whether to keep waiting, succeed or fail.

    The sync sensor loop and the async trigger both call this; it is the only table of states.
    The failure message names the batch, its state, its request counts and the API's error.
    """
    state = batch.state
    if state in SUCCESS_STATES:
        return Outcome(
            OutcomeKind.SUCCESS, state, f"Batch {batch.name} succeeded ({batch.stats.describe()})."
        )
    if state in FAILURE_STATES:
        return Outcome(OutcomeKind.FAILURE, state, describe_failure(batch))
    return Outcome(
        OutcomeKind.WAIT, state, f"Batch {batch.name} is {state.short} ({batch.stats.describe()})."
    )


_NEXT_STEP = {
    BatchState.FAILED: "Inspect the error, fix the input and submit a new batch.",
    BatchState.CANCELLED: (
        "The batch was cancelled; results finished before the cancel are still landed when the API "
        "offers them."
    ),
    BatchState.EXPIRED: (
        "The batch stayed pending or running for more than 48 hours; split the input into smaller batches "
        "and resubmit."
    ),
}


def describe_failure(batch: Batch) -> str:
    """A one-paragraph message for a batch that ended badly: name, state, stats, error, next step."""
    parts = [f"Batch {batch.name} ended in state {batch.state.short} ({batch.stats.describe()})."]
    if batch.error is not None:
        # The API's own message usually ends with a full stop already.
        parts.append(f"API error: {batch.error.describe().rstrip('.')}.")
    step = _NEXT_STEP.get(batch.state)
    if step:
        parts.append(step)
    return " ".join(parts)
