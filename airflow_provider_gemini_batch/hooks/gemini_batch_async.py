"""The async hook used by the trigger: ``httpx.AsyncClient`` over the same pure core.

Nothing here blocks the event loop: the connection is read with common-compat's async helpers,
a Google token refresh (a blocking HTTPS call inside google-auth) runs in a thread, and retries
wait with ``asyncio.sleep`` (or are left to the caller: ``retry=False``, as the trigger does).
One ``AsyncClient`` is shared per (event loop, base URL, timeout) so a thousand
triggers in one triggerer share one connection pool.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from airflow.providers.common.compat.sdk import AirflowNotFoundException

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.errors import transport_error
from airflow_provider_gemini_batch._core.list_page import ListPage, ListPageError, scan_list_page
from airflow_provider_gemini_batch._core.models import Batch, FileInfo
from airflow_provider_gemini_batch._core.retry import RetryPolicy
from airflow_provider_gemini_batch._core.settings import ConnectionSettings
from airflow_provider_gemini_batch._core.wire_guard import (
    MAX_ASYNC_ANSWER_BYTES,
    MAX_ERROR_BODY_BYTES,
    BoundedBody,
    redirect_error,
)
from airflow_provider_gemini_batch.exceptions import (
    GeminiApiError,
    GeminiClientError,
    GeminiTransportError,
    call_phrase,
)
from airflow_provider_gemini_batch.hooks._auth import USER_AGENT
from airflow_provider_gemini_batch.hooks._base import GeminiHookBase

#: Connections kept per shared client (the API is one host; triggers mostly poll).
_POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


@dataclass
class _Shared:
    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    users: set[int] = field(default_factory=set)


_CLIENTS: dict[tuple[int, str, float], _Shared] = {}
_CLIENTS_LOCK = threading.Lock()


_CREATION_LOCKS: dict[tuple[int, str, float], asyncio.Lock] = {}


def _lookup(
    key: tuple[int, str, float], loop: asyncio.AbstractEventLoop, user: int
) -> httpx.AsyncClient | None:
    with _CLIENTS_LOCK:
        # Forget clients of loops that are gone (their id may be reused by a new loop).
        for stale in [k for k, v in _CLIENTS.items() if v.loop.is_closed()]:
            del _CLIENTS[stale]
            _CREATION_LOCKS.pop(stale, None)
        shared = _CLIENTS.get(key)
        if shared is None or shared.loop is not loop or shared.client.is_closed:
            return None
        shared.users.add(user)
        return shared.client


def _new_client(settings: ConnectionSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout), limits=_POOL_LIMITS, headers={"User-Agent": USER_AGENT}
    )


async def _acquire_client(settings: ConnectionSettings, user: int) -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    key = (id(loop), settings.base_url, settings.timeout)
    client = _lookup(key, loop, user)
    if client is not None:
        return client
    with _CLIENTS_LOCK:
        lock = _CREATION_LOCKS.setdefault(key, asyncio.Lock())
    async with lock:  # one creation per key even when a thousand triggers start at once
        client = _lookup(key, loop, user)
        if client is not None:
            return client
        # Building a client loads the CA bundle into an SSL context (~50 ms of blocking work):
        # do it in a thread so the loop keeps serving the other triggers.
        client = await asyncio.to_thread(_new_client, settings)
        with _CLIENTS_LOCK:
            _CLIENTS[key] = _Shared(loop=loop, client=client, users={user})
        return client


def shared_client_count() -> int:
    """How many shared clients are open in this process (for tests and diagnostics)."""
    with _CLIENTS_LOCK:
        return sum(1 for v in _CLIENTS.values() if not v.client.is_closed)


async def _release(user: int) -> None:
    loop = asyncio.get_running_loop()
    to_close: list[httpx.AsyncClient] = []
    with _CLIENTS_LOCK:
        for key, shared in list(_CLIENTS.items()):
            if shared.loop is loop and user in shared.users:
                shared.users.discard(user)
                if not shared.users:
                    to_close.append(shared.client)
                    del _CLIENTS[key]
    for client in to_close:
        await client.aclose()


async def aclose_shared_clients() -> None:
    """Close every shared client of the running event loop (e.g. at triggerer shutdown)."""
    loop = asyncio.get_running_loop()
    with _CLIENTS_LOCK:
        mine = [k for k, v in _CLIENTS.items() if v.loop is loop]
        clients = [_CLIENTS.pop(k).client for k in mine]
    for client in clients:
        await client.aclose()


class GeminiBatchAsyncHook(GeminiHookBase):
    """Async access to batches for triggers.

    :param gemini_conn_id: the Airflow connection id (default ``gemini_batch_default``).
    :param retry: retry failed calls with the connection's policy (``_core.retry``; default True).
        With False every call is one attempt and its failure is raised at once: the caller owns
        retrying. The trigger does so, so that it never holds its poll slot while waiting out a
        backoff and never sleeps past its deadline (one retry layer per call path). Per-request
        timeouts (the connection's ``timeout``) apply either way.

    Connection, credentials, request shape and error mapping come from
    :class:`~airflow_provider_gemini_batch.hooks._base.GeminiHookBase`; this class adds the
    ``httpx`` transport. Call :meth:`aclose` when done (a trigger's ``cleanup()``): it releases
    this hook's use of the shared client, which is closed once no hook on the loop uses it any more.
    """

    hook_name = "Google Gemini Batch (async)"
    #: Largest answer accepted, in decoded bytes: the triggerer's memory is shared by every
    #: trigger, and polls read with a field mask (``_core.wire_guard``).
    max_answer_bytes: int = MAX_ASYNC_ANSWER_BYTES

    def __init__(
        self, gemini_conn_id: str = GeminiHookBase.default_conn_name, *, retry: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(gemini_conn_id, **kwargs)
        self.retry = retry
        self._settings: ConnectionSettings | None = None

    def _secrets(self) -> tuple[str, ...]:
        return (self._settings.secrets() if self._settings is not None else ()) + self._token_secrets()

    async def get_settings(self) -> ConnectionSettings:
        """Read and parse the connection without blocking the loop (cached per hook).

        :raises GeminiConnectionConfigError: connection missing, wrong type, no key/credentials.
        """
        if self._settings is None:
            from airflow.providers.common.compat.connection import get_async_connection

            try:
                conn = await get_async_connection(self.gemini_conn_id, hook=self)
            except AirflowNotFoundException:
                raise self._missing_connection() from None
            try:
                from airflow.providers.common.compat.connection import get_async_extra_dejson
            except ImportError:  # older common-compat: parse the raw text, no sync masking call
                import json

                extra: dict[str, Any] = json.loads(conn.extra) if conn.extra else {}
            else:
                extra = await get_async_extra_dejson(conn)
            self._settings = self._parse_connection(conn, extra)
        return self._settings

    async def _auth_headers(self, settings: ConnectionSettings) -> dict[str, str]:
        headers = self._api_key_headers(settings)
        if headers is not None:
            return headers
        # google-auth refreshes with a blocking HTTPS call: keep it off the event loop.
        return await asyncio.to_thread(self._google_credentials_for(settings).headers)

    async def _send_once(self, req: routes.ApiRequest) -> httpx.Response:
        """One attempt at ``req``: the 200 answer, its body read, or a typed error.

        The whole attempt (connect, send, headers and body) must end within the connection's
        ``timeout``: httpx's own timeouts bound each read, which a server sending one byte a
        second never trips, and the triggerer's poll slots must not be held by one sick upstream.
        Redirects are never followed (``_core.wire_guard.redirect_error``); the body is read while
        it streams and refused past :attr:`max_answer_bytes` decoded bytes (``gzip``/``deflate``
        decoded with a cap, other encodings refused: ``_core.wire_guard.BoundedBody``).
        """
        settings = await self.get_settings()
        client = await _acquire_client(settings, id(self))
        out = self._outgoing(req, settings, await self._auth_headers(settings) if req.authenticated else {})
        secrets = self._secrets()
        named = {"connection": self.gemini_conn_id, "base_url": settings.base_url}
        headers = {"Accept-Encoding": "identity", **out.headers}
        request = client.build_request(
            out.method, out.url, params=out.params, headers=headers, content=out.content
        )
        try:
            status, answer_headers, reason, content = await asyncio.wait_for(
                self._exchange(client, request, req, settings), settings.timeout
            )
        except asyncio.TimeoutError:
            raise GeminiTransportError(
                f"{call_phrase(req.what, req.resource, 'timed out')}: no complete answer within the "
                f"{settings.timeout:g} s timeout of connection {self.gemini_conn_id!r}. Check the server "
                "or proxy; raise the connection's 'timeout' extra only for a slow but healthy link.",
                sent=True,
                timed_out=True,
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise transport_error(
                exc,
                resource=req.resource,
                method=req.what,
                sent=False,
                timed_out=isinstance(exc, httpx.ConnectTimeout),
                secrets=secrets,
                **named,
            ) from None
        except httpx.TimeoutException as exc:
            raise transport_error(
                exc,
                resource=req.resource,
                method=req.what,
                sent=True,
                timed_out=True,
                secrets=secrets,
                **named,
            ) from None
        except httpx.TransportError as exc:
            raise transport_error(
                exc,
                resource=req.resource,
                method=req.what,
                sent=True,
                timed_out=False,
                secrets=secrets,
                **named,
            ) from None
        if status != 200:
            raise self._status_error(req, status, content, answer_headers, reason, secrets)
        # Encoding and framing headers described the wire bytes, not ``content`` (already decoded).
        kept = [
            (k, v)
            for k, v in answer_headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(status, headers=kept, content=content, request=request)

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        request: httpx.Request,
        req: routes.ApiRequest,
        settings: ConnectionSettings,
    ) -> tuple[int, httpx.Headers, str, bytes]:
        """Send ``request`` and read its answer (status, headers, reason phrase, decoded body)."""
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            status = response.status_code
            if 300 <= status < 400:
                raise redirect_error(
                    status,
                    response.headers.get("Location"),
                    settings.base_url,
                    resource=req.resource,
                    method=req.what,
                )
            limit = self.max_answer_bytes if status == 200 else MAX_ERROR_BODY_BYTES
            try:
                body = BoundedBody(
                    response.headers.get("Content-Encoding"),
                    limit,
                    http_status=status,
                    resource=req.resource,
                    method=req.what,
                )
                async for raw in response.aiter_raw():
                    body.feed(raw)
                content = body.body()
            except GeminiApiError:
                if status == 200:
                    raise
                content = b""  # an error answer too big or oddly encoded: its status still speaks
            return status, response.headers, response.reason_phrase, content
        finally:
            await response.aclose()

    async def _response(self, req: routes.ApiRequest) -> httpx.Response:
        """The 200 answer to ``req`` (retried with the connection's policy unless ``retry=False``)."""
        settings = await self.get_settings()
        if self.retry:
            retrying = RetryPolicy.from_settings(settings).async_retrying(
                idempotent=req.idempotent, what=req.what
            )
            response: httpx.Response = await retrying(self._send_once, req)
            return response
        return await self._send_once(req)

    async def _json(self, req: routes.ApiRequest) -> dict[str, Any]:
        response = await self._response(req)
        return self._json_object(req, response.status_code, response.content)

    async def get_batch(self, name: str, *, light: bool = False) -> Batch:
        """The current state of ``batches/…``.

        :param light: ask only for what a wait needs (``fields`` = :data:`routes.POLL_FIELDS`); if
            the service refuses the mask (400) it is logged once and full reads are used from then on.
        :raises GeminiNotFoundError: unknown or deleted batch, or one created with another key.
        """
        backend = self._backend_of(await self.get_settings())
        if light and not self._fields_refused:
            try:
                return self._batch_view(backend, await self._json(backend.get_batch(name, light=True)))
            except GeminiClientError as exc:
                if not self._light_read_refused(exc, name):
                    raise
        return self._batch_view(backend, await self._json(backend.get_batch(name)))

    async def list_batches_page(
        self, page_token: str | None = None, *, page_size: int = routes.LIST_PAGE_SIZE, light: bool = True
    ) -> tuple[list[Batch], str | None]:
        """One page of ``batches.list``: the batches on it and the next page's token (None: last).

        The service lists newest first (the emulator does the same); the key is ``operations``
        (REST reference ``batches.list``, https://ai.google.dev/api/batch-api). No page size limit
        is documented; 100 is what this provider asks by default.

        :param light: ask each operation only for what a wait needs (:data:`routes.LIST_FIELDS`:
            no inline response bodies); if the service refuses the mask (400) it is logged once
            and full pages are read from then on.
        :raises GeminiBatchError: the page could not be read (one attempt with ``retry=False``).
        """
        backend = self._backend_of(await self.get_settings())
        data: dict[str, Any] | None = None
        if light and not self._fields_refused:
            try:
                data = await self._json(backend.list_batches(page_token, page_size, light=True))
            except GeminiClientError as exc:
                if not self._light_read_refused(exc, "the batch list"):
                    raise
        if data is None:
            data = await self._json(backend.list_batches(page_token, page_size))
        items = data.get(backend.list_key) or []
        batches = [self._batch_view(backend, item) for item in items if isinstance(item, dict)]
        return batches, (data.get("nextPageToken") or None)

    async def list_operations_page(
        self, page_token: str | None = None, *, page_size: int = routes.LIST_PAGE_SIZE, light: bool = True
    ) -> ListPage:
        """One page of ``batches.list`` scanned lightly (``_core/list_page.py``): each operation's
        name and raw JSON, and the next page's token. Nothing is parsed beyond the names, so a
        caller interested in a few operations of a page pays for those only (the shared poller of
        the triggerer, ``triggers/_poller.py``).

        :param light: as for :meth:`list_batches_page` (:data:`routes.LIST_FIELDS`, full pages
            once the service has refused the mask).
        :raises GeminiBatchError: the page could not be read (one attempt with ``retry=False``),
            or its body is not a list page (:class:`GeminiApiError`).
        """
        backend = self._backend_of(await self.get_settings())
        req: routes.ApiRequest | None = None
        response: httpx.Response | None = None
        if light and not self._fields_refused:
            req = backend.list_batches(page_token, page_size, light=True)
            try:
                response = await self._response(req)
            except GeminiClientError as exc:
                if not self._light_read_refused(exc, "the batch list"):
                    raise
        if response is None:
            req = backend.list_batches(page_token, page_size)
            response = await self._response(req)
        try:
            return scan_list_page(response.content)
        except ListPageError as exc:
            raise GeminiApiError(
                http_status=response.status_code,
                status=None,
                message=str(exc),
                resource=req.resource if req is not None else "batches",
                method=req.what if req is not None else "Listing batches",
            ) from None

    async def cancel_batch(self, name: str) -> None:
        """Ask the service to cancel ``batches/…``."""
        backend = self._backend_of(await self.get_settings())
        await self._json(backend.cancel_batch(name))

    async def get_file(self, name: str) -> FileInfo:
        """Metadata of ``files/…``."""
        settings = await self.get_settings()
        return self._file_view(await self._json(routes.get_file(settings.api_version, name)))

    async def aclose(self) -> None:
        """Release this hook's use of the shared client (closed when its last user releases it)."""
        await _release(id(self))
