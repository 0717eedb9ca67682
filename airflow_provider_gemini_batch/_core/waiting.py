"""The one wait decision, and what a wait reports back. Pure: I/O arrives as callables.

Every waiter (the trigger, the operators' synchronous wait, the sensor's ``poke``) feeds each
observed batch to one :class:`WaitTracker`, which calls :func:`interpret` (the only table of
states) and adds what needs memory across polls: the bounded re-read of a batch that reports
success without naming its output, and the one-time warning for a state this release does not
know. The trigger builds exactly one event of primitives with :func:`make_event`; the operators'
``execute_complete`` turn it back into a return value or a typed exception with
:func:`raise_for_event`. ``dag.test()`` drops ``defer(kwargs=...)``, so everything the worker
needs after the wait (batch name included) travels in this payload.

After any cancel (operator, ``on_kill``, timeout) :func:`settle_after_cancel` (sync) or
:func:`asettle_after_cancel` (async) re-read the batch for a bounded time: a cancel is a request,
and a batch being cancelled may still end SUCCEEDED or FAILED (python-genai ``JobState``:
"From [CANCELLING] the job may only go to either JOB_STATE_SUCCEEDED, JOB_STATE_FAILED or
JOB_STATE_CANCELLED").
"""

from __future__ import annotations

import contextlib
import enum
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_gemini_batch._core.models import Batch, FileInfo
from airflow_provider_gemini_batch._core.states import (
    FAILURE_STATES,
    PARTIAL_STATES,
    SUCCESS_STATES,
    BatchState,
)
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiBatchFailedError,
    GeminiBatchOutputMissingError,
    GeminiBatchTimeoutError,
)

#: Seconds a batch may report SUCCEEDED (or PARTIALLY_SUCCEEDED) without naming its output
#: (neither ``response`` nor ``metadata.output`` carries ``responsesFile`` or inline responses)
#: before the wait fails. The service has been seen to answer
#: ``{"done": true, "metadata": {"state": "BATCH_STATE_SUCCEEDED"}}`` (a user's report;
#: docs/real-service/wire-format.md, Behaviours known from users' reports); the
#: output is expected to appear on a later read, so it is re-read until this passes.
DEFAULT_OUTPUT_GRACE_SECONDS = 600.0
#: Seconds spent re-reading a batch after a cancel request, looking for the state it ends in.
DEFAULT_CANCEL_SETTLE_SECONDS = 60.0
#: Seconds between two reads while settling after a cancel.
CANCEL_SETTLE_INTERVAL = 5.0
#: Seconds to wait for an input file to leave PROCESSING before creating a batch.
DEFAULT_FILE_ACTIVE_TIMEOUT = 600.0
#: Seconds between two reads of a PROCESSING file.
FILE_ACTIVE_INTERVAL = 5.0


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
        return Outcome(
            OutcomeKind.SUCCESS, state, f"Batch {batch.name} succeeded ({batch.stats.describe()})."
        )
    if state in PARTIAL_STATES:
        warning = (
            f"Batch {batch.name} ended PARTIALLY_SUCCEEDED ({batch.stats.describe()}): some results "
            "may be missing. The results that exist are landed; check the manifest's counts."
        )
        return Outcome(OutcomeKind.SUCCESS, state, warning, warning=warning)
    if state in FAILURE_STATES:
        return Outcome(OutcomeKind.FAILURE, state, describe_failure(batch))
    if state is BatchState.UNKNOWN:
        if batch.operation_done:
            return Outcome(
                OutcomeKind.FAILURE,
                state,
                f"Batch {batch.name} ended (done: true) in the {batch.state_label}, which this "
                f"release does not know ({batch.stats.describe()}); it is not treated as success. "
                "Inspect the batch, fetch its results with GeminiBatchResultsOperator if it has "
                "any, and upgrade airflow-provider-gemini-batch.",
            )
        warning = (
            f"Batch {batch.name} reports the {batch.state_label}, which this release does not "
            "know; still waiting (done is not true). Upgrade airflow-provider-gemini-batch."
        )
        return Outcome(OutcomeKind.WAIT, state, warning, warning=warning)
    return Outcome(
        OutcomeKind.WAIT, state, f"Batch {batch.name} is {state.short} ({batch.stats.describe()})."
    )


_NEXT_STEP = {
    BatchState.FAILED: "Inspect the error, fix the input and submit a new batch.",
    BatchState.CANCELLED: (
        "The batch was cancelled (by a person, or by a task's cancel_on_kill or cancel_on_timeout); "
        "the requests it finished before the cancel were billed."
    ),
    BatchState.EXPIRED: (
        "The batch stayed pending or running for more than 48 hours; split the input into smaller batches "
        "and resubmit."
    ),
}

#: How results of a batch that ended badly reach storage: a waiting task fails, and Airflow's
#: default trigger rule (``all_success``) then marks the results task ``upstream_failed`` without
#: running it.
LANDING_AFTER_FAILURE_HINT = (
    "To land them, give the GeminiBatchResultsOperator downstream of this task "
    'trigger_rule="all_done" (with the default all_success it is marked upstream_failed and never '
    "runs); it lands them, then fails as well unless fail_on_unsuccessful_batch=False."
)


def describe_failure(batch: Batch, *, landing_hint: bool = True) -> str:
    """A one-paragraph message for a batch that ended badly: name, state, stats, error, next step.

    :param landing_hint: when the API still offers results, say how a results task downstream
        of the failing wait can land them (:data:`LANDING_AFTER_FAILURE_HINT`). False for the
        results operator itself, which has just landed them.
    """
    parts = [f"Batch {batch.name} ended in state {batch.state_label} ({batch.stats.describe()})."]
    if batch.error is not None:
        # The API's own message usually ends with a full stop already.
        parts.append(f"API error: {batch.error.describe().rstrip('.')}.")
    step = _NEXT_STEP.get(batch.state)
    if step:
        parts.append(step)
    if batch.has_results:
        parts.append(f"Results are still offered ({batch.responses_file or 'inline responses'}).")
        if landing_hint:
            parts.append(LANDING_AFTER_FAILURE_HINT)
    return " ".join(parts)


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
            return Step(
                StepKind.ERROR,
                f"Batch {batch.name} reports {batch.state.short} but names no output (neither "
                "response nor metadata.output carries responsesFile or inline responses), still "
                f"after re-reading it for {waited:.1f} s (output_grace_period "
                f"{self.output_grace:g} s). Its results cannot be located; read the batch again "
                "later (GeminiBatchResultsOperator) or raise output_grace_period.",
                warning,
            )
        return Step(
            StepKind.WAIT,
            f"Batch {batch.name} reports {batch.state.short} but names no output yet; re-reading "
            f"it (for up to {self.output_grace:g} s).",
            warning
            or (
                f"Batch {batch.name} reports {batch.state.short} without an output reference; re-reading it."
            ),
            full_read=True,
        )


class EventStatus(str, enum.Enum):
    """How a wait ended."""

    SUCCESS = "success"  # the batch SUCCEEDED
    FAILURE = "failure"  # the batch ended FAILED, CANCELLED or EXPIRED (or done in an unknown state)
    NO_OUTPUT = "no_output"  # it reports success but names no output, after the grace (final)
    TIMEOUT = "timeout"  # our own deadline passed while the batch was in flight
    # Still PENDING past pending_timeout and the policy is not "warn": the task applies it (the
    # trigger never cancels or creates for it); the payload's "pending" holds the facts (_core/pending.py).
    PENDING_TIMEOUT = "pending_timeout"
    # We could not observe the batch (gave up on transient errors, 404, a bad key): not an outcome
    # of the batch, so the task may retry. (Releases before NO_OUTPUT also sent a missing output as
    # ERROR; such an event from a trigger started by them is then retried once more, harmlessly.)
    ERROR = "error"


@dataclass(frozen=True)
class WaitEvent:
    """A validated trigger event."""

    status: EventStatus
    batch_name: str
    message: str
    summary: Mapping[str, Any] | None

    @property
    def state(self) -> str | None:
        return None if self.summary is None else self.summary.get("state")


def make_event(
    status: EventStatus, batch_name: str, message: str, summary: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The event payload: primitives only (str, int, None, dicts and lists of them)."""
    return {
        "status": status.value,
        "batch_name": batch_name,
        "message": message,
        "summary": dict(summary) if summary is not None else None,
    }


_EVENT_OF_STEP = {
    StepKind.SUCCESS: EventStatus.SUCCESS,
    StepKind.FAILURE: EventStatus.FAILURE,
    StepKind.ERROR: EventStatus.NO_OUTPUT,
}


def event_for_step(step: Step, batch: Batch, batch_name: str | None = None) -> dict[str, Any] | None:
    """The final event for a tracker verdict, or None while the wait goes on.

    ``batch_name`` names the event when the Operation itself carried no name (a bare
    ``{"done": true, "metadata": {...}}`` answer).
    """
    status = _EVENT_OF_STEP.get(step.kind)
    if status is None:
        return None
    name = batch.name or batch_name or ""
    summary = batch.summary()
    summary["batch_name"] = name
    return make_event(status, name, step.message, summary)


def verdict_once(batch: Batch, batch_name: str | None = None) -> Step:
    """The verdict on one observed batch with a fresh tracker (no grace memory).

    For a batch read once, outside a wait: after a cancel, at landing time. A success without an
    output reference is an ERROR here at once (there is no grace left to re-read it).
    """
    return WaitTracker(batch.name or batch_name or "", output_grace=0.0).observe(batch, 0.0)


def event_for_batch(batch: Batch, batch_name: str | None = None) -> dict[str, Any] | None:
    """The final event for one observed batch with a fresh tracker (no grace memory)."""
    name = batch.name or batch_name or ""
    return event_for_step(verdict_once(batch, name), batch, name)


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


def settle_after_cancel(
    read: Callable[[], Batch],
    *,
    timeout: float = DEFAULT_CANCEL_SETTLE_SECONDS,
    interval: float = CANCEL_SETTLE_INTERVAL,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Batch | None:
    """Re-read a batch after a cancel request until it is terminal or ``timeout`` seconds pass.

    Returns the last batch read (terminal, or still in flight when the time ran out), or None
    when no read succeeded. Errors of single reads are swallowed (the caller logs the result):
    settling is a report, never a reason to fail differently.
    """
    deadline = clock() + max(0.0, timeout)
    last: Batch | None = None
    while True:
        with contextlib.suppress(GeminiBatchError):
            last = read()
        if last is not None and last.done:
            return last
        remaining = deadline - clock()
        if remaining <= 0:
            return last
        sleep(min(interval, remaining))


async def asettle_after_cancel(
    read: Callable[[], Awaitable[Batch]],
    *,
    timeout: float = DEFAULT_CANCEL_SETTLE_SECONDS,
    interval: float = CANCEL_SETTLE_INTERVAL,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> Batch | None:
    """The async twin of :func:`settle_after_cancel` (same contract)."""
    deadline = clock() + max(0.0, timeout)
    last: Batch | None = None
    while True:
        with contextlib.suppress(GeminiBatchError):
            last = await read()
        if last is not None and last.done:
            return last
        remaining = deadline - clock()
        if remaining <= 0:
            return last
        await sleep(min(interval, remaining))


def describe_settled(batch_name: str, settled: Batch | None) -> str:
    """One sentence on how a batch ended after a cancel request (for logs and events)."""
    if settled is None:
        return f"Cancel requested for {batch_name}; it could not be read back afterwards."
    where = (
        f" Results are offered ({settled.responses_file or 'inline responses'})."
        if settled.has_results
        else ""
    )
    if not settled.done:
        return (
            f"Cancel requested for {batch_name}; it is still {settled.state_label} "
            f"({settled.stats.describe()}); it may yet end SUCCEEDED, FAILED or CANCELLED.{where}"
        )
    return (
        f"Cancel requested for {batch_name}; it ended {settled.state_label} "
        f"({settled.stats.describe()}).{where}"
    )


class FileReadiness(str, enum.Enum):
    READY = "ready"
    WAIT = "wait"
    FAILED = "failed"


def file_readiness(info: FileInfo) -> FileReadiness:
    """Whether an uploaded input file can feed a batch.

    A file is ``PROCESSING`` for a while after upload and the service refuses a batch on it
    (400 FAILED_PRECONDITION: Embassy-of-the-Free-Mind/sourcelibrary-v2 pull request #2186);
    ``FAILED`` carries the file's ``error`` (Files API ``File.state``/``File.error``, REST
    reference). An absent state (proto3 zero value) or ``ACTIVE`` is ready.
    """
    state = (info.state or "").upper().removeprefix("STATE_")
    if state == "PROCESSING":
        return FileReadiness.WAIT
    if state == "FAILED":
        return FileReadiness.FAILED
    return FileReadiness.READY


def describe_file_error(info: FileInfo) -> str:
    """The file's own ``error`` status as text (or a plain note when it carries none)."""
    error = info.raw.get("error") if isinstance(info.raw, Mapping) else None
    if isinstance(error, Mapping):
        code = error.get("code")
        message = error.get("message") or ""
        return f"code {code}: {message}".strip().rstrip(":")
    return "the service gave no error details"


#: A Vertex AI batch prediction job's name (the other backend's batches).
_VERTEX_JOB_NAME = re.compile(r"projects/[^/\s]+/locations/[^/\s]+/batchPredictionJobs/[0-9]+")


def parse_event(event: Any) -> WaitEvent:
    """Validate a payload received by ``execute_complete``.

    :raises GeminiBatchError: when the payload is not a mapping with a known ``status`` and a
        ``batches/...`` (or Vertex ``projects/.../batchPredictionJobs/...``) name (a trigger from
        another version, or a corrupted event).
    """
    if not isinstance(event, Mapping):
        raise GeminiBatchError(
            f"Expected a Gemini batch trigger event (a mapping), got {type(event).__name__}."
        )
    try:
        status = EventStatus(event.get("status"))
    except ValueError:
        raise GeminiBatchError(
            f"Gemini batch trigger event has an unknown status {event.get('status')!r}."
        ) from None
    batch_name = event.get("batch_name")
    if not isinstance(batch_name, str) or not (
        batch_name.startswith("batches/") or _VERTEX_JOB_NAME.fullmatch(batch_name)
    ):
        raise GeminiBatchError(f"Gemini batch trigger event has no valid batch name: {batch_name!r}.")
    summary = event.get("summary")
    if summary is not None and not isinstance(summary, Mapping):
        raise GeminiBatchError(f"Gemini batch trigger event for {batch_name} has a malformed summary.")
    return WaitEvent(
        status=status, batch_name=batch_name, message=str(event.get("message") or ""), summary=summary
    )


#: What a sensor whose ``timeout`` passed tells the user (appended to the timeout message).
SENSOR_TIMEOUT_ADVICE = (
    "To wait longer, raise the sensor's timeout, or clear the sensor task to wait for the same batch "
    "again (it keeps running meanwhile; nothing is resubmitted)."
)


def create_timeout_advice(batch_name: str) -> str:
    """What a create operator whose wait timed out tells the user (appended to the message)."""
    return (
        f"To keep waiting without creating a new batch, wait for it with "
        f"GeminiBatchSensor(batch_name={batch_name!r}), or clear this task (it reattaches to the same "
        "batch and waits again)."
    )


def timeout_message(
    batch_name: str, last_state: str | None, advice: str, *, what: str = "the timeout"
) -> str:
    """The message of a wait that timed out with the batch left running.

    :param last_state: the state label last seen (None: never observed).
    :param advice: what to do next, fitting the caller (:data:`SENSOR_TIMEOUT_ADVICE`,
        :func:`create_timeout_advice`).
    :param what: the limit that passed, for the reader (``"the sensor's timeout of 3 s"``).
    """
    return (
        f"Stopped waiting for {batch_name}: {what} passed while it was {last_state or 'not yet observed'}. "
        f"The batch was left running. {advice}"
    )


#: The advice earlier releases' triggers put in their timeout event (it did not fit a sensor); a
#: trigger started by such a release may still send it.
_OLD_TRIGGER_ADVICE = "; raise the timeout or wait for it with a GeminiBatchSensor."


def raise_for_event(event: WaitEvent, *, timeout_advice: str | None = None) -> Mapping[str, Any]:
    """Return the batch summary of a successful wait; raise the matching error otherwise.

    :param timeout_advice: appended to a TIMEOUT event's message: what the caller (sensor or
        create operator) should do next. The trigger's own message says only what happened.

    :raises GeminiBatchFailedError: the batch ended FAILED, CANCELLED or EXPIRED (no retries).
    :raises GeminiBatchOutputMissingError: it reports success without output (no retries).
    :raises GeminiBatchTimeoutError: the wait deadline passed (no retries).
    :raises GeminiBatchError: the batch could not be observed (retryable).
    """
    if event.status is EventStatus.SUCCESS:
        return event.summary or {"batch_name": event.batch_name}
    if event.status is EventStatus.FAILURE:
        raise GeminiBatchFailedError(
            event.message,
            batch_name=event.batch_name,
            state=str(event.state),
            summary=event.summary or {},
        )
    if event.status is EventStatus.NO_OUTPUT:
        raise GeminiBatchOutputMissingError(event.message)
    if event.status is EventStatus.TIMEOUT:
        message = event.message.replace(_OLD_TRIGGER_ADVICE, ".")
        if timeout_advice and timeout_advice not in message:
            message = f"{message.rstrip()} {timeout_advice}"
        raise GeminiBatchTimeoutError(message)
    raise GeminiBatchError(event.message)


def describe_deferral(batch_name: str, poll_interval: float, end_time: float) -> str:
    """The line a task logs when it hands its wait to the triggerer.

    :param poll_interval: seconds between polls.
    :param end_time: the absolute deadline, epoch seconds (UTC).
    """
    from datetime import datetime, timezone

    deadline = datetime.fromtimestamp(end_time, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"Deferring: the triggerer now waits for {batch_name}, polling every {poll_interval:g} s until "
        f"{deadline}; progress appears in this log while it runs."
    )
