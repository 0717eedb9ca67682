"""What a create task made, recorded in Airflow's task state store (AIP-103, Airflow >= 3.3).

The display-name marker (:mod:`airflow_provider_gemini_batch._core.identity`) lets a retry find
the batch of its task instance, but only by listing the project's batches (and files). Where the
task state store exists, the create operator also records what it made there, so a retry reads
the name back and checks it with one GET instead of a listing.

Facts this module relies on (read in Airflow 3.3.2's source, ``airflow/sdk/execution_time/
context.py`` ``TaskStateStoreAccessor``, ``airflow/models/task_state_store.py``, the execution API
route ``routes/task_state_store.py``, and checked with ``dag.test()``):

* ``context["task_state_store"]`` exists from Airflow 3.3 on; older versions have no such key, so
  everything here is a no-op there (feature detection: the ``common.compat`` provider offers only
  a ``ResumableJobMixin`` stand-in, whose submit-then-poll flow does not fit upload + create +
  deferral).
* Rows are scoped to (dag run, task id, map index): every try of a task instance sees the same
  rows (each try has a new ``ti.id``, the scope is looked up from it), each map index its own.
* Clearing a task instance does not delete them (nothing in ``clear_task_instances`` touches the
  table); deleting the DAG run does (foreign key ``ON DELETE CASCADE``; ``dag.test()`` on an
  existing logical date replaces the run, so the store starts empty there).
* ``get`` returns the JSON value or the default; it raises ``AirflowRuntimeError`` for any
  answer of the API other than "not found". ``set`` refuses ``None``; values are JSON
  (str/int/float/bool/list/dict); over ``[state_store] max_value_storage_bytes`` (65535 by
  default) a worker write only logs a warning. Rows expire after ``[state_store]
  default_retention_days`` (30 by default) unless written with ``NEVER_EXPIRE``.

The record is a small JSON object under :data:`KEY` holding resource names and fingerprints only:
never a key, a URL with a key, or request content.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch.operators._common import TaskLog

#: The task state store key of the record (one key per task instance; the store scopes it).
KEY = "gemini_batch"
#: Version of the record's shape, so a later release can tell an old record apart.
RECORD_VERSION = 1
#: Most attempts a record keeps (``recreate`` is bounded far below this; a planted list is cut).
MAX_ATTEMPTS = 20
#: Fields an attempt keeps (names, states, times, numbers and the reason: never request content).
ATTEMPT_FIELDS = ("batch_name", "created", "pending_seconds", "reason", "ended", "action")

#: Where the create path found its batch: the task state store (one GET), the display-name
#: lookup (a listing), a create, or the lookup after an ambiguous create failure.
FoundBy = Literal["state_store", "display_name", "created", "created_despite_error"]


@dataclass(frozen=True)
class Recorded:
    """What the create task knows of its batch; the stored part is what an earlier try of this
    task instance recorded (every field may be missing).

    :param batch_name: ``batches/...`` the try created or reattached to.
    :param input_fingerprint: the input fingerprint of that batch (12 hex chars, as in its marker).
    :param input_file: ``files/...`` the try uploaded for ``input_path`` (None for other inputs).
    :param input_sha256: hex sha256 of the content uploaded as ``input_file``.
    :param attempts: batches of this task instance that stayed PENDING past ``pending_timeout``
        and were acted on (``{"batch_name", "created", "pending_seconds", "reason", "ended",
        "action"}``, oldest first): what bounds ``on_pending_timeout='recreate'`` across tries.
    :param batch: the batch as last read (its display name carries the identity marker), once
        this try found or created it; never stored (the store keeps names only).
    :param found_by: where this try found the batch (:data:`FoundBy`); never stored.
    """

    batch_name: str | None = None
    input_fingerprint: str | None = None
    input_file: str | None = None
    input_sha256: str | None = None
    attempts: tuple[Mapping[str, Any], ...] = field(default=())
    batch: Batch | None = field(default=None, compare=False, repr=False)
    found_by: FoundBy | None = field(default=None, compare=False)

    @property
    def display_name(self) -> str | None:
        """The batch's display name (with the identity marker), once found or created."""
        return self.batch.display_name if self.batch is not None else None

    def to_json(self) -> dict[str, Any]:
        """The stored value: ``{"version": 1, "batch_name": ..., ...}`` without empty fields."""
        fields = {
            "batch_name": self.batch_name,
            "input_fingerprint": self.input_fingerprint,
            "input_file": self.input_file,
            "input_sha256": self.input_sha256,
        }
        out: dict[str, Any] = {"version": RECORD_VERSION, **{k: v for k, v in fields.items() if v}}
        if self.attempts:
            out["attempts"] = [dict(a) for a in self.attempts]
        return out

    @classmethod
    def from_json(cls, value: Any) -> Recorded | None:
        """Read a stored value back; None for anything that is not a record of this shape."""
        if not isinstance(value, Mapping) or value.get("version") != RECORD_VERSION:
            return None

        def text(key: str) -> str | None:
            item = value.get(key)
            return item if isinstance(item, str) and item else None

        return cls(
            batch_name=text("batch_name"),
            input_fingerprint=text("input_fingerprint"),
            input_file=text("input_file"),
            input_sha256=text("input_sha256"),
            attempts=read_attempts(value.get("attempts")),
        )


def read_attempts(value: Any) -> tuple[Mapping[str, Any], ...]:
    """The attempts of a stored record (or XCom) value: dicts naming a ``batches/...``, with only
    :data:`ATTEMPT_FIELDS` of JSON scalar values kept; at most :data:`MAX_ATTEMPTS`."""
    if not isinstance(value, list):
        return ()
    out: list[Mapping[str, Any]] = []
    for item in value[-MAX_ATTEMPTS:]:
        if not isinstance(item, Mapping):
            continue
        name = item.get("batch_name")
        if not isinstance(name, str) or not name.startswith("batches/"):
            continue
        out.append(
            {
                k: item[k]
                for k in ATTEMPT_FIELDS
                if k in item and isinstance(item[k], (str, int, float)) and not isinstance(item[k], bool)
            }
        )
    return tuple(out)


def store_of(context: Mapping[str, Any]) -> Any | None:
    """The task's state store accessor, or None where Airflow has none (before 3.3)."""
    return context.get("task_state_store")


def read_record(context: Mapping[str, Any], log: TaskLog) -> Recorded | None:
    """The record an earlier try left, or None (no store, nothing recorded, or unreadable).

    Never raises: the store only saves a listing; if it cannot be read the display-name lookup
    still finds the batch, so a warning is logged and None returned.
    """
    store = store_of(context)
    if store is None:
        return None
    try:
        value = store.get(KEY)
    except Exception as exc:  # AirflowRuntimeError, or the supervisor channel itself failing
        log.warning(
            "Could not read the task state store (%s); looking the batch up by its display name.",
            type(exc).__name__,
        )
        return None
    if value is None:
        return None
    record = Recorded.from_json(value)
    if record is None:
        log.warning("Ignoring an unrecognised value under task state store key %r.", KEY)
    return record


def write_record(context: Mapping[str, Any], record: Recorded, log: TaskLog) -> bool:
    """Record ``record`` under :data:`KEY` (replacing what was there); True if it was written.

    Uses the configured default retention (``[state_store] default_retention_days``): a retry or
    clear later than that falls back to the display-name lookup. Never raises, for the same
    reason as :func:`read_record`: the batch exists and its marker still finds it.
    """
    store = store_of(context)
    if store is None:
        return False
    try:
        store.set(KEY, record.to_json())
    except Exception as exc:  # see read_record
        log.warning(
            "Could not record %s in the task state store (%s); a retry will look it up by its "
            "display name instead.",
            record.batch_name or record.input_file,
            type(exc).__name__,
        )
        return False
    return True
