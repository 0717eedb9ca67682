"""Every error this provider raises, as one tree.

::

    GeminiBatchError                       base of everything below (an AirflowException)
    ├── GeminiInvalidInputError            bad arguments or input, found before any request is sent
    │   ├── GeminiInputFileError           a JSONL input problem, with ``path`` and ``line_number``
    │   ├── GeminiBudgetExceededError      the estimated cost is above ``max_cost`` (no retries)
    │   └── GeminiNoBatchError             no batch name: the task creating it did not run (no retries)
    ├── GeminiConnectionConfigError        missing/wrong Airflow connection, key or credentials
    ├── GeminiApiError                     the API answered with an error status
    │   ├── GeminiClientError              4xx (not 429): fix the request, do not retry
    │   │   └── GeminiNotFoundError        404 (or the Files API's 403 "… or it may not exist"): gone
    │   ├── GeminiRateLimitError           429 RESOURCE_EXHAUSTED: quota; retried with backoff
    │   │   └── GeminiNoQuotaError         429 with a quota of zero (``limit: 0``): never retried
    │   └── GeminiServerError              5xx: retried with backoff
    ├── GeminiTransportError               no HTTP answer at all (connection refused/reset, timeout)
    ├── UnknownBatchStateError             the API reported a state this provider does not know
    ├── GeminiBatchTerminalError           the batch's outcome is final (also an AirflowFailException)
    │   ├── GeminiBatchFailedError         the batch ended FAILED, CANCELLED, EXPIRED (or done, unknown)
    │   ├── GeminiBatchOutputMissingError  it reports success but names no output, after the grace
    │   ├── GeminiBatchStuckError          still PENDING past ``pending_timeout`` (policy fail/recreate)
    │   └── GeminiResultsThresholdError    more per-request failures than ``max_failed_ratio`` allows
    └── GeminiBatchTimeoutError            our own wait deadline passed (also an AirflowSensorTimeout)

Messages say what happened, to which resource, and what to do next. They never contain the API key.

Which errors fail a task without its retries
--------------------------------------------
Airflow retries a task that raises (``retries``), except for :class:`AirflowFailException` and
:class:`AirflowSensorTimeout`, which fail it at once (Airflow's task runner,
``airflow.sdk.execution_time.task_runner``, checked on Airflow 3.1.8 and 3.3.2). The provider uses
that for outcomes a retry cannot change, while keeping its own tree (``except
GeminiBatchFailedError`` and ``except GeminiBatchError`` still catch them):

* :class:`GeminiBatchTerminalError` and its subclasses are also :class:`AirflowFailException`:
  the batch ended and its results are what they are; a retry would wait again (or re-land the same
  rows) only to fail identically. The message says to clear the create task to submit a new
  batch (the create operator never reattaches to a batch that ended FAILED, CANCELLED or EXPIRED).
* :class:`GeminiBatchTimeoutError` is also :class:`AirflowSensorTimeout` (the sensor raises it in
  every mode, its poke/reschedule timeout included, as Airflow's own sensor timeout is one):
  ``timeout`` is the longest the user wants to wait, and a retry
  would silently multiply it by ``retries + 1`` (the retried create reattaches to the same batch
  and starts a fresh deadline). The batch is left running (or cancelled with
  ``cancel_on_timeout``); wait for it again with a sensor or by clearing the task.
* :class:`GeminiBudgetExceededError` (and :class:`GeminiNoBatchError`) are also
  :class:`AirflowFailException`: the same input gives the same estimate (or still no batch name).
* Everything else stays retryable: giving up after repeated 5xx/429 or transport errors, a batch
  that could not be read (404 under another key, a bad key being fixed), a batch still in flight
  when results are fetched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow.exceptions import AirflowException
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSensorTimeout

from airflow_provider_gemini_batch._core.urls import scrub_userinfo

#: The exceptions users catch; the helpers below word messages for the provider itself.
__all__ = [
    "GeminiApiError",
    "GeminiBatchError",
    "GeminiBatchFailedError",
    "GeminiBatchOutputMissingError",
    "GeminiBatchStuckError",
    "GeminiBatchTerminalError",
    "GeminiBatchTimeoutError",
    "GeminiBudgetExceededError",
    "GeminiClientError",
    "GeminiConnectionConfigError",
    "GeminiInputFileError",
    "GeminiInvalidInputError",
    "GeminiNoBatchError",
    "GeminiNoQuotaError",
    "GeminiNotFoundError",
    "GeminiRateLimitError",
    "GeminiResultsThresholdError",
    "GeminiServerError",
    "GeminiTransportError",
    "UnknownBatchStateError",
]

#: Appended to every terminal outcome's message: what a person can do about it.
RESUBMIT_HINT = (
    "A retry cannot change this outcome, so the task fails without retrying; to submit a new batch, "
    "clear the task that created it (GeminiCreateBatchOperator) together with its downstream tasks."
)


def call_phrase(method: str | None, resource: str | None, outcome: str) -> str:
    """``"<method> <outcome>"``, adding ``" for <resource>"`` only when ``method`` does not
    already name it (``"Getting batches/x failed"``, not ``"... failed for batches/x"``).

    ``method`` is a request's description (``routes.ApiRequest.what``), e.g. ``"Listing batches"``;
    without one the phrase starts with ``"Request"``.
    """
    text = f"{method or 'Request'} {outcome}"
    if resource and resource not in (method or ""):
        text += f" for {resource}"
    return text


def _restore(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    """Rebuild a pickled provider error without calling its ``__init__`` (see ``__reduce__``)."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class GeminiBatchError(AirflowException):
    """Base class of every error raised by this provider.

    Every error pickles and unpickles to an equal one (same class, message and attributes):
    Python's default rebuilds an exception as ``cls(*args)``, which fails for the keyword-only
    constructors below and composed the message twice for those that build it from their
    arguments; ``__reduce__`` restores the finished message and attributes instead.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class GeminiInvalidInputError(GeminiBatchError, ValueError):
    """Arguments or input are invalid; raised before anything is sent to the API."""


class GeminiInputFileError(GeminiInvalidInputError):
    """A JSONL input file is invalid. ``line_number`` is 1-based, or None for whole-file problems.

    ``key`` is the line's key and ``field`` the offending field (``request.contents[0].parts``),
    when known; both are named in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        line_number: int | None = None,
        key: str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.line_number = line_number
        self.key = key
        self.field = field
        where = f"{path}, line {line_number}" if line_number is not None else path
        if key is not None:
            where += f" (key {key!r})"
        if field is not None:
            where += f", field {field}"
        # The path may be an object-store URI carrying credentials (s3://KEY:SECRET@bucket/...).
        super().__init__(scrub_userinfo(f"{where}: {message}", path))


class GeminiConnectionConfigError(GeminiBatchError):
    """The Airflow connection is missing, of the wrong type, or lacks a usable key or credentials."""


class GeminiApiError(GeminiBatchError):
    """The API answered with an error.

    :param http_status: the HTTP status code (e.g. 404).
    :param status: the Google status string (e.g. ``"NOT_FOUND"``), or None if the body had none.
    :param message: the API's message.
    :param resource: the resource the call was about (``batches/…``, ``files/…``, ``models/…``).
    :param reason: the ``ErrorInfo.reason`` from the error details, when present.
    :param retry_after: seconds the server asked us to wait (``Retry-After`` or ``RetryInfo``).
    """

    def __init__(
        self,
        *,
        http_status: int,
        status: str | None,
        message: str,
        resource: str | None = None,
        method: str | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
        details: list[Any] | None = None,
        hint: str | None = None,
    ) -> None:
        self.http_status = http_status
        self.status = status
        self.api_message = message
        self.resource = resource
        self.method = method
        self.reason = reason
        self.retry_after = retry_after
        self.details = details or []
        text = f"{call_phrase(method, resource, 'failed')}: HTTP {http_status}"
        if status:
            text += f" {status}"
        if reason:
            text += f" ({reason})"
        text += f": {message}"
        if hint:
            text += f" {hint}"
        super().__init__(text.strip())


class GeminiClientError(GeminiApiError):
    """A 4xx answer other than 429: the request itself is wrong; retrying will not help."""


class GeminiNotFoundError(GeminiClientError):
    """404: the named file, batch or model does not exist (or no longer does).

    Also raised for the Files API's 403 PERMISSION_DENIED "You do not have permission to access
    the File … or it may not exist", its answer for an expired or deleted file (``http_status``
    stays 403; python-genai #1218, deprecated-generative-ai-python #692).
    """


class GeminiRateLimitError(GeminiApiError):
    """429 RESOURCE_EXHAUSTED: a rate limit or quota (e.g. 100 concurrent batches) was hit."""


class GeminiNoQuotaError(GeminiRateLimitError):
    """429 with a quota of zero (``limit: 0``, e.g. a free tier without this model): no wait lifts
    it, so it is never retried, whatever delay the server suggests."""


class GeminiServerError(GeminiApiError):
    """5xx: the service failed or was overloaded."""


class GeminiTransportError(GeminiBatchError):
    """No HTTP answer: the connection failed, was reset, or timed out.

    :param sent: False only when the request provably never reached the server (the connection
        could not be opened); a non-idempotent call such as create may be retried only then.
    :param timed_out: True when a connect or read timeout fired.
    """

    def __init__(self, message: str, *, sent: bool = True, timed_out: bool = False) -> None:
        self.sent = sent
        self.timed_out = timed_out
        super().__init__(message)


class UnknownBatchStateError(GeminiBatchError):
    """The API reported a batch state outside the seven known ones; waiting on it would never end."""

    def __init__(self, value: str, *, batch_name: str | None = None) -> None:
        self.value = value
        self.batch_name = batch_name
        which = f"Batch {batch_name}" if batch_name else "A batch"
        super().__init__(
            f"{which} reported the unknown state {shown_state(value)}. Upgrade "
            "airflow-provider-gemini-batch, or report the state if you run the latest release."
        )


#: What a state word looks like on the wire (``BATCH_STATE_RUNNING``, ``JOB_STATE_PENDING``).
_STATE_WORD = re.compile(r"[A-Z_]{1,64}")


def shown_state(value: object) -> str:
    """A server-supplied state spelling as messages may quote it: ``'BATCH_STATE_X'`` when it has
    the shape of a state word, else a placeholder (a broken or hostile server's free text, a key
    it echoes, markup: none of it is quoted)."""
    text = str(value)
    return repr(text) if _STATE_WORD.fullmatch(text) else "(not a state word, withheld)"


class GeminiBatchTerminalError(GeminiBatchError, AirflowFailException):
    """The batch reached an outcome no retry can change: the task fails once, without retries.

    Also an :class:`AirflowFailException` (Airflow then skips the task's remaining ``retries``).
    The message ends with the class's :attr:`next_step` (added once, here).
    """

    #: What a person can do, appended to the message.
    next_step: str = RESUBMIT_HINT

    def __init__(self, message: str) -> None:
        if self.next_step not in message:
            message = f"{message.rstrip()} {self.next_step}"
        super().__init__(message)


class GeminiBatchFailedError(GeminiBatchTerminalError):
    """The batch ended FAILED, CANCELLED or EXPIRED, or ended (``done``) in a state this release
    does not know. ``summary`` is the batch's JSON-native summary. Fails the task without retries."""

    def __init__(self, message: str, *, batch_name: str, state: str, summary: Mapping[str, Any]) -> None:
        self.batch_name = batch_name
        self.state = state
        self.summary = dict(summary)
        super().__init__(message)


class GeminiBatchOutputMissingError(GeminiBatchTerminalError):
    """The batch reports SUCCEEDED (or PARTIALLY_SUCCEEDED) but names no output, still after the
    output grace period of re-reads. Fails the task without retries."""


class GeminiBatchStuckError(GeminiBatchTerminalError):
    """The batch was still PENDING ``pending_timeout`` after its ``createTime`` and the wait's
    ``on_pending_timeout`` policy is ``fail`` (or ``recreate`` with no replacement left).

    ``batch_name`` is the stuck batch, ``pending_seconds`` how long it had waited, ``policy`` the
    policy applied. Fails the task without retries: a retry would submit a new batch, which this
    policy was chosen not to do.
    """

    next_step = (
        "The task fails without retrying (a retry would submit a new batch, which this policy does not do)."
    )

    def __init__(self, message: str, *, batch_name: str, pending_seconds: float, policy: str) -> None:
        self.batch_name = batch_name
        self.pending_seconds = float(pending_seconds)
        self.policy = policy
        super().__init__(message)


class GeminiBatchTimeoutError(GeminiBatchError, AirflowSensorTimeout):
    """Our own wait deadline passed while the batch was still pending or running.

    Also an :class:`AirflowSensorTimeout`, like the non-deferrable sensor's timeout: the task fails
    without retries (``timeout`` bounds the whole wait; a retry would start a fresh one).
    """

    #: Appended to the message.
    next_step = "The timeout is final, so the task fails without retrying; clear it to wait again."

    def __init__(self, message: str) -> None:
        if self.next_step not in message:
            message = f"{message.rstrip()} {self.next_step}"
        super().__init__(message)


class GeminiResultsThresholdError(GeminiBatchTerminalError):
    """More requests failed than ``max_failed_ratio`` allows (raised after results were written).

    Terminal: the batch is finished and a retry would land the same rows again.
    """

    next_step = "A retry would land the same rows again, so the task fails without retrying."


class GeminiNoBatchError(GeminiInvalidInputError, AirflowFailException):
    """A task that reads a batch got no batch name: the task that creates it did not run or failed
    before creating one (a results task or sensor with ``trigger_rule="all_done"`` after a failed
    upstream). Also an :class:`AirflowFailException`: a retry would find no batch either."""


class GeminiBudgetExceededError(GeminiInvalidInputError, AirflowFailException):
    """The batch's estimated cost is above the create task's ``max_cost``; nothing was sent.

    ``estimate`` is the ``cost_estimate`` object (``_core/estimate.py``: currency, model, tokens,
    amounts, ``max_cost`` and how the estimate was made). Also an :class:`AirflowFailException`:
    the same input gives the same estimate, so a retry would refuse again.
    """

    def __init__(self, message: str, *, estimate: Mapping[str, Any]) -> None:
        self.estimate = dict(estimate)
        super().__init__(message)
