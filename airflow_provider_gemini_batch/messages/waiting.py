"""The sentences of a wait: how a batch stands or ended, a cancel's aftermath, a timeout's advice.

Built from the facts the pure core reports (:class:`~airflow_provider_gemini_batch._core.models.Batch`,
counts, seconds); the verdict (``_core/verdict.py``), the trigger, the operators' worker-side wait
and the sensor all use these same words.
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_provider_gemini_batch._core.models import Batch, FileInfo
from airflow_provider_gemini_batch._core.states import BatchState

# -- what one observed batch means ---------------------------------------------------------


def succeeded(batch: Batch) -> str:
    """A batch that SUCCEEDED."""
    return f"Batch {batch.name} succeeded ({batch.stats.describe()})."


def partially_succeeded(batch: Batch) -> str:
    """A batch that ended PARTIALLY_SUCCEEDED (logged as a warning: results may be missing)."""
    return (
        f"Batch {batch.name} ended PARTIALLY_SUCCEEDED ({batch.stats.describe()}): some results "
        "may be missing. The results that exist are landed; check the manifest's counts."
    )


def unknown_done(batch: Batch) -> str:
    """A batch done (``done: true``) in a state this release does not know."""
    return (
        f"Batch {batch.name} ended (done: true) in the {batch.state_label}, which this "
        f"release does not know ({batch.stats.describe()}); it is not treated as success. "
        "Inspect the batch, fetch its results with GeminiBatchResultsOperator if it has "
        "any, and upgrade airflow-provider-gemini-batch."
    )


def unknown_waiting(batch: Batch) -> str:
    """A batch not done, in a state this release does not know (the wait goes on)."""
    return (
        f"Batch {batch.name} reports the {batch.state_label}, which this release does not "
        "know; still waiting (done is not true). Upgrade airflow-provider-gemini-batch."
    )


def in_flight(batch: Batch) -> str:
    """A batch still queued, pending, running or being cancelled."""
    return f"Batch {batch.name} is {batch.state.short} ({batch.stats.describe()})."


def no_output_final(batch: Batch, waited: float, grace: float) -> str:
    """A success that still names no output after ``grace`` seconds of re-reading."""
    return (
        f"Batch {batch.name} reports {batch.state.short} but names no output (neither "
        "response nor metadata.output carries responsesFile or inline responses), still "
        f"after re-reading it for {waited:.1f} s (output_grace_period "
        f"{grace:g} s). Its results cannot be located; read the batch again "
        "later (GeminiBatchResultsOperator) or raise output_grace_period."
    )


def no_output_rereading(batch: Batch, grace: float) -> str:
    """A success without an output reference, being re-read."""
    return (
        f"Batch {batch.name} reports {batch.state.short} but names no output yet; re-reading "
        f"it (for up to {grace:g} s)."
    )


def no_output_warning(batch: Batch) -> str:
    """The warning logged once when a success without an output reference is first seen."""
    return f"Batch {batch.name} reports {batch.state.short} without an output reference; re-reading it."


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


# -- after a cancel ------------------------------------------------------------------------


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


# -- timeouts and deferral -----------------------------------------------------------------

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


def sync_timeout_stopped(batch_name: str, last_state: str | None) -> str:
    """The first sentence of a worker-side wait that timed out with ``cancel_on_timeout``."""
    return f"Stopped waiting for {batch_name}: the timeout passed while it was {last_state}."


def deadline_passed(batch_name: str, last_state: str | None, tail: str) -> str:
    """A trigger's ``timeout`` event message; ``tail`` says what became of the batch."""
    return (
        f"Stopped waiting for {batch_name}: the deadline passed while it was "
        f"{last_state or 'not yet observed'}. {tail}"
    )


#: The tail of :func:`deadline_passed` when the batch is left alone.
LEFT_RUNNING = "The batch was left running."


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


# -- a wait that cannot observe its batch --------------------------------------------------


def cannot_watch(batch_name: str, conn_id: str, error: BaseException) -> str:
    """An error no wait can outlast (4xx, a bad key, a broken connection)."""
    return f"Cannot watch {batch_name} with connection {conn_id!r}: {error}"


def gave_up(batch_name: str, failures: int, error: BaseException) -> str:
    """Transient errors persisted for ``failures`` polls in a row."""
    return (
        f"Gave up watching {batch_name} after {failures} consecutive transient "
        f"errors; the batch may still be running. Last error: {error}"
    )


# -- input files ---------------------------------------------------------------------------


def describe_file_error(info: FileInfo) -> str:
    """The file's own ``error`` status as text (or a plain note when it carries none)."""
    error = info.raw.get("error") if isinstance(info.raw, Mapping) else None
    if isinstance(error, Mapping):
        code = error.get("code")
        message = error.get("message") or ""
        return f"code {code}: {message}".strip().rstrip(":")
    return "the service gave no error details"


def file_failed_message(name: str, info: FileInfo) -> str:
    """The error text for an input file the service marked FAILED before any batch was created."""
    return (
        f"The input file {name} is FAILED on the service ({describe_file_error(info)}); "
        "no batch was created. Check the file's content and upload it again."
    )


def file_not_active_message(name: str, state: str | None, timeout: float) -> str:
    """The error text for an input file still not ACTIVE after ``timeout`` seconds."""
    return (
        f"The input file {name} was still {state} after {timeout:.0f} s; no batch was "
        "created. Retry the task later or raise file_active_timeout."
    )
