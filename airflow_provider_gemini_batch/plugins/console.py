"""The console route: every Gemini batch this Airflow created, for the DAGs the viewer may read.

``GET /gemini-batch/console`` on the batch pages' sub-app (``app.py``), shown in Airflow's menu
by the plugin (``batch_page.py``). Query parameters (all optional, all only narrowing what is
shown): ``dag_id``, ``state`` (``console_rows.FILTER_STATES`` or ``WARNINGS``), ``since`` and
``until`` (``YYYY-MM-DD``, UTC, creation day, ``until`` included) and ``after`` (the keyset token
of the next page).

Who sees what: the user comes from Airflow's own ``get_user`` (the ``Authorization: Bearer``
header or the UI's ``_token`` cookie; 401 without, which the sub-app turns into the way to log in
for a browser). The DAGs shown are those the auth manager says the user may read
(``get_authorized_dag_ids(method="GET")``, what Airflow's own list routes use), narrowed to the
DAGs whose *task instances* the user may read (``is_authorized_dag(GET, TASK_INSTANCE)``, what the
per-task batch page requires), with each DAG's team passed as Airflow passes it. Nothing of any
other DAG is read, counted or offered in the filter: the SQL itself is limited to those DAG ids.

A load never writes: two metadata reads on the batch pages' own DB threads (``LiveReader.run``)
and, when ``[gemini_batch] console_live_state`` is on (default), the bounded, cached batch-list
reads of ``console_live`` for the connections of batches created in the last 48 h.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airflow_provider_gemini_batch.plugins import console_query as q
from airflow_provider_gemini_batch.plugins.console_live import ListRead, ListReader, live_notice
from airflow_provider_gemini_batch.plugins.console_page import View, render_console
from airflow_provider_gemini_batch.plugins.console_rows import (
    EXPIRY_HOURS,
    FILTER_STATES,
    TOTALS_LIMIT,
    WITH_WARNINGS,
    LiveBatch,
    Row,
    Thresholds,
    Totals,
    build_row,
    matches,
)

#: The console's route under the sub-app's prefix.
CONSOLE_ROUTE = "/console"
#: Batches shown per page.
PAGE_SIZE = 50
#: Batches one load examines at most to fill a page when a state filter drops rows.
SCAN_LIMIT = 1_000
#: Batches per read of the totals' walk.
TOTALS_CHUNK = 1_000
#: Seconds totals of one (viewer's DAGs, filter) are reused.
TOTALS_CACHE_SECONDS = 30.0
#: Most seconds a load waits for totals being added up (they finish on their own thread and
#: serve the next loads; the page says so meanwhile).
TOTALS_WAIT_SECONDS = 1.0
#: Connections whose batch list one load reads at most.
MAX_CONNECTIONS = 8
#: Seconds a task's connection id (from its serialized DAG) is reused.
CONN_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Filters:
    """The console's query, checked; ``problems`` lists parameters that were ignored."""

    dag_id: str | None = None
    state: str | None = None
    since: date | None = None
    until: date | None = None
    after: q.Position | None = None
    problems: tuple[str, ...] = ()

    @classmethod
    def parse(cls, params: Any) -> Filters:
        """From the request's query parameters; a bad value is ignored and named in ``problems``."""
        problems: list[str] = []

        def day(name: str) -> date | None:
            raw = str(params.get(name) or "").strip()
            if not raw:
                return None
            try:
                return date.fromisoformat(raw[:10])
            except ValueError:
                problems.append(f"{name} is not a date (YYYY-MM-DD); ignored.")
                return None

        dag_id = str(params.get("dag_id") or "").strip()[:250] or None
        state = str(params.get("state") or "").strip().upper() or None
        if state is not None and state not in (*FILTER_STATES, WITH_WARNINGS):
            problems.append("Unknown state; ignored.")
            state = None
        raw_after = params.get("after")
        after = q.Position.from_token(str(raw_after)) if raw_after else None
        if raw_after and after is None:
            problems.append("The page position was not understood; showing the newest batches.")
        return cls(dag_id, state, day("since"), day("until"), after, tuple(problems))

    def window(self, visible: frozenset[str]) -> q.Window:
        dag_ids = visible & {self.dag_id} if self.dag_id else visible
        return q.Window(frozenset(dag_ids), self.since, self.until)


@dataclass
class Access:
    """What one viewer may see: the DAGs (with batches) they may read, and the live lists."""

    visible: frozenset[str]
    conn_of: dict[tuple[str, str], str | None] = field(default_factory=dict)
    recent_conns: list[str] = field(default_factory=list)


def readable_dag_ids(user: Any, candidates: list[str], session: Any) -> frozenset[str]:
    """The ``candidates`` whose task instances ``user`` may read, per the auth manager."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.models.dag import DagModel

    if not candidates:
        return frozenset()
    manager = get_auth_manager()
    readable = manager.get_authorized_dag_ids(user=user, method="GET", session=session)
    wanted = [d for d in candidates if d in readable]
    teams = DagModel.get_dag_id_to_team_name_mapping(wanted, session=session) if wanted else {}
    return frozenset(
        d
        for d in wanted
        if manager.is_authorized_dag(
            method="GET",
            access_entity=DagAccessEntity.TASK_INSTANCE,
            details=DagDetails(id=d, team_name=teams.get(d)),
            user=user,
        )
    )


class ConnIds:
    """``(dag_id, task_id) -> gemini_conn_id`` from the serialized DAGs, cached a minute."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, str | None]] = {}

    def get(self, dag_id: str, task_id: str) -> str | None:
        from airflow_provider_gemini_batch.plugins.definition import defined_conn_id

        key, now = (dag_id, task_id), time.monotonic()
        with self._lock:
            found = self._cache.get(key)
        if found is not None and now - found[0] < CONN_CACHE_SECONDS:
            return found[1]
        try:
            conn_id = defined_conn_id(dag_id, task_id)
        except Exception:  # a DAG that no longer deserializes: no live state for it
            conn_id = None
        with self._lock:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = (now, conn_id)
        return conn_id


def recent_tasks(session: Any, dag_ids: frozenset[str], now: datetime) -> list[tuple[str, str]]:
    """``(dag_id, task_id)`` of create tasks of ``dag_ids`` that recorded a batch in the last 48 h,
    most recent first (from the newest 1,000 such batches)."""
    from airflow.models.xcom import XComModel as X
    from sqlalchemy import select

    if not dag_ids:
        return []
    query = (
        select(X.dag_id, X.task_id)
        .where(X.key == q.INDEX_KEY, X.dag_id.in_(sorted(dag_ids)))
        .where(X.timestamp >= now - timedelta(hours=EXPIRY_HOURS))
        .order_by(X.timestamp.desc())
        .limit(1000)
    )
    return list(dict.fromkeys((str(d), str(t)) for d, t in session.execute(query)))


@dataclass
class Result:
    rows: list[Row]
    next_token: str | None
    notices: list[str]
    live: dict[str, LiveBatch] = field(default_factory=dict)


class Console:
    """The console's state shared by requests: readers and caches (one per sub-app)."""

    def __init__(self, db_reader: Any, list_reader: ListReader | None = None) -> None:
        self.db = db_reader
        self.lists = list_reader or ListReader()
        self.conns = ConnIds()
        self._totals: dict[Any, tuple[float, Future[Totals]]] = {}
        self._lock = threading.Lock()
        # One thread adds totals up: a long sum never holds the DB threads that read the rows.
        self._totals_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gemini-batch-totals")

    def access(self, user: Any, filters: Filters, now: datetime, *, live: bool = True) -> Access:
        """The viewer's DAGs and the connections worth a live read: those of the filter's DAGs'
        batches of the last 48 h, the most recently used first (one DB session)."""
        from airflow.utils.session import create_session

        with create_session() as session:
            visible = readable_dag_ids(user, q.dags_with_batches(session), session)
            recent = filters.window(visible).dag_ids or frozenset()
            tasks = recent_tasks(session, recent, now) if live else []
        conn_of = {task: self.conns.get(*task) for task in tasks}
        conns = list(dict.fromkeys(c for c in conn_of.values() if c))
        return Access(visible, conn_of, conns[:MAX_CONNECTIONS])

    def _row(self, cand: q.Candidate, record: Any, live: dict[str, LiveBatch], now: datetime) -> Row:
        return build_row(
            dag_id=cand.dag_id,
            run_id=cand.run_id,
            task_id=cand.task_id,
            map_index=cand.map_index,
            created=cand.timestamp,
            record=record,
            live=live.get(record.batch_name),
            now=now,
            thresholds=Thresholds(),
        )

    def collect(self, access: Access, filters: Filters, lists: dict[str, ListRead], now: datetime) -> Result:
        """The page of rows (read by keyset, a state filter applied as they come) and the next position."""
        from airflow.utils.session import create_session

        live: dict[str, LiveBatch] = {}
        for read in lists.values():
            live.update(read.batches)
        window = filters.window(access.visible)
        rows: list[Row] = []
        next_token = None
        notices = list(filters.problems)
        with create_session() as session:
            scanned = 0
            last = None
            # Without a state filter every row is shown: read a page; with one, larger chunks.
            chunk = PAGE_SIZE if filters.state is None else q.CHUNK
            for cand, record in q.scan(session, window, filters.after, limit=SCAN_LIMIT, chunk_size=chunk):
                scanned += 1
                last = cand.position
                if record is None:
                    continue
                row = self._row(cand, record, live, now)
                if matches(row, filters.state):
                    rows.append(row)
                    if len(rows) == PAGE_SIZE:
                        break
            if last is not None and (len(rows) == PAGE_SIZE or scanned >= SCAN_LIMIT):
                next_token = last.token()
                if len(rows) < PAGE_SIZE:
                    notices.append(
                        f"{scanned:,} batches were examined for this filter and {len(rows)} matched; "
                        "older ones are on the next page."
                    )
        return Result(rows, next_token, notices, live)

    def totals_future(
        self, window: q.Window, state: str | None, live: dict[str, LiveBatch], now: datetime
    ) -> Future[Totals]:
        """The totals of ``window`` and ``state``: a fresh cached sum, the one being added up, or a
        new one started on the totals thread (shared by every load asking the same)."""
        key = (window, state)
        with self._lock:
            found = self._totals.get(key)
            if found is not None and (
                not found[1].done()
                or (time.monotonic() - found[0] < TOTALS_CACHE_SECONDS and found[1].exception() is None)
            ):
                return found[1]
            future = self._totals_pool.submit(self.add_up, window, state, dict(live), now)
            if len(self._totals) > 64:
                self._totals = {k: v for k, v in self._totals.items() if not v[1].done()}
            self._totals[key] = (time.monotonic(), future)
            return future

    def add_up(
        self, window: q.Window, state: str | None, live: dict[str, LiveBatch], now: datetime
    ) -> Totals:
        """Sum the newest :data:`TOTALS_LIMIT` batches of ``window`` that pass ``state``."""
        from airflow.utils.session import create_session

        totals = Totals()
        with create_session() as session:
            for cand, record in q.scan(session, window, None, limit=TOTALS_LIMIT, chunk_size=TOTALS_CHUNK):
                totals.scanned += 1
                if record is None:
                    continue
                row = self._row(cand, record, live, now)
                if matches(row, state):
                    totals.add(row)
        totals.complete = totals.scanned < TOTALS_LIMIT
        return totals


def live_enabled() -> bool:
    """``[gemini_batch] console_live_state`` (default True)."""
    from airflow.configuration import conf

    return conf.getboolean("gemini_batch", "console_live_state", fallback=True)


def login_next(request: Any, base: str, url_prefix: str) -> str | None:
    """The console's own URL (with its query) when ``request`` is for the console, else None."""
    if not str(request.url.path).endswith(url_prefix + CONSOLE_ROUTE):
        return None
    query = str(request.url.query)
    return f"{base}{url_prefix}{CONSOLE_ROUTE}" + (f"?{query}" if query else "")


def add_route(app: Any, db_reader: Any, headers: Any, base_of: Any) -> Console:
    """Register ``GET /console`` on ``app`` (the batch pages' sub-app).

    :param db_reader: the batch pages' ``live.LiveReader`` (its ``run`` is the DB thread pool).
    :param headers: ``nonce -> dict`` of the pages' security headers.
    :param base_of: ``request.scope -> Airflow's root path``.
    """
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, Request
    from fastapi.responses import HTMLResponse

    console = Console(db_reader)
    # Airflow's own resolution of the viewer (Bearer header or the UI's ``_token`` cookie).
    viewer = Depends(get_user)

    async def console_page(request: Request, user: Any = viewer) -> HTMLResponse:
        """Every batch of the viewer's DAGs, newest first, with totals."""
        now = datetime.now(timezone.utc)
        filters = Filters.parse(request.query_params)
        live = live_enabled()
        access = await console.db.run(lambda _: console.access(user, filters, now, live=live), None)
        lists = await console.lists.read(access.recent_conns) if live else {}
        result = await console.db.run(lambda _: console.collect(access, filters, lists, now), None)
        # Every failed connection in one line: a DB full of DAGs must not fill the page with notices.
        notices = result.notices + [n for n in [live_notice(lists)] if n]
        summing = console.totals_future(filters.window(access.visible), filters.state, result.live, now)
        totals = None
        try:
            totals = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(summing)), TOTALS_WAIT_SECONDS)
        except asyncio.TimeoutError:
            pass  # still adding up: the page says so, the next load gets them
        except Exception as exc:  # the rows still show; the type only, never the text
            notices.append(f"The totals could not be added up ({type(exc).__name__}).")
        nonce = secrets.token_urlsafe(16)
        view = View(
            base=base_of(request.scope),
            rows=result.rows,
            totals=totals,
            dag_options=sorted(access.visible),
            dag_id=filters.dag_id,
            state=filters.state,
            since=filters.since,
            until=filters.until,
            next_token=result.next_token,
            notices=notices,
            now=now,
        )
        answer = headers(nonce)
        answer["Content-Security-Policy"] = answer["Content-Security-Policy"].replace(
            "form-action 'none'", "form-action 'self'"
        )
        return HTMLResponse(render_console(view, nonce), headers=answer)

    console_page.__annotations__["request"] = Request
    app.get(CONSOLE_ROUTE, response_class=HTMLResponse)(console_page)
    return console
