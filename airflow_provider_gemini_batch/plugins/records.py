"""What a task instance's XComs say about the Gemini batch it created, waited for or landed.

Read on the API server straight from Airflow's metadata database (``XComModel`` through
``airflow.utils.session.create_session``), the way Airflow 3's own REST routes read XComs; nothing
here talks to the Gemini API. The XComs come from this provider's tasks:

* ``GeminiCreateBatchOperator``: ``batch_name`` (``batches/...``);
* ``GeminiBatchSensor`` (and the create operator): ``gemini_batch_api_url``
  (``GeminiBatchLink.persist``: the REST URL of the batch, whose last two path segments are its
  name) and the ``return_value`` summary (``batch_name``, ``state``, ``stats`` ...);
* ``GeminiBatchResultsOperator``: the manifest (``return_value``, or ``manifest`` when the task
  failed after landing), a dict with ``batch_name``, ``state``, ``destination`` and ``counts``.

Everything read here is data a user allowed to write an XCom on the DAG can plant: it is only ever
*shown* (escaped, by ``page.py``), never used to choose what to read. In particular the
``gemini_conn_id`` XCom the tasks push is not read: the page takes the connection from the task's
definition (``definition.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_gemini_batch.links.gemini_batch import API_URL_XCOM_KEY

#: XCom keys read by the page (anything else of the run is never loaded).
BATCH_NAME_KEY = "batch_name"
API_URL_KEY = API_URL_XCOM_KEY
MANIFEST_KEYS = ("return_value", "manifest")
SUMMARY_KEY = "batch_summary"
#: The create task's report of batches stuck in PENDING and their replacements (``operators/_pending.py``).
ATTEMPTS_KEY = "batch_attempts"
KEYS = (BATCH_NAME_KEY, API_URL_KEY, SUMMARY_KEY, ATTEMPTS_KEY, *MANIFEST_KEYS)
#: Upper bound of XCom rows read for one page (a run with thousands of mapped tasks).
MAX_ROWS = 2000


@dataclass(frozen=True)
class TaskRef:
    """One task instance: ``map_index`` is -1 for an unmapped task."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1


@dataclass
class BatchRecord:
    """The batch of a task instance as recorded in XCom.

    :param batch_name: ``batches/...``.
    :param conn_id: the connection the batch is read with: the task's own ``gemini_conn_id`` from
        the serialized DAG (never an XCom); None when the task's definition names none.
    :param api_url: the batch's REST URL (no key), if recorded.
    :param manifest: the results task's manifest for this batch, if it ran.
    :param attempts: the create task's ``batch_attempts`` report naming this batch, if any.
    """

    batch_name: str
    conn_id: str | None = None
    api_url: str | None = None
    manifest: Mapping[str, Any] | None = None
    summary: Mapping[str, Any] | None = field(default=None, repr=False)
    attempts: Mapping[str, Any] | None = field(default=None, repr=False)


def name_from_url(url: Any) -> str | None:
    """``batches/<id>`` from a batch's REST URL (``.../v1beta/batches/<id>``), else None."""
    if not isinstance(url, str) or "/batches/" not in url:
        return None
    batch_id = url.rsplit("/batches/", 1)[1].split("?", 1)[0].strip("/")
    return f"batches/{batch_id}" if batch_id and "/" not in batch_id else None


def _manifest_of(value: Any) -> Mapping[str, Any] | None:
    """``value`` if it is a results manifest (``batch_name`` and ``counts``), else None."""
    if isinstance(value, Mapping) and isinstance(value.get("batch_name"), str) and "counts" in value:
        return value
    return None


def _summary_of(values: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A batch summary (``batch_name`` and ``stats``) under ``batch_summary`` or ``return_value``."""
    for key in (SUMMARY_KEY, "return_value"):
        value = values.get(key)
        if isinstance(value, Mapping) and isinstance(value.get("batch_name"), str) and "stats" in value:
            return value
    return None


def own_batch_name(values: Mapping[str, Any]) -> str | None:
    """The batch a task instance's own XComs (``key -> value``) point at, or None."""
    name = values.get(BATCH_NAME_KEY)
    if isinstance(name, str) and (name.startswith("batches/") or "/batchPredictionJobs/" in name):
        # A Gemini API batch or a Vertex AI batch prediction job.
        return name
    from_link = name_from_url(values.get(API_URL_KEY))
    if from_link:
        return from_link
    summary = _summary_of(values)
    if summary is not None:
        return str(summary["batch_name"])
    for key in MANIFEST_KEYS:
        manifest = _manifest_of(values.get(key))
        if manifest is not None:
            return str(manifest["batch_name"])
    return None


def assemble(ref: TaskRef, rows: list[tuple[str, int, str, Any]]) -> BatchRecord | None:
    """Build the record of ``ref`` from the run's XCom rows ``(task_id, map_index, key, value)``.

    Returns None when the task instance recorded no batch (most tasks: the page says so quietly).
    """
    by_ti: dict[tuple[str, int], dict[str, Any]] = {}
    for task_id, map_index, key, value in rows:
        by_ti.setdefault((task_id, map_index), {})[key] = value
    own = by_ti.get((ref.task_id, ref.map_index), {})
    name = own_batch_name(own)
    if name is None:
        return None
    # The same batch as seen by the run's other tasks (the sensor and results task record less).
    related = [values for values in by_ti.values() if own_batch_name(values) == name]
    related.sort(key=lambda values: values is not own)  # this task instance's own values first
    record = BatchRecord(batch_name=name)
    for values in related:
        link = values.get(API_URL_KEY)
        if record.api_url is None and isinstance(link, str):
            record.api_url = link
        summary = _summary_of(values)
        if record.summary is None and summary is not None:
            record.summary = summary
        for key in MANIFEST_KEYS:
            manifest = _manifest_of(values.get(key))
            if record.manifest is None and manifest is not None and manifest["batch_name"] == name:
                record.manifest = manifest
        report = values.get(ATTEMPTS_KEY)
        if record.attempts is None and _names_batch(report, name):
            record.attempts = report
    return record


def _names_batch(report: Any, name: str) -> bool:
    """Whether ``report`` is a ``batch_attempts`` report listing the batch ``name``."""
    attempts = report.get("attempts") if isinstance(report, Mapping) else None
    return isinstance(attempts, list) and any(
        isinstance(a, Mapping) and a.get("batch_name") == name for a in attempts
    )


def load(ref: TaskRef) -> BatchRecord | None:
    """Read the run's relevant XComs from the metadata database and :func:`assemble` them."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = (
        select(XComModel)
        .where(
            XComModel.dag_id == ref.dag_id,
            XComModel.run_id == ref.run_id,
            XComModel.key.in_(KEYS),
        )
        .limit(MAX_ROWS)
    )
    with create_session() as session:
        rows = [
            (row.task_id, row.map_index, row.key, XComModel.deserialize_value(row))
            for row in session.scalars(query)
        ]
    return assemble(ref, rows)
