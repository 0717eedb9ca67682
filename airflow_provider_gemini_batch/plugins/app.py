"""The FastAPI sub-app serving the batch page, mounted by Airflow's API server.

Security (Airflow 3.3.2 source, ``airflow/api_fastapi/app.py`` ``init_plugins`` and
``core_api/security.py``): a plugin's sub-app is mounted as is, with **no** authentication of its
own, so every route here depends on ``requires_access_dag("GET", TASK_INSTANCE)``. That dependency
resolves the user from an ``Authorization: Bearer`` header or the UI's ``_token`` cookie (what the
browser sends to the same-origin iframe) through the global auth manager, and reads ``dag_id`` from
the path: ids travel in the path, never the query. It answers 401 without credentials and 403
without read access to the DAG. Dependencies that read the parent app's ``request.app.state``
(``AuthManagerDep``, ``SessionDep`` on some versions) would fail in a sub-app; none is used.

What a user can write does not choose what is read: the batch name comes from the task instance's
XComs and is only ever shown or looked up, the connection comes from the task's definition in the
serialized DAG (``definition.py``), never from XCom. A page view cannot hold the API server: the
route is ``async``; the metadata reads and the live read run on the plugin's own small thread pool
(``live.LiveReader``), not on the pool Airflow's own sync routes share, and the live read is waited
for at most ``live.PAGE_READ_SECONDS`` and shared between page loads of one batch.

The API server has no CSRF protection and the iframe runs same-origin, so routes are GET only, have
no side effects, and every response carries a strict Content-Security-Policy (no script at all,
one nonce'd style block, not framable by other origins).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from airflow_provider_gemini_batch.links.gemini_batch import PAGE_PREFIX
from airflow_provider_gemini_batch.plugins.page import render_batch, render_none
from airflow_provider_gemini_batch.plugins.records import TaskRef

#: Where Airflow mounts the sub-app (a path of the API server, outside its reserved prefixes).
URL_PREFIX = PAGE_PREFIX
#: The page route under :data:`URL_PREFIX` (``links.gemini_batch.page_path`` builds its URLs);
#: ``run_id`` last, as ``:path``: run ids may hold ``/``.
PAGE_ROUTE = "/ti/{dag_id}/{task_id}/{map_index}/{run_id:path}"


def parse_map_index(value: str) -> int:
    """The map index from the path; the UI leaves ``{MAP_INDEX}`` unreplaced for unmapped tasks."""
    return int(value) if re.fullmatch(r"-?\d{1,9}", value) else -1


def security_headers(nonce: str) -> dict[str, str]:
    """Headers of every page: strict CSP (no script), no sniffing, no caching, no referrer."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'none'; script-src 'none'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }


def create_app() -> Any:
    """Build the sub-app (imports FastAPI and Airflow's API security only when called)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI
    from fastapi.responses import HTMLResponse

    from airflow_provider_gemini_batch.plugins import definition, live, records

    # No OpenAPI/docs routes: they would be public.
    app = FastAPI(title="Gemini Batch pages", docs_url=None, redoc_url=None, openapi_url=None)
    can_read_task_instances = Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))
    reader = live.LiveReader()

    def load(ref: TaskRef) -> records.BatchRecord | None:
        record = records.load(ref)
        if record is not None:
            record.conn_id = definition.defined_conn_id(ref.dag_id, ref.task_id)
        return record

    @app.get(PAGE_ROUTE, response_class=HTMLResponse, dependencies=[can_read_task_instances])
    async def task_instance_page(dag_id: str, task_id: str, map_index: str, run_id: str) -> HTMLResponse:
        """The batch of one task instance (a quiet note when it has none)."""
        ref = TaskRef(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=parse_map_index(map_index))
        nonce = secrets.token_urlsafe(16)
        record = await reader.run(load, ref)
        if record is None:
            text = render_none(ref, nonce)
        else:
            reading = await reader.read(record.conn_id, record.batch_name) if record.conn_id else None
            text = render_batch(ref, record, reading, nonce)
        return HTMLResponse(text, headers=security_headers(nonce))

    return app


class LazyApp:
    """An ASGI app that builds :func:`create_app` on its first request.

    The plugin is imported by every Airflow process that loads plugins (scheduler, workers ...);
    only the API server serves requests, so only it pays for FastAPI and the API security imports.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)
