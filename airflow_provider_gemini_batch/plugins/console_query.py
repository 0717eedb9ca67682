"""The console's reads of Airflow's metadata database: paged, indexed, a chunk at a time.

Every batch this Airflow created is one XCom row: the create operator pushes ``batch_name``
(``batches/...``) as soon as the service answered. That row is the console's index. The query
walks the XCom table's primary key (``dag_run_id, task_id, map_index, key``) backwards, so the
newest DAG runs come first (``dag_run.id`` grows as runs are created), and pages by *keyset*
(the ``dag_run_id, task_id, map_index`` of the last row read), never by offset: page 200 costs
what page 1 costs. The key test is evaluated on the primary key's entries themselves, and the
walk stops once a chunk is full: a chunk of 200 batches reads about 200 x (XComs per run) index
entries and 200 rows, whatever the history's size (measured: ``benchmarks/console_load.py``).

Airflow's other XCom indexes (``idx_xcom_key``, ``idx_xcom_task_instance`` on ``dag_id``) would
make SQLite read *every* batch row and sort them for each chunk (about 100 ms a chunk at 10,000
batches); the key and DAG tests are therefore written as expressions (``key || ''``) that no
index serves, except when the viewer's DAGs are at most :data:`FEW_DAGS`, where the ``dag_id``
index reads only those DAGs' rows. The DAG test and the creation-day bounds (on the XCom's
``timestamp``) are filters of the walk.

What the other tasks of a batch's run recorded (the sensor's summary, the results task's
manifest, the REST link) is read for one chunk at a time by ``dag_run_id`` (the primary key's
first column) and map index; only the keys the batch page reads (``records.KEYS``) carry their
value, so a task's large unrelated ``return_value`` is never loaded. A chunk holds at most
``chunk`` batches and :data:`RELATED_PER_RUN` related rows a run, so a request's memory is
bounded by the chunk, never by the history.

XCom values are not filtered in SQL: Airflow stores a value written by a worker as a JSON document
and one written through ``XComModel.set`` as a JSON *string* holding the document, so a JSON path
in SQL would see only one of the two. Values are fetched as text and decoded by :func:`decode`,
which reads both forms as ``XComModel.deserialize_value`` does, with the C JSON decoder (Airflow's
decoder, which calls a hook for every object, took most of a 10,000-batch scan).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from airflow_provider_gemini_batch.plugins import records

#: The XCom key of the index: pushed by the create operator, one per batch it created.
INDEX_KEY = records.BATCH_NAME_KEY
#: Index rows read per query (and batches assembled per related read).
CHUNK = 200
#: Related XCom rows read at most per run of a chunk (runs with thousands of mapped tasks stop).
RELATED_PER_RUN = 50
#: Up to this many DAGs, the walk uses Airflow's ``dag_id`` index instead of the primary key.
FEW_DAGS = 2


@dataclass(frozen=True)
class Position:
    """A place in the newest-first order: the keyset of one index row."""

    dag_run_id: int
    task_id: str
    map_index: int

    def token(self) -> str:
        """The position as an opaque URL-safe token (base64 of a JSON list)."""
        raw = json.dumps([self.dag_run_id, self.task_id, self.map_index])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def from_token(cls, token: str | None) -> Position | None:
        """The position a :meth:`token` encodes; None for anything else (never raises)."""
        if not token or len(token) > 2000:
            return None
        try:
            run, task, index = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            return None
        if type(run) is not int or not isinstance(task, str) or type(index) is not int:
            return None
        return cls(run, task, index)


@dataclass(frozen=True)
class Window:
    """What SQL narrows: DAGs and creation days (UTC, ``until`` included); None = no bound."""

    dag_ids: frozenset[str] | None = None
    since: date | None = None
    until: date | None = None


@dataclass
class Candidate:
    """One index row: a batch the create task of a task instance recorded.

    :param value: the ``batch_name`` XCom's decoded value (normally ``batches/...``; planted
        values are shown escaped or skipped, never used to read anything).
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    dag_run_id: int
    timestamp: datetime
    value: Any

    @property
    def position(self) -> Position:
        return Position(self.dag_run_id, self.task_id, self.map_index)

    @property
    def ref(self) -> records.TaskRef:
        return records.TaskRef(self.dag_id, self.run_id, self.task_id, self.map_index)


def decode(raw: Any) -> Any:
    """An XCom value as stored: JSON text (decoded once more when it holds a JSON string, the form
    ``XComModel.set`` writes); a value the driver already decoded is returned as is."""
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, str) and value[:1] in ("{", "[", '"'):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text_value() -> Any:
    """``xcom.value`` as the text the database holds (no SQLAlchemy JSON decoding)."""
    from airflow.models.xcom import XComModel as X
    from sqlalchemy import Text, type_coerce

    return type_coerce(X.value, Text).label("value")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def dags_with_batches(session: Any) -> list[str]:
    """The DAG ids that recorded at least one batch (``DISTINCT`` over the index key)."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    query = select(XComModel.dag_id).where(XComModel.key == INDEX_KEY).distinct()
    return sorted(str(dag_id) for dag_id in session.scalars(query))


def _after(position: Position) -> Any:
    """``(dag_run_id, task_id, map_index) < position``, spelled out for every database."""
    from airflow.models.xcom import XComModel as X
    from sqlalchemy import and_, or_

    return or_(
        X.dag_run_id < position.dag_run_id,
        and_(
            X.dag_run_id == position.dag_run_id,
            or_(
                X.task_id < position.task_id,
                and_(X.task_id == position.task_id, X.map_index < position.map_index),
            ),
        ),
    )


def index_chunk(session: Any, window: Window, after: Position | None, limit: int = CHUNK) -> list[Candidate]:
    """Up to ``limit`` index rows of ``window``, newest first, strictly after ``after``."""
    from airflow.models.xcom import XComModel as X
    from sqlalchemy import select

    query = select(
        X.dag_id, X.run_id, X.task_id, X.map_index, X.dag_run_id, X.timestamp, _text_value()
    ).where(
        (X.key + "") == INDEX_KEY  # no index on key: walk the primary key (module docstring)
    )
    if window.dag_ids is not None:
        dag_ids = sorted(window.dag_ids)
        query = query.where(
            X.dag_id.in_(dag_ids) if len(dag_ids) <= FEW_DAGS else (X.dag_id + "").in_(dag_ids)
        )
    if window.since is not None:
        query = query.where(X.timestamp >= datetime.combine(window.since, time(), tzinfo=timezone.utc))
    if window.until is not None:
        end = datetime.combine(window.until + timedelta(days=1), time(), tzinfo=timezone.utc)
        query = query.where(X.timestamp < end)
    if after is not None:
        query = query.where(_after(after))
    query = query.order_by(X.dag_run_id.desc(), X.task_id.desc(), X.map_index.desc())
    return [
        Candidate(
            dag_id=row.dag_id,
            run_id=row.run_id,
            task_id=row.task_id,
            map_index=int(row.map_index),
            dag_run_id=int(row.dag_run_id),
            timestamp=_utc(row.timestamp),
            value=decode(row.value),
        )
        for row in session.execute(query.limit(limit))
    ]


def related(session: Any, chunk: Sequence[Candidate]) -> dict[int, list[tuple[str, int, str, Any]]]:
    """The batch page's XComs of the chunk's runs and map indexes: ``dag_run_id -> rows``.

    Rows are ``(task_id, map_index, key, value)`` as :func:`records.assemble` takes them.
    """
    from airflow.models.xcom import XComModel as X
    from sqlalchemy import case, select

    if not chunk:
        return {}
    runs = sorted({c.dag_run_id for c in chunk})
    indexes = sorted({c.map_index for c in chunk})
    # The value only for the page's keys (a filter on key would make SQLite use idx_xcom_key and
    # read every such row of the table; this reads the chunk's runs by primary key).
    value = case((X.key.in_(records.KEYS), _text_value()), else_=None).label("value")
    query = (
        select(X.dag_run_id, X.task_id, X.map_index, X.key, value)
        .where(X.dag_run_id.in_(runs), X.map_index.in_(indexes))
        .limit(RELATED_PER_RUN * len(runs))
    )
    out: dict[int, list[tuple[str, int, str, Any]]] = {}
    for row in session.execute(query):
        if row.key in records.KEYS and row.value is not None:
            out.setdefault(int(row.dag_run_id), []).append(
                (row.task_id, int(row.map_index), row.key, decode(row.value))
            )
    return out


def scan(
    session: Any, window: Window, after: Position | None, *, limit: int, chunk_size: int = CHUNK
) -> Iterator[tuple[Candidate, records.BatchRecord | None]]:
    """Index rows of ``window`` after ``after``, newest first, each with its assembled record
    (None when the row names no batch); at most ``limit`` rows, read ``chunk_size`` at a time."""
    left = limit
    while left > 0:
        asked = min(chunk_size, left)
        chunk = index_chunk(session, window, after, asked)
        if not chunk:
            return
        by_run = related(session, chunk)
        for candidate in chunk:
            rows = by_run.get(candidate.dag_run_id, [])
            own = (candidate.task_id, candidate.map_index, INDEX_KEY, candidate.value)
            yield candidate, records.assemble(candidate.ref, [*rows, own])
        left -= len(chunk)
        after = chunk[-1].position
        if len(chunk) < asked:
            return
