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

A browser without a valid login (no ``_token`` cookie, or an expired one: Airflow's 401) gets an
HTML page with a link to Airflow's login (``/api/v2/auth/login?next=<this page>``, which checks
that ``next`` stays on this server and sends the user to the auth manager's login page); any
other client keeps the JSON 401. Links back into Airflow are built under the API server's root
path (``[api] base_url``'s path, which Airflow passes down to mounted apps as ``root_path``).

The API server has no CSRF protection and the iframe runs same-origin, so the page routes are GET
only and have no side effects, and every response carries a strict Content-Security-Policy (no
script at all, one nonce'd style block, not framable by other origins). Two more modules add
routes: ``docs_page`` (the provider's reference page, GET) and ``conn_test`` (a stored connection's
test: its one POST refuses requests from other sites).
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlencode

from airflow_provider_gemini_batch.links.gemini_batch import PAGE_PREFIX, page_path
from airflow_provider_gemini_batch.plugins.page import render_batch, render_login, render_none
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


#: Airflow's public route that sends a browser to the auth manager's login page (``?next=``).
LOGIN_ROUTE = "/api/v2/auth/login"


def airflow_root(scope: Any) -> str:
    """Airflow's root path from the sub-app's ASGI ``root_path`` (``<airflow root>/gemini-batch``)."""
    root = str(scope.get("root_path") or "")
    return root[: -len(URL_PREFIX)] if root.endswith(URL_PREFIX) else ""


def wants_html(accept: str | None) -> bool:
    """Whether a request's ``Accept`` header asks for HTML (a browser's navigation or iframe)."""
    return "text/html" in (accept or "").lower()


def login_url(base: str, path_params: Any) -> str:
    """Airflow's login route with ``next`` = this page (rebuilt from the route's parsed ids)."""
    try:
        here = base + page_path(
            str(path_params["dag_id"]),
            str(path_params["run_id"]),
            str(path_params["task_id"]),
            parse_map_index(str(path_params["map_index"])),
        )
    except KeyError:
        return base + LOGIN_ROUTE
    return f"{base}{LOGIN_ROUTE}?{urlencode({'next': here})}"


def create_app() -> Any:
    """Build the sub-app (imports FastAPI and Airflow's API security only when called)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI, Request
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import HTMLResponse, Response
    from starlette.exceptions import HTTPException

    from airflow_provider_gemini_batch.plugins import console, definition, live, records

    # No OpenAPI/docs routes: they would be public.
    app = FastAPI(title="Gemini Batch pages", docs_url=None, redoc_url=None, openapi_url=None)
    can_read_task_instances = Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))
    reader = live.LiveReader()
    # The provider's reference page and its stored-connection test (their own modules and auth).
    from airflow_provider_gemini_batch.plugins import conn_test, docs_page

    docs_page.register(app)
    conn_test.register(app)

    @app.exception_handler(HTTPException)
    async def login_page_for_browsers(request: Request, exc: HTTPException) -> Response:
        """A browser that is not logged in gets the way to log in; other clients the JSON 401."""
        if exc.status_code != 401 or not wants_html(request.headers.get("accept")):
            return await http_exception_handler(request, exc)
        nonce = secrets.token_urlsafe(16)
        base = airflow_root(request.scope)
        back = console.login_next(request, base, URL_PREFIX)
        target = f"{base}{LOGIN_ROUTE}?{urlencode({'next': back})}" if back else None
        text = render_login(target or login_url(base, request.path_params), nonce)
        return HTMLResponse(text, status_code=401, headers=security_headers(nonce))

    def load(ref: TaskRef) -> records.BatchRecord | None:
        record = records.load(ref)
        if record is not None:
            record.conn_id = definition.defined_conn_id(ref.dag_id, ref.task_id)
        return record

    async def task_instance_page(
        request: Request, dag_id: str, task_id: str, map_index: str, run_id: str
    ) -> HTMLResponse:
        """The batch of one task instance (a quiet note when it has none)."""
        ref = TaskRef(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=parse_map_index(map_index))
        nonce = secrets.token_urlsafe(16)
        base = airflow_root(request.scope)
        record = await reader.run(load, ref)
        if record is None:
            text = render_none(ref, nonce, base=base)
        else:
            reading = await reader.read(record.conn_id, record.batch_name) if record.conn_id else None
            text = render_batch(ref, record, reading, nonce, base=base)
        return HTMLResponse(text, headers=security_headers(nonce))

    # Annotations are strings here (``from __future__ import annotations``) and FastAPI resolves
    # them in the module's globals, where ``Request`` (imported lazily above) is not.
    task_instance_page.__annotations__["request"] = Request
    route = app.get(PAGE_ROUTE, response_class=HTMLResponse, dependencies=[can_read_task_instances])
    route(task_instance_page)
    # The console of every batch (its own modules; the same readers' DB threads and headers).
    console.add_route(app, reader, security_headers, airflow_root)
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
