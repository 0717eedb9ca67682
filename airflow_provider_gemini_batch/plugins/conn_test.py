"""Test a STORED ``gemini_batch`` connection by id, server-side: what Airflow's Test button cannot.

Why it exists (Airflow 3.3.2): the connection list's *Test* button posts the stored connection
with ``port: Number(connection.port)`` (``airflow/ui/dist/assets/index-*.js``), which is ``0``
for a connection saved with Port left empty; ``POST /api/v2/connections/test``
(``airflow/api_fastapi/core_api/routes/public/connections.py``, ``_same_endpoint``) then finds
the port "changed" and, as the UI posts the masked key, answers 400 "The host or port to test
differs from the stored connection" before any provider code runs. The form can only offer Port
(Airflow's form has no default value for standard fields, ``ui-field-behaviour`` knows only
hidden fields, labels and placeholders), so a connection saved from it without a port could not
be tested at all. This route tests the connection as stored, by id, with the provider's own
``test_connection`` (one ``files.list`` of one item).

Promises (as the rest of the plugin, ``app.py``):

* Airflow's own authentication and authorisation: the caller needs read AND edit access to that
  connection (``requires_access_connection`` GET and PUT; a browser without a login gets the
  login page). Airflow's ``[core] test_connection`` switch is honoured: unless it is ``Enabled``
  the route answers 403 with Airflow's words, as Airflow's own Test does.
* The test itself is a POST (it makes a request with the connection's key); the GET only shows a
  page with the button. The API server has no CSRF protection, so a POST whose
  ``Sec-Fetch-Site`` (or, without it, ``Origin``) shows another site is refused
  (:func:`cross_site`); API clients send neither.
* Only ``gemini_batch`` connections are tested (another type would send its password to a host
  of its own); the answer is the hook's message, which names the base URL without userinfo and
  never the key; every value on the page is escaped; strict CSP, no script.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_gemini_batch.plugins.markup import html

#: Routes under the plugin's prefix (``/gemini-batch``); the id is one path segment.
TEST_ROUTE = "/connections/{connection_id}/test"
#: The connection type this route tests.
CONN_TYPE = "gemini_batch"


def conn_test_path(connection_id: str) -> str:
    """The page's path under Airflow's root (``/gemini-batch/connections/<id>/test``)."""
    return f"/gemini-batch/connections/{quote(connection_id, safe='')}/test"


def cross_site(headers: Any) -> bool:
    """Whether a POST came from a page of another site, as the browser tells.

    ``Sec-Fetch-Site`` first (sent by current browsers, set by the browser alone): only
    ``same-origin`` (or ``none``, a user's own action) passes. Without it, ``Origin`` must name
    this server (``null``, sent for opaque or privacy-restricted origins, does not). A client that
    sends neither is no browser (an API client with a bearer token): nothing to forge.
    """
    site = (headers.get("sec-fetch-site") or "").lower()
    if site:
        return site not in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() != (headers.get("host") or "").lower()


def _document(title: str, body: Any, nonce: str) -> str:
    return str(
        html(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>{}</title>"
            '<style nonce="{}">body{{font:14px/1.5 system-ui,sans-serif;margin:16px;color:#1a202c}}'
            ".ok{{background:#c6f6d5;padding:6px 10px}}.bad{{background:#fed7d7;padding:6px 10px}}"
            "nav{{font-size:13px}}nav a{{color:#2b6cb0}}"
            "button{{font:inherit;padding:4px 14px}}</style></head><body>{}</body></html>",
            title,
            nonce,
            body,
        )
    )


def _nav(base: str) -> Any:
    """A link back to Airflow's connection list (the UI's ``/connections`` under its root)."""
    return html('<nav><a href="{}/connections">Airflow: Admin &gt; Connections</a></nav>', base)


def render_form(connection_id: str, nonce: str, *, action: str, base: str = "") -> str:
    """The page with the Test button (a same-origin form POST to ``action``).

    :param base: Airflow's root path, for the link back to its connection list.
    """
    body = html(
        "{}<h1>Test connection <code>{}</code></h1><p>Tests the connection as stored (the Gemini "
        "API is asked for one file with its key), also when it was saved without a port, which "
        "Airflow's own Test button cannot test.</p>"
        '<form method=post action="{}"><button type=submit>Test</button></form>',
        _nav(base),
        connection_id,
        action,
    )
    return _document(f"Test connection {connection_id}", body, nonce)


def render_result(
    connection_id: str, ok: bool, message: str, nonce: str, *, action: str = "", base: str = ""
) -> str:
    """The test's answer as a page (``message`` escaped), with the button to test again."""
    body = html(
        "{}<h1>Test connection <code>{}</code></h1><p class={}>{}: {}</p>"
        '<form method=post action="{}"><button type=submit>Test again</button></form>',
        _nav(base),
        connection_id,
        "ok" if ok else "bad",
        "Connection tested" if ok else "Test failed",
        message,
        action,
    )
    return _document(f"Test connection {connection_id}", body, nonce)


def content_security_policy(nonce: str) -> dict[str, str]:
    """``app.security_headers`` with forms allowed to post to this server only."""
    from airflow_provider_gemini_batch.plugins.app import security_headers

    headers = security_headers(nonce)
    headers["Content-Security-Policy"] = headers["Content-Security-Policy"].replace(
        "form-action 'none'", "form-action 'self'"
    )
    # With "no-referrer" a browser posts the form with "Origin: null"; same-origin keeps the
    # real origin on requests to this server (and still sends nothing elsewhere).
    headers["Referrer-Policy"] = "same-origin"
    return headers


def run_test(connection_id: str) -> tuple[int, bool, str]:
    """``(http_status, ok, message)`` of testing the stored connection; never raises.

    404 for an unknown id, 400 for another connection type; else 200 with the hook's answer.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    try:
        stored = Connection.get_connection_from_secrets(connection_id)
    except AirflowNotFoundException:
        return 404, False, f"There is no connection {connection_id!r}."
    if stored.conn_type != CONN_TYPE:
        return 400, False, f"Connection {connection_id!r} is of type {stored.conn_type!r}, not {CONN_TYPE!r}."
    ok, message = GeminiBatchHook(gemini_conn_id=connection_id).test_connection()
    return 200, ok, message


def register(app: Any) -> None:
    """Add the GET (page with the button) and POST (the test) routes to the plugin's ``app``."""
    from airflow.api_fastapi.core_api.security import requires_access_connection
    from airflow.configuration import conf
    from fastapi import Depends, HTTPException, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    from airflow_provider_gemini_batch.plugins.app import airflow_root, wants_html

    access = [
        Depends(requires_access_connection("GET")),
        Depends(requires_access_connection("PUT")),
    ]

    def ensure_enabled() -> None:
        if conf.get("core", "test_connection", fallback="Disabled").lower().strip() != "enabled":
            raise HTTPException(
                403,
                "Testing connections is disabled in Airflow configuration. "
                "Contact your deployment admin to enable it.",
            )

    async def show_form(request: Request, connection_id: str) -> HTMLResponse:
        ensure_enabled()
        nonce = secrets.token_urlsafe(16)
        base = airflow_root(request.scope)
        page = render_form(connection_id, nonce, action=base + conn_test_path(connection_id), base=base)
        return HTMLResponse(page, headers=content_security_policy(nonce))

    async def run_the_test(request: Request, connection_id: str) -> Response:
        ensure_enabled()
        if cross_site(request.headers):
            raise HTTPException(403, "Refused: the test was requested from another site.")
        status, ok, message = await run_in_threadpool(run_test, connection_id)
        if not wants_html(request.headers.get("accept")):
            return JSONResponse({"status": ok, "message": message}, status_code=status)
        nonce = secrets.token_urlsafe(16)
        base = airflow_root(request.scope)
        action = base + conn_test_path(connection_id)
        page = render_result(connection_id, ok, message, nonce, action=action, base=base)
        return HTMLResponse(page, status_code=status, headers=content_security_policy(nonce))

    # FastAPI resolves the string annotations in this module's globals, where the lazily
    # imported ``Request`` is not (see app.py).
    show_form.__annotations__["request"] = Request
    run_the_test.__annotations__["request"] = Request
    app.get(TEST_ROUTE, response_class=HTMLResponse, dependencies=access)(show_form)
    app.post(TEST_ROUTE, dependencies=access)(run_the_test)
