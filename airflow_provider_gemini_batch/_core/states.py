"""Batch states: every spelling the service and the SDKs use, and the frozen sets waiters need.

The REST service speaks ``BATCH_STATE_*``; the google-genai SDK renames the same values
``JOB_STATE_*`` and its ``JobState`` enum has five more values (``QUEUED``, ``CANCELLING``,
``PAUSED``, ``UPDATING``, ``PARTIALLY_SUCCEEDED``; python-genai ``google/genai/types.py``
``class JobState``, commit 66807187f2123c6676175ac991f4e34eb09200d1). The Gemini API documents
seven of them (REST reference ``BatchState``) but states evolve, so all twelve are known here.
A spelling outside them
parses to :attr:`BatchState.UNKNOWN` with :meth:`BatchState.parse_lenient`: a waiter keeps
waiting on it (with a warning) unless the Operation says ``done``, and it is never success.

This module imports nothing from the rest of the core: ``models`` imports it, and the wait
decision lives in ``waiting`` (no import circle).
"""

from __future__ import annotations

import enum

from airflow_provider_gemini_batch.exceptions import UnknownBatchStateError


class BatchState(str, enum.Enum):
    """The states of a Gemini batch, valued as the REST API spells them.

    ``UNKNOWN`` is ours: a state this release does not know (the raw spelling is kept on the
    :class:`~airflow_provider_gemini_batch._core.models.Batch` as ``state_raw``).
    """

    UNSPECIFIED = "BATCH_STATE_UNSPECIFIED"
    QUEUED = "BATCH_STATE_QUEUED"
    PENDING = "BATCH_STATE_PENDING"
    RUNNING = "BATCH_STATE_RUNNING"
    PAUSED = "BATCH_STATE_PAUSED"
    UPDATING = "BATCH_STATE_UPDATING"
    CANCELLING = "BATCH_STATE_CANCELLING"
    SUCCEEDED = "BATCH_STATE_SUCCEEDED"
    PARTIALLY_SUCCEEDED = "BATCH_STATE_PARTIALLY_SUCCEEDED"
    FAILED = "BATCH_STATE_FAILED"
    CANCELLED = "BATCH_STATE_CANCELLED"
    EXPIRED = "BATCH_STATE_EXPIRED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: str | None, *, batch_name: str | None = None) -> BatchState:
        """Map a wire or SDK spelling to a state, strictly.

        ``None`` or an empty string (proto3 omits the zero value) is ``UNSPECIFIED``.

        :raises UnknownBatchStateError: for any spelling outside the known states.
        """
        state = cls.parse_lenient(value)
        if state is cls.UNKNOWN:
            raise UnknownBatchStateError(str(value), batch_name=batch_name)
        return state

    @classmethod
    def parse_lenient(cls, value: str | None) -> BatchState:
        """Like :meth:`parse`, but an unknown spelling is :attr:`UNKNOWN` instead of an error."""
        if not value:
            return cls.UNSPECIFIED
        suffix = str(value).strip().upper().removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
        if suffix == "STATE_UNSPECIFIED":
            suffix = "UNSPECIFIED"
        member = cls.__members__.get(suffix)
        if member is None or member is cls.UNKNOWN:
            return cls.UNKNOWN
        return member

    @property
    def short(self) -> str:
        """The state without its prefix, e.g. ``"SUCCEEDED"`` (for logs and manifests)."""
        return self.name

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


#: The only state that makes a wait plainly succeed. Whitelisted on purpose: a new failure
#: state must never be mistaken for success.
SUCCESS_STATES: frozenset[BatchState] = frozenset({BatchState.SUCCEEDED})
#: Ended with results, some possibly missing (SDK: "some results may be missing due to errors").
#: A wait ends successfully *with a warning*; the results are landed like a SUCCEEDED batch's and
#: ``max_failed_ratio`` judges the rows.
PARTIAL_STATES: frozenset[BatchState] = frozenset({BatchState.PARTIALLY_SUCCEEDED})
#: Terminal states that fail a wait.
FAILURE_STATES: frozenset[BatchState] = frozenset(
    {BatchState.FAILED, BatchState.CANCELLED, BatchState.EXPIRED}
)
#: States after which the batch will never change again.
TERMINAL_STATES: frozenset[BatchState] = SUCCESS_STATES | PARTIAL_STATES | FAILURE_STATES
#: States in which the batch is still in flight (worth waiting for, worth cancelling on kill).
#: CANCELLING may still end SUCCEEDED, FAILED or CANCELLED (SDK ``JobState`` docstring).
ACTIVE_STATES: frozenset[BatchState] = frozenset(
    {
        BatchState.UNSPECIFIED,
        BatchState.QUEUED,
        BatchState.PENDING,
        BatchState.RUNNING,
        BatchState.PAUSED,
        BatchState.UPDATING,
        BatchState.CANCELLING,
    }
)
#: A state this release does not know: waited on with a warning unless the Operation is done.
UNKNOWN_STATES: frozenset[BatchState] = frozenset({BatchState.UNKNOWN})
#: Terminal states whose results a wait reports as usable (success, maybe with a warning).
RESULT_STATES: frozenset[BatchState] = SUCCESS_STATES | PARTIAL_STATES
