"""The sync hook's transport: one request on a ``requests`` session, bounded and never redirected.

What one attempt does (:func:`send_once`): the request as ``hooks/_base.Outgoing`` builds it (auth
headers only on authenticated routes, ``Accept-Encoding: identity``), sent without following a
redirect (``_core.wire_guard.redirect_error``: ``requests`` would carry the key's header to the
redirect's host), its answer read within the connection's ``timeout`` and under a size cap
(``hooks/_sync_reads.read_answer``), a status outside ``accept`` mapped to a typed error, and a
failure to connect told apart from one after the request may have been seen (which decides whether
a create may be retried). Also here: the two call shapes built on it that are about the wire
rather than a resource: :func:`delete_once_seen` (a delete whose earlier answer was lost) and
:func:`walk_pages` (``nextPageToken`` pagination, AIP-158, bounded against a server that never
ends a list). See ``docs/security.md`` ("Transport").
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import requests
import urllib3.exceptions

from airflow_provider_gemini_batch._core import retry as retry_mod
from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.errors import transport_error
from airflow_provider_gemini_batch._core.wire_guard import MAX_ERROR_BODY_BYTES, redirect_error
from airflow_provider_gemini_batch.exceptions import GeminiApiError, GeminiBatchError, GeminiNotFoundError
from airflow_provider_gemini_batch.hooks._auth import USER_AGENT
from airflow_provider_gemini_batch.hooks._sync_reads import read_answer

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook


def new_session() -> requests.Session:
    """A ``requests.Session`` for one hook (connection pooling; no automatic retries)."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def never_connected(exc: BaseException) -> bool:
    """True when the connection could not be opened, so the request cannot have been seen."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError)):
            return True
        if isinstance(item, urllib3.exceptions.ConnectTimeoutError):
            return True
        if isinstance(item, BaseException):
            todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return False


def send_once(
    hook: GeminiBatchHook,
    req: routes.ApiRequest,
    *,
    data: bytes | None = None,
    stream: bool = False,
    accept: Collection[int] = (200,),
) -> requests.Response:
    """:meth:`GeminiBatchHook._send_once`: one attempt; a response whose status is in ``accept``
    or a typed error (no retry here).

    Unless ``stream``, the body is read here under two bounds: the whole answer must arrive
    within the connection's ``timeout`` of the request's start (a socket timeout alone bounds
    each read, and a server sending one byte a second never trips it), and it may hold at most
    ``hook.max_answer_bytes`` decoded bytes (``_core.wire_guard.BoundedBody``). The returned
    response then has its ``content`` filled and its connection released.
    """
    settings = hook.settings
    started = retry_mod.monotonic()
    out = hook._outgoing(req, settings, hook._auth_headers() if req.authenticated else {}, data=data)
    headers = {"Accept-Encoding": "identity", **out.headers}
    try:
        response = hook.session.request(
            out.method,
            out.url,
            params=out.params,
            headers=headers,
            data=out.content,
            timeout=settings.timeout,
            stream=True,
            allow_redirects=False,
        )
    except requests.exceptions.RequestException as exc:
        # A connect timeout proves the server never saw the request; a read timeout does not.
        timed_out = isinstance(exc, requests.exceptions.Timeout)
        never_sent = isinstance(exc, requests.exceptions.ConnectTimeout) or never_connected(exc)
        raise transport_error(
            exc,
            resource=req.resource,
            method=req.what,
            sent=not never_sent,
            timed_out=timed_out,
            secrets=hook._secrets(),
            connection=hook.gemini_conn_id,
            base_url=settings.base_url,
        ) from None
    if data is not None:
        # The request's own bytes (an upload chunk) may take long on a slow link: the answer's
        # deadline counts from when its headers arrived.
        started = retry_mod.monotonic()
    if response.is_redirect or 300 <= response.status_code < 400:
        response.close()
        raise redirect_error(
            response.status_code,
            response.headers.get("Location"),
            settings.base_url,
            resource=req.resource,
            method=req.what,
        )
    if response.status_code not in accept:
        try:
            content = _read(hook, response, req, started, MAX_ERROR_BODY_BYTES)
            response._content_consumed = True  # type: ignore[attr-defined]  # read whole: reusable
        except GeminiBatchError:
            content = b""
        finally:
            response.close()
        raise hook._status_error(
            req, response.status_code, content, response.headers, response.reason, hook._secrets()
        )
    if not stream:
        try:
            response._content = _read(hook, response, req, started, hook.max_answer_bytes)
            # Read to its end: ``close`` then returns the connection to the pool (keep-alive)
            # instead of closing it, as it does for a body left unread (too big, too late).
            response._content_consumed = True  # type: ignore[attr-defined]
        finally:
            response.close()
    return response


def _read(
    hook: GeminiBatchHook, response: requests.Response, req: routes.ApiRequest, started: float, limit: int
) -> bytes:
    """``response``'s decoded body within ``timeout`` of ``started`` and ``limit`` bytes
    (``hooks/_sync_reads.read_answer``)."""
    return read_answer(
        response,
        req,
        started=started,
        timeout=hook.settings.timeout,
        limit=limit,
        conn_id=hook.gemini_conn_id,
        secrets=hook._secrets(),
    )


def delete_once_seen(hook: GeminiBatchHook, req: routes.ApiRequest) -> None:
    """Send a DELETE under the retry policy; a 404 after a retried attempt counts as success
    (the earlier attempt deleted the resource but its answer was lost).

    :raises GeminiNotFoundError: the first attempt found nothing to delete.
    """
    attempts = 0

    def once() -> requests.Response | None:
        nonlocal attempts
        attempts += 1
        try:
            return send_once(hook, req)
        except GeminiNotFoundError:
            if attempts > 1:
                return None
            raise

    response = hook.policy.retrying(idempotent=True, what=req.what)(once)
    if response is not None:
        response.close()


def walk_pages(
    hook: GeminiBatchHook, build: Callable[[str | None], routes.ApiRequest], key: str
) -> Iterator[Mapping[str, Any]]:
    """The items (under ``key``) of every page of a list, following ``nextPageToken``.

    Bounded in pages, not only in what the caller takes: a server that answers empty pages each
    naming a new token would otherwise keep a lookup (the create operator's reattach, the lineage
    lookup) asking forever. After ``hook.max_empty_pages`` pages in a row without an item, or
    ``hook.max_list_pages`` pages in all, or a token seen before, the walk ends with an error
    rather than a quiet stop: a lookup that stopped early could miss the batch it looks for and
    make the caller create (and pay for) a second one.

    :raises GeminiApiError: one of the bounds above was passed.
    """
    token: str | None = None
    seen: set[str] = set()
    pages = empty = 0
    while True:
        req = build(token)
        data = hook._json(req)
        pages += 1
        items = [item for item in (data.get(key) or []) if isinstance(item, Mapping)]
        empty = 0 if items else empty + 1
        yield from items
        token = data.get("nextPageToken") or None
        if not token:
            return
        problem = None
        remembered = str(token)[:200]
        if remembered in seen:
            problem = "named a page token it had named before"
        elif empty >= hook.max_empty_pages:
            problem = f"sent {empty} pages in a row with no item and yet another page token"
        elif pages >= hook.max_list_pages:
            problem = f"still named a next page after {pages} pages"
        if problem is not None:
            raise GeminiApiError(
                http_status=200,
                status=None,
                message=(
                    f"the list never ends: the server {problem}; stopped asking (a broken or "
                    "hostile server, or a proxy answering with something else than the API)"
                ),
                resource=key,
                method=req.what,
            )
        seen.add(remembered)
