"""The console's reads of Airflow's metadata database: paged, indexed, a chunk at a time.

Every batch this Airflow created is one XCom row: the create operator pushes ``batch_name``
(``batches/...``) as soon as the service answered. That row is the console's index: the query
filters on ``xcom.key`` (Airflow's ``idx_xcom_key``), on the DAGs the viewer may read and on the
row's ``timestamp`` (when the batch was recorded, so the day it was created), sorts newest first
and pages by *keyset* (``timestamp, dag_run_id, task_id, map_index`` of the last row read, all
descending), never by offset: page 200 costs what page 1 costs. The create task's Airflow state
comes with it (an outer join on ``task_instance``'s unique key).

What the other tasks of a batch's run recorded (the sensor's summary, the results task's
manifest, the REST link) is read for one chunk of index rows at a time: ``xcom.dag_run_id`` is the
first column of the table's primary key, and only the keys the batch page reads
(``records.KEYS``) of those runs and map indexes are loaded. A chunk holds at most
:data:`CHUNK` batches and :data:`RELATED_LIMIT` related rows, so a request's memory is bounded by
the chunk, never by the history.

XCom values are not filtered in SQL: Airflow stores a value written by a worker as a JSON document
and one written through ``XComModel.set`` as a JSON *string* holding the document, so a JSON path
in SQL would see only one of the two; values are decoded here with Airflow's own
``XComModel.deserialize_value``.
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
#: Related XCom rows read at most per chunk (runs with thousands of mapped tasks stop here).
RELATED_LIMIT = 20 * CHUNK


@dataclass(frozen=True)
class Position:
    """A place in the newest-first order: the keyset of one index row.

    :param timestamp: the ``batch_name`` XCom's ``timestamp`` (UTC).
    """

    timestamp: datetime
    dag_run_id: int
    task_id: str
    map_index: int

    def token(self) -> str:
        """The position as an opaque URL-safe token (base64 of a JSON list)."""
        raw = json.dumps([self.timestamp.isoformat(), self.dag_run_id, self.task_id, self.map_index])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def from_token(cls, token: str | None) -> Position | None:
        """The position a :meth:`token` encodes; None for anything else (never raises)."""
        if not token or len(token) > 2000:
            return None
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            when, run, task, index = raw
            stamp = datetime.fromisoformat(when)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            return None
        if not (isinstance(run, int) and isinstance(task, str) and isinstance(index, int)):
            return None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        return cls(stamp, run, task, index)


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
    :param ti_state: the create task instance's Airflow state (None when unknown).
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    dag_run_id: int
    timestamp: datetime
    value: Any
    ti_state: str | None

    @property
    def position(self) -> Position:
        return Position(self.timestamp, self.dag_run_id, self.task_id, self.map_index)

    @property
    def ref(self) -> records.TaskRef:
        return records.TaskRef(self.dag_id, self.run_id, self.task_id, self.map_index)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def dags_with_batches(session: Any) -> list[str]:
    """The DAG ids that recorded at least one batch (``DISTINCT`` over the index key)."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    query = select(XComModel.dag_id).where(XComModel.key == INDEX_KEY).distinct()
    return sorted(str(dag_id) for dag_id in session.scalars(query))


def _after(position: Position) -> Any:
    """``(timestamp, dag_run_id, task_id, map_index) < position``, spelled out for every database."""
    from airflow.models.xcom import XComModel as X
    from sqlalchemy import and_, or_

    return or_(
        X.timestamp < position.timestamp,
        and_(
            X.timestamp == position.timestamp,
            or_(
                X.dag_run_id < position.dag_run_id,
                and_(
                    X.dag_run_id == position.dag_run_id,
                    or_(
                        X.task_id < position.task_id,
                        and_(X.task_id == position.task_id, X.map_index < position.map_index),
                    ),
                ),
            ),
        ),
    )


def index_chunk(session: Any, window: Window, after: Position | None, limit: int = CHUNK) -> list[Candidate]:
    """Up to ``limit`` index rows of ``window``, newest first, strictly after ``after``."""
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.models.xcom import XComModel as X
    from sqlalchemy import and_, select

    query = (
        select(X.dag_id, X.run_id, X.task_id, X.map_index, X.dag_run_id, X.timestamp, X.value, TI.state)
        .outerjoin(
            TI,
            and_(
                TI.dag_id == X.dag_id,
                TI.run_id == X.run_id,
                TI.task_id == X.task_id,
                TI.map_index == X.map_index,
            ),
        )
        .where(X.key == INDEX_KEY)
    )
    if window.dag_ids is not None:
        query = query.where(X.dag_id.in_(sorted(window.dag_ids)))
    if window.since is not None:
        query = query.where(X.timestamp >= datetime.combine(window.since, time(), tzinfo=timezone.utc))
    if window.until is not None:
        end = datetime.combine(window.until + timedelta(days=1), time(), tzinfo=timezone.utc)
        query = query.where(X.timestamp < end)
    if after is not None:
        query = query.where(_after(after))
    query = query.order_by(X.timestamp.desc(), X.dag_run_id.desc(), X.task_id.desc(), X.map_index.desc())
    out = []
    for row in session.execute(query.limit(limit)):
        out.append(
            Candidate(
                dag_id=row.dag_id,
                run_id=row.run_id,
                task_id=row.task_id,
                map_index=int(row.map_index),
                dag_run_id=int(row.dag_run_id),
                timestamp=_utc(row.timestamp),
                value=X.deserialize_value(row),
                ti_state=None if row.state is None else str(row.state),
            )
        )
    return out


def related(session: Any, chunk: Sequence[Candidate]) -> dict[int, list[tuple[str, int, str, Any]]]:
    """The batch page's XComs of the chunk's runs and map indexes: ``dag_run_id -> rows``.

    Rows are ``(task_id, map_index, key, value)`` as :func:`records.assemble` takes them.
    """
    from airflow.models.xcom import XComModel as X
    from sqlalchemy import select

    if not chunk:
        return {}
    runs = sorted({c.dag_run_id for c in chunk})
    indexes = sorted({c.map_index for c in chunk})
    query = (
        select(X.dag_run_id, X.task_id, X.map_index, X.key, X.value)
        .where(X.dag_run_id.in_(runs), X.key.in_(records.KEYS), X.map_index.in_(indexes))
        .limit(RELATED_LIMIT)
    )
    out: dict[int, list[tuple[str, int, str, Any]]] = {}
    for row in session.execute(query):
        out.setdefault(int(row.dag_run_id), []).append(
            (row.task_id, int(row.map_index), row.key, X.deserialize_value(row))
        )
    return out


def scan(
    session: Any, window: Window, after: Position | None, *, limit: int
) -> Iterator[tuple[Candidate, records.BatchRecord | None]]:
    """Index rows of ``window`` after ``after``, newest first, each with its assembled record
    (None when the row names no batch); at most ``limit`` rows, read a chunk at a time."""
    left = limit
    while left > 0:
        asked = min(CHUNK, left)
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
