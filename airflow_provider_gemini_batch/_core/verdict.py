"""The verdict: what one observed batch means for a wait, and what a wait remembers across polls.

Pure (no I/O, no clock of its own). Every waiter (the trigger, the operators' synchronous wait,
the sensor's ``poke``) feeds each observed batch to one :class:`WaitTracker`, which calls
:func:`interpret` (the only table of states) and adds what needs memory across polls: the bounded
re-read of a batch that reports success without naming its output, and the one-time warning for a
state this release does not know. The words come from :mod:`airflow_provider_gemini_batch.messages.waiting`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.states import (
    FAILURE_STATES,
    PARTIAL_STATES,
    SUCCESS_STATES,
    BatchState,
)
from airflow_provider_gemini_batch.exceptions import GeminiBatchFailedError, GeminiBatchOutputMissingError
from airflow_provider_gemini_batch.messages import waiting as text

#: Seconds a batch may report SUCCEEDED (or PARTIALLY_SUCCEEDED) without naming its output
#: (neither ``response`` nor ``metadata.output`` carries ``responsesFile`` or inline responses)
#: before the wait fails. The service has been seen to answer
#: ``{"done": true, "metadata": {"state": "BATCH_STATE_SUCCEEDED"}}`` (a user's report;
#: docs/real-service/wire-format.md, Behaviours known from users' reports); the
#: output is expected to appear on a later read, so it is re-read until this passes.
DEFAULT_OUTPUT_GRACE_SECONDS = 600.0


class OutcomeKind(str, enum.Enum):
    WAIT = "wait"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class Outcome:
    """What a waiter should do next for one observation of a batch.

    ``warning`` is set when the outcome must not pass silently (a partial success, an unknown
    state being waited on).
    """

    kind: OutcomeKind
    state: BatchState
    message: str
    warning: str | None = None


def interpret(batch: Batch) -> Outcome:
    """Decide, purely from one observed batch, whether to keep waiting, succeed or fail.

    * SUCCEEDED: success; PARTIALLY_SUCCEEDED: success with a warning (results are landable);
    * FAILED, CANCELLED, EXPIRED: failure, the message names batch, state, counts and error;
    * a state this release does not know: failure when the Operation says ``done`` (it will
      never change), otherwise keep waiting with a warning; never success;
    * anything else (QUEUED, PENDING, RUNNING, CANCELLING, ...): keep waiting.

    Whether a success names its output is the :class:`WaitTracker`'s concern (it needs time).
    """
    state = batch.state
    if state in SUCCESS_STATES:
        return Outcome(OutcomeKind.SUCCESS, state, text.succeeded(batch))
    if state in PARTIAL_STATES:
        warning = text.partially_succeeded(batch)
        return Outcome(OutcomeKind.SUCCESS, state, warning, warning=warning)
    if state in FAILURE_STATES:
        return Outcome(OutcomeKind.FAILURE, state, text.describe_failure(batch))
    if state is BatchState.UNKNOWN:
        if batch.operation_done:
            return Outcome(OutcomeKind.FAILURE, state, text.unknown_done(batch))
        warning = text.unknown_waiting(batch)
        return Outcome(OutcomeKind.WAIT, state, warning, warning=warning)
    return Outcome(OutcomeKind.WAIT, state, text.in_flight(batch))


class StepKind(str, enum.Enum):
    WAIT = "wait"
    SUCCESS = "success"
    FAILURE = "failure"  # the batch ended badly
    ERROR = "error"  # the batch cannot be used although it did not fail (no output reference)


@dataclass(frozen=True)
class Step:
    """The tracker's verdict for one observation.

    ``warning`` is to be logged (once per distinct text, the tracker already de-duplicates);
    ``full_read`` asks the waiter to make its next read a full GET (no ``fields`` mask): a
    success without an output reference in a light read must be confirmed on the whole body;
    ``state_changed`` is True when this observation's state label differs from the previous one
    (the first observation included), i.e. when a waiter logs progress.
    """

    kind: StepKind
    message: str
    warning: str | None = None
    full_read: bool = False
    state_changed: bool = False


@dataclass
class WaitTracker:
    """Memory a waiter keeps across polls of one batch (use one per wait).

    :param batch_name: the batch watched (for messages).
    :param output_grace: seconds a success without an output reference is re-read before the
        wait fails (default :data:`DEFAULT_OUTPUT_GRACE_SECONDS`).
    """

    batch_name: str
    output_grace: float = DEFAULT_OUTPUT_GRACE_SECONDS
    _missing_since: float | None = None
    _warned: set[str] = field(default_factory=set)
    _last_state: str | None = None
    _full_read: bool = False

    @property
    def light(self) -> bool:
        """Whether the next read may be light (``fields`` mask); False after a verdict asked for
        a full read (a success seen without its output reference)."""
        return not self._full_read

    @property
    def last_state(self) -> str | None:
        """The state label of the last observation (None before the first), for messages."""
        return self._last_state

    def observe(self, batch: Batch, now: float) -> Step:
        """Judge one observed batch at ``now`` (seconds, any monotonic or wall clock).

        Also remembers the state label (:attr:`Step.state_changed`) and whether the next read
        must be a full one (:attr:`light`).
        """
        step = self._judge(batch, now)
        changed = batch.state_label != self._last_state
        self._last_state = batch.state_label
        self._full_read = step.full_read
        return replace(step, state_changed=True) if changed else step

    def _judge(self, batch: Batch, now: float) -> Step:
        outcome = interpret(batch)
        warning = None
        if outcome.warning and outcome.warning not in self._warned:
            self._warned.add(outcome.warning)
            warning = outcome.warning
        if outcome.kind is OutcomeKind.WAIT:
            self._missing_since = None
            return Step(StepKind.WAIT, outcome.message, warning)
        if outcome.kind is OutcomeKind.FAILURE:
            return Step(StepKind.FAILURE, outcome.message, warning)
        if batch.has_results:
            return Step(StepKind.SUCCESS, outcome.message, warning)
        # Success without an output reference: re-read (fully) for a bounded time.
        if self._missing_since is None:
            self._missing_since = now
        waited = now - self._missing_since
        if waited >= self.output_grace:
            return Step(StepKind.ERROR, text.no_output_final(batch, waited, self.output_grace), warning)
        return Step(
            StepKind.WAIT,
            text.no_output_rereading(batch, self.output_grace),
            warning or text.no_output_warning(batch),
            full_read=True,
        )


def verdict_once(batch: Batch, batch_name: str | None = None) -> Step:
    """The verdict on one observed batch with a fresh tracker (no grace memory).

    For a batch read once, outside a wait: after a cancel, at landing time. A success without an
    output reference is an ERROR here at once (there is no grace left to re-read it).
    """
    return WaitTracker(batch.name or batch_name or "", output_grace=0.0).observe(batch, 0.0)


def raise_for_step(step: Step, batch: Batch) -> None:
    """Raise the typed error of a final, unsuccessful verdict (nothing for WAIT or SUCCESS).

    Both are :class:`~airflow_provider_gemini_batch.exceptions.GeminiBatchTerminalError`: the task
    fails without retries.

    :raises GeminiBatchFailedError: the batch ended FAILED, CANCELLED, EXPIRED or done in an
        unknown state.
    :raises GeminiBatchOutputMissingError: the batch reports success but its output cannot be located.
    """
    if step.kind is StepKind.FAILURE:
        raise GeminiBatchFailedError(
            step.message, batch_name=batch.name, state=batch.state.short, summary=batch.summary()
        )
    if step.kind is StepKind.ERROR:
        raise GeminiBatchOutputMissingError(step.message)
