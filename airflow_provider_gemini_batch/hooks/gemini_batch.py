"""Hooks for the Gemini Batch and Files REST API.

:class:`GeminiBatchHook` (sync, ``requests`` + google-auth) is used by operators on workers;
:class:`GeminiBatchAsyncHook` (``httpx.AsyncClient``) by the trigger. Both are thin transports
around the pure core: requests are built by ``_core.routes``, errors mapped by ``_core.errors``,
retries decided by ``_core.retry``. Only the exceptions of ``exceptions.py`` escape.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

import requests
import urllib3.exceptions
from airflow.providers.common.compat.sdk import AirflowNotFoundException

from airflow_provider_gemini_batch._core import retry as retry_mod
from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.digests import sha256_hash_matches
from airflow_provider_gemini_batch._core.errors import (
    redact,
    transport_error,
)
from airflow_provider_gemini_batch._core.input_check import InputValidator, file_lines
from airflow_provider_gemini_batch._core.jsonl import (
    echoed_fields_warning,
    iter_inline_results,
    parse_result_line,
    split_lines,
)
from airflow_provider_gemini_batch._core.landing import RawResult, raw_result_from_scan, scan_result_blocks
from airflow_provider_gemini_batch._core.models import Batch, BatchResult, FileInfo
from airflow_provider_gemini_batch._core.result_lines import DEFAULT_MAX_LINE_BYTES
from airflow_provider_gemini_batch._core.retry import RetryBudget, RetryPolicy
from airflow_provider_gemini_batch._core.settings import ConnectionSettings
from airflow_provider_gemini_batch._core.urls import public_url, scrub_userinfo
from airflow_provider_gemini_batch._core.waiting import (
    DEFAULT_FILE_ACTIVE_TIMEOUT,
    FILE_ACTIVE_INTERVAL,
    FileReadiness,
    describe_file_error,
    file_readiness,
)
from airflow_provider_gemini_batch._core.wire_guard import (
    MAX_ANSWER_BYTES,
    MAX_ERROR_BODY_BYTES,
    check_session_url,
    redirect_error,
)
from airflow_provider_gemini_batch.backends import Backend
from airflow_provider_gemini_batch.exceptions import (
    GeminiApiError,
    GeminiBatchError,
    GeminiClientError,
    GeminiConnectionConfigError,
    GeminiInputFileError,
    GeminiInvalidInputError,
    GeminiNotFoundError,
    GeminiTransportError,
)
from airflow_provider_gemini_batch.hooks._auth import (
    USER_AGENT,
    register_secrets,
)
from airflow_provider_gemini_batch.hooks._base import GeminiHookBase
from airflow_provider_gemini_batch.hooks._chunk_feed import ChunkFeed
from airflow_provider_gemini_batch.hooks._model_check import check_model_can_batch
from airflow_provider_gemini_batch.hooks._sync_reads import (
    STREAM_CHUNK_BYTES as STREAM_CHUNK_BYTES,  # re-exported: it lived here before
)
from airflow_provider_gemini_batch.hooks._sync_reads import iter_body, read_answer
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook, aclose_shared_clients
from airflow_provider_gemini_batch.storage import atomic_destination, resolve_path

__all__ = ["GeminiBatchAsyncHook", "GeminiBatchHook", "aclose_shared_clients"]

#: MIME types treated as batch input JSONL (validated line by line before upload).
JSONL_MIME_TYPES = frozenset({"application/jsonl", "jsonl", "application/x-ndjson", "application/json-lines"})


def _is_ui_test_id(conn_id: str) -> bool:
    """Whether ``conn_id`` looks like the id Airflow's UI tests a connection form under.

    Airflow (``api_fastapi/core_api/routes/public/connections.py``, ``test_connection``; checked
    on 3.3.2) names the form ``get_random_string()`` (8 ASCII letters and digits) and exports it
    as ``AIRFLOW_CONN_<ID upper-cased>`` for the duration of the test. The id mixes upper- and
    lower-case letters (drawn from all 62 letters and digits, one of 8 characters misses either
    case with odds of about 1 in 40), which ids people write almost never do: ``gemini01`` or
    ``GEMINI01`` defined by an environment variable keep their name in messages. A generated id
    without both cases is then named as it is, which is only less tidy.
    """
    return (
        len(conn_id) == 8
        and conn_id.isascii()
        and conn_id.isalnum()
        and any(c.isupper() for c in conn_id)
        and any(c.islower() for c in conn_id)
        and f"AIRFLOW_CONN_{conn_id.upper()}" in os.environ
    )


def _never_connected(exc: BaseException) -> bool:
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


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


@dataclasses.dataclass
class _BodyPosition:
    """How far a resumable body stream got: ``offset`` bytes yielded of ``total`` (if announced)."""

    offset: int = 0
    total: int | None = None

    def resume_point(self, response: requests.Response, req: routes.ApiRequest) -> int:
        """Bytes to skip at the start of ``response``'s body to continue at :attr:`offset`.

        A 206 starts where its ``Content-Range`` says (RFC 9110 section 14.4); a 200 is the
        whole body again. Also records the body's total size when the answer announces it.
        """
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) > self.offset:
                raise GeminiApiError(
                    http_status=206,
                    status=None,
                    message=(
                        f"a resumed download answered Content-Range "
                        f"{response.headers.get('Content-Range')!r} for bytes from {self.offset}"
                    ),
                    resource=req.resource,
                    method=req.what,
                )
            if match.group(3).isdigit():
                self.total = int(match.group(3))
            return self.offset - int(match.group(1))
        length = response.headers.get("Content-Length", "")
        if length.isdigit():
            self.total = int(length)
        return self.offset


class GeminiBatchHook(GeminiHookBase):
    """Talk to the Gemini Batch and Files API through the ``gemini_batch`` connection.

    :param gemini_conn_id: the Airflow connection id (default ``gemini_batch_default``).
    :param upload_chunk_size: bytes per upload chunk; default from the connection extra
        ``upload_chunk_size`` or 8 MiB. Smaller chunks are for tests and slow links.

    The connection is read on first use, not in ``__init__``. Every call has the connection's
    timeout and follows the retry policy of ``_core.retry``. Connection, credentials, request
    shape and error mapping come from :class:`~airflow_provider_gemini_batch.hooks._base.GeminiHookBase`;
    this class adds the ``requests`` transport.
    """

    #: Items asked for per page by ``list_files``/``list_batches`` (the Files API maximum is 100).
    list_page_size: int = routes.LIST_PAGE_SIZE
    #: Largest control-plane answer accepted, in decoded bytes (``_core.wire_guard``).
    max_answer_bytes: int = MAX_ANSWER_BYTES
    #: Pages in a row without an item after which a list walk is refused (see :meth:`_pages`).
    max_empty_pages: int = 20
    #: Pages one list walk reads at most (100 items a page: a million files or batches).
    max_list_pages: int = 10_000

    def __init__(
        self,
        gemini_conn_id: str = GeminiHookBase.default_conn_name,
        *,
        upload_chunk_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(gemini_conn_id, **kwargs)
        self._upload_chunk_size = upload_chunk_size

    # -- plumbing --------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The parsed connection (read once per hook instance).

        :raises GeminiConnectionConfigError: connection missing, wrong type, no key/credentials.
        """
        try:
            conn = self.get_connection(self.gemini_conn_id)
        except AirflowNotFoundException:
            raise self._missing_connection() from None
        settings = self._parse_connection(conn)
        register_secrets(settings)
        return settings

    @property
    def backend(self) -> Backend:
        """What differs per service (``backends/``): paths, bodies, state spellings, auth headers."""
        return self._backend_of(self.settings)

    @cached_property
    def policy(self) -> RetryPolicy:
        return RetryPolicy.from_settings(self.settings)

    @property
    def upload_chunk_size(self) -> int:
        return self._upload_chunk_size or self.settings.upload_chunk_size

    @cached_property
    def session(self) -> requests.Session:
        """The ``requests.Session`` all calls share (connection pooling; no automatic retries)."""
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        return session

    def get_conn(self) -> requests.Session:
        return self.session

    def _auth_headers(self) -> dict[str, str]:
        settings = self.settings
        return self._api_key_headers(settings) or self._google_credentials_for(settings).headers()

    def _secrets(self) -> tuple[str, ...]:
        cached = self.__dict__.get("settings")
        return (cached.secrets() if cached is not None else ()) + self._token_secrets()

    def _send_once(
        self,
        req: routes.ApiRequest,
        *,
        data: bytes | None = None,
        stream: bool = False,
        accept: Collection[int] = (200,),
    ) -> requests.Response:
        """Send one request; return a response whose status is in ``accept`` (default 200) or
        raise a typed error (no retry here).

        Redirects are never followed (``_core.wire_guard.redirect_error``).
        Unless ``stream``, the body is read here under two bounds: the whole answer must arrive
        within the connection's ``timeout`` of the request's start (a socket timeout alone bounds
        each read, and a server sending one byte a second never trips it), and it may hold at most
        :attr:`max_answer_bytes` decoded bytes (``_core.wire_guard.BoundedBody``).
        The returned response then has its ``content`` filled and its connection released.
        """
        settings = self.settings
        started = retry_mod.monotonic()
        out = self._outgoing(req, settings, self._auth_headers() if req.authenticated else {}, data=data)
        headers = {"Accept-Encoding": "identity", **out.headers}
        try:
            response = self.session.request(
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
            never_sent = isinstance(exc, requests.exceptions.ConnectTimeout) or _never_connected(exc)
            raise transport_error(
                exc,
                resource=req.resource,
                method=req.what,
                sent=not never_sent,
                timed_out=timed_out,
                secrets=self._secrets(),
                connection=self.gemini_conn_id,
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
                content = self._read_answer(response, req, started, MAX_ERROR_BODY_BYTES)
                response._content_consumed = True  # type: ignore[attr-defined]  # read whole: reusable
            except GeminiBatchError:
                content = b""
            finally:
                response.close()
            raise self._status_error(
                req, response.status_code, content, response.headers, response.reason, self._secrets()
            )
        if not stream:
            try:
                response._content = self._read_answer(response, req, started, self.max_answer_bytes)
                # Read to its end: ``close`` then returns the connection to the pool (keep-alive)
                # instead of closing it, as it does for a body left unread (too big, too late).
                response._content_consumed = True  # type: ignore[attr-defined]
            finally:
                response.close()
        return response

    def _read_answer(
        self, response: requests.Response, req: routes.ApiRequest, started: float, limit: int
    ) -> bytes:
        """``response``'s decoded body within ``timeout`` of ``started`` and ``limit`` bytes
        (``hooks/_sync_reads.read_answer``)."""
        return read_answer(
            response,
            req,
            started=started,
            timeout=self.settings.timeout,
            limit=limit,
            conn_id=self.gemini_conn_id,
            secrets=self._secrets(),
        )

    def _request(self, req: routes.ApiRequest, *, stream: bool = False) -> requests.Response:
        """Send with the retry policy (create is retried only where the server provably never saw it)."""
        retrying = self.policy.retrying(idempotent=req.idempotent, what=req.what)
        return retrying(self._send_once, req, stream=stream)

    def _json(self, req: routes.ApiRequest) -> dict[str, Any]:
        response = self._request(req)
        return self._json_object(req, response.status_code, response.content)

    # -- batches ---------------------------------------------------------------------------------

    def check_model_can_batch(self, model: str, *, embeddings: bool = False) -> None:
        """Raise before anything is uploaded if ``model`` cannot run this kind of batch
        (``models.get``'s ``supportedGenerationMethods``; once per process and model).

        :raises GeminiInvalidInputError: unknown model, or one without batch support; the message
            lists batch-capable models.
        """
        check_model_can_batch(self, model, embeddings=embeddings)

    def create_batch(
        self,
        model: str,
        *,
        requests: Sequence[Mapping[str, Any]] | None = None,
        input_file: str | None = None,
        display_name: str | None = None,
        priority: int | None = None,
        webhook_config: Mapping[str, Any] | None = None,
    ) -> Batch:
        """Create a generateContent batch (``models/{model}:batchGenerateContent``).

        :param model: ``gemini-2.5-flash``, ``models/…`` or ``tunedModels/…``.
        :param requests: inline requests (``{"key", "request"}`` dicts or bare GenerateContentRequest
            dicts); the whole create request must stay under 20 MB.
        :param input_file: an uploaded JSONL file, ``files/…``. Exactly one of requests/input_file.
        :param display_name: shown in the console and in ``list_batches``.
        :param priority: higher runs first (default 0 on the service).
        :param webhook_config: ``{"uris": [...], "user_metadata": {...}}``, sent as ``webhookConfig``
            (``routes.webhook_config_body``).
        :raises GeminiInvalidInputError: before sending anything, for invalid arguments.
        :raises GeminiApiError: the service refused it. A :class:`GeminiTransportError` or 5xx may hide
            a batch that was created anyway: creation is never retried then (it is not idempotent);
            look it up with :meth:`list_batches` instead of creating again.
        """
        backend = self.backend
        req = backend.create_batch(
            model,
            requests=requests,
            input_file=input_file,
            display_name=display_name,
            priority=priority,
            webhook_config=webhook_config,
        )
        return self._batch_view(backend, self._json(req))

    def create_embeddings_batch(
        self,
        model: str,
        *,
        requests: Sequence[Mapping[str, Any]] | None = None,
        input_file: str | None = None,
        display_name: str | None = None,
        priority: int | None = None,
        webhook_config: Mapping[str, Any] | None = None,
    ) -> Batch:
        """Create an embeddings batch (``models/{model}:asyncBatchEmbedContent``).

        ``requests`` items are ``{"key", "request": EmbedContentRequest}`` or bare
        EmbedContentRequest dicts; ``priority`` and ``webhook_config`` as :meth:`create_batch`
        (``EmbedContentBatch`` has the same envelope fields, spec §6). Raises as :meth:`create_batch`.
        """
        backend = self.backend
        req = backend.create_batch(
            model,
            requests=requests,
            input_file=input_file,
            display_name=display_name,
            embeddings=True,
            priority=priority,
            webhook_config=webhook_config,
        )
        return self._batch_view(backend, self._json(req))

    def update_batch_priority(self, name: str, priority: int, *, embeddings: bool = False) -> Batch:
        """Change the priority of a batch (``PATCH batches/{id}:updateGenerateContentBatch`` or
        ``:updateEmbedContentBatch`` with ``updateMask=priority``, spec §7.5).

        The service answers the bare batch resource, not an Operation; it is wrapped here so the
        result is the same :class:`Batch` view as :meth:`get_batch` returns.

        :param embeddings: the batch is an embeddings batch (the method differs by kind).
        :raises GeminiInvalidInputError: bad name or priority (before sending).
        :raises GeminiApiError: the service refused it (e.g. 404 unknown batch).
        """
        backend = self.backend
        req = backend.update_batch_priority(name, priority, embeddings=embeddings)
        return self._batch_view(backend, self._json(req), bare=req.resource or name)

    def get_batch(self, name: str, *, light: bool = False) -> Batch:
        """The current state of ``batches/…``.

        :param light: ask only for what a wait needs (``fields`` = :data:`routes.POLL_FIELDS`: no
            inline response bodies). If the service refuses the mask (400), this hook logs it once
            and reads the full body from then on.
        :raises GeminiNotFoundError: unknown or deleted batch, or one created with another key.
        """
        backend = self.backend
        if light and not self._fields_refused:
            try:
                return self._batch_view(backend, self._json(backend.get_batch(name, light=True)))
            except GeminiClientError as exc:
                if not self._light_read_refused(exc, name):
                    raise
        return self._batch_view(backend, self._json(backend.get_batch(name)))

    def list_batches(self, *, light: bool = False) -> Iterator[Batch]:
        """Every batch of the project, following ``nextPageToken`` through all pages (lazily).

        :param light: ask only for what a lookup needs (``fields`` = :data:`routes.LIST_FIELDS`:
            no inline response bodies, which can make a full list answer 503). If the service
            refuses the mask (a 400 that is not a refused key) on the first page, this hook logs
            it once and lists in full.
        """
        backend, size = self.backend, self.list_page_size
        if light and not self._fields_refused:
            yielded = False
            try:
                for item in self._pages(
                    lambda token: backend.list_batches(token, size, light=True), backend.list_key
                ):
                    yielded = True
                    yield self._batch_view(backend, item)
                return
            except GeminiClientError as exc:
                if yielded or not self._light_read_refused(exc, "the batch list"):
                    raise
        for item in self._pages(lambda token: backend.list_batches(token, size), backend.list_key):
            yield self._batch_view(backend, item)

    def cancel_batch(self, name: str) -> None:
        """Ask the service to cancel ``batches/…`` (asynchronous; the state becomes CANCELLED)."""
        self._request(self.backend.cancel_batch(name)).close()

    def delete_batch(self, name: str) -> None:
        """Delete ``batches/…`` (it disappears from lists). This does **not** stop a batch that
        is still running (a long-running operation's delete only drops interest in its result;
        python-genai #2495): :meth:`cancel_batch` it first, as ``GeminiDeleteBatchOperator`` does.

        :raises GeminiNotFoundError: the batch did not exist (a 404 after a retried attempt counts
            as success: the earlier attempt deleted it but its answer was lost).
        """
        self._delete(self.backend.delete_batch(name))

    def _delete(self, req: routes.ApiRequest) -> None:
        attempts = 0

        def once() -> requests.Response | None:
            nonlocal attempts
            attempts += 1
            try:
                return self._send_once(req)
            except GeminiNotFoundError:
                if attempts > 1:
                    return None
                raise

        response = self.policy.retrying(idempotent=True, what=req.what)(once)
        if response is not None:
            response.close()

    # -- files -----------------------------------------------------------------------------------

    def get_file(self, name: str) -> FileInfo:
        """Metadata of ``files/…``. :raises GeminiNotFoundError: unknown or expired file."""
        return self._file_view(self._json(routes.get_file(self.settings.api_version, name)))

    def wait_for_file_active(
        self,
        name: str,
        *,
        timeout: float = DEFAULT_FILE_ACTIVE_TIMEOUT,
        interval: float = FILE_ACTIVE_INTERVAL,
    ) -> FileInfo:
        """Read ``files/…`` until it is ACTIVE (a batch on a PROCESSING file is refused).

        :param timeout: seconds to wait at most (default 600).
        :param interval: seconds between reads (default 5).
        :raises GeminiInvalidInputError: the file is FAILED (with the file's error) or still
            PROCESSING after ``timeout`` seconds.
        """
        deadline = retry_mod.monotonic() + timeout
        while True:
            info = self.get_file(name)
            readiness = file_readiness(info)
            if readiness is FileReadiness.READY:
                return info
            if readiness is FileReadiness.FAILED:
                raise GeminiInvalidInputError(
                    f"The input file {name} is FAILED on the service ({describe_file_error(info)}); "
                    "no batch was created. Check the file's content and upload it again."
                )
            remaining = deadline - retry_mod.monotonic()
            if remaining <= 0:
                raise GeminiInvalidInputError(
                    f"The input file {name} was still {info.state} after {timeout:.0f} s; no batch was "
                    "created. Retry the task later or raise file_active_timeout."
                )
            self.log.info("Input file %s is %s; checking again in %.0f s.", name, info.state, interval)
            retry_mod.sleep(min(interval, remaining))

    def list_files(self) -> Iterator[FileInfo]:
        """Every file of the project, following ``nextPageToken`` through all pages (lazily)."""
        version, size = self.settings.api_version, self.list_page_size
        for item in self._pages(lambda token: routes.list_files(version, token, size), "files"):
            yield self._file_view(item)

    def delete_file(self, name: str) -> None:
        """Delete ``files/…``. :raises GeminiNotFoundError: as :meth:`delete_batch`."""
        self._delete(routes.delete_file(self.settings.api_version, name))

    def _pages(
        self, build: Callable[[str | None], routes.ApiRequest], key: str
    ) -> Iterator[Mapping[str, Any]]:
        """The items of every page of a list, following ``nextPageToken``.

        Bounded in pages, not only in what the caller takes: a server that answers empty pages
        each naming a new token would otherwise keep a lookup (the create operator's reattach,
        the lineage lookup) asking forever. After :attr:`max_empty_pages` pages in a row without
        an item, or :attr:`max_list_pages` pages in all, or a token seen before, the walk ends
        with an error rather than a quiet stop: a lookup that stopped early could miss the batch
        it looks for and make the caller create (and pay for) a second one.

        :raises GeminiApiError: one of the bounds above was passed.
        """
        token: str | None = None
        seen: set[str] = set()
        pages = empty = 0
        while True:
            req = build(token)
            data = self._json(req)
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
            elif empty >= self.max_empty_pages:
                problem = f"sent {empty} pages in a row with no item and yet another page token"
            elif pages >= self.max_list_pages:
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

    def upload_file(
        self,
        path: Any,
        *,
        display_name: str | None = None,
        mime_type: str = "application/jsonl",
        validate: bool | None = None,
        embeddings: bool | None = None,
    ) -> FileInfo:
        """Upload a local file or an ``ObjectStoragePath``/URI with the resumable protocol.

        The file is read in chunks of :attr:`upload_chunk_size` bytes (8 MiB by default). After a
        dropped connection, timeout or 5xx on a chunk the session is asked how many bytes it holds
        (``X-Goog-Upload-Command: query``) and the upload continues from there.

        One pass: each chunk is read once, hashed (for the ``sha256Hash`` check) and its lines
        checked on a reader thread (``hooks/_chunk_feed.py``) while the chunk before it is being
        sent, at most two chunks ahead (memory: about four chunks). The first chunk is checked
        before the session opens (a file of one chunk is checked whole before any request). A bad
        line further on stops the upload before the chunk holding it is sent and cancels the
        session (``X-Goog-Upload-Command: cancel``): a session never finalized creates no file.

        :param validate: check JSONL input line by line (default: when ``mime_type`` is JSONL),
            each request against its REST type (``_core.request_fields``).
        :param embeddings: the file is for an embedding batch (True) or a generateContent batch
            (False); None (default): the first line's request decides.
        :raises GeminiInvalidInputError: missing, empty or over-2-GB file (before any request).
        :raises GeminiInputFileError: invalid JSONL, with the line number, key and field: before any
            request when the line is in the first chunk, else with the session cancelled.
        """
        source = resolve_path(path)
        # An object-store URI may carry a connection id or credentials in its userinfo.
        shown = public_url(str(path))
        try:
            size = int(source.stat().st_size)
            is_dir = source.is_dir()
        except (FileNotFoundError, OSError) as exc:
            raise GeminiInvalidInputError(
                scrub_userinfo(f"The input file {shown} does not exist or cannot be read ({exc}).", path)
            ) from None
        if is_dir:
            raise GeminiInvalidInputError(f"The input path {shown} is a directory; pass a file.")
        routes.check_upload_size(size)
        if validate is None:
            validate = mime_type.lower() in JSONL_MIME_TYPES
        if not validate and size == 0:
            raise GeminiInvalidInputError(f"The input file {shown} is empty.")
        # ``reread``: a key repeated far apart is named by reading the file again (only then).
        validator = (
            InputValidator(str(path), embeddings=embeddings, reread=file_lines(source)) if validate else None
        )
        try:
            handle = source.open("rb")
        except OSError as exc:
            raise GeminiInvalidInputError(
                scrub_userinfo(f"The input file {shown} cannot be read ({exc}).", path)
            ) from None
        with handle, ChunkFeed(handle, size, self.upload_chunk_size, validator) as feed:
            # The first chunk is checked before the session opens: a mistake in it (most mistakes
            # are on every line, so on line 1) is refused before anything is sent, and a file of
            # one chunk is checked whole first. Later chunks are read, hashed and checked on the
            # feed's thread while the one before them is being sent.
            first = feed.take()
            session_url = self._start_upload(source, size, mime_type, display_name)
            try:
                info = self._upload_chunks(session_url, source, size, feed, first)
            except GeminiInputFileError:
                self._cancel_upload(session_url)
                raise
        digest = feed
        if validator is not None and validator.summary is not None:
            warning = echoed_fields_warning(validator.summary, str(path))
            if warning:
                self.log.warning(warning)
        self._check_stored_file(info, size, str(path))
        if sha256_hash_matches(info.sha256_hash, digest.digest()) is False:
            # The service stored other bytes than we read: never let a batch run on them.
            with contextlib.suppress(GeminiBatchError):
                self.delete_file(info.name)
            raise GeminiApiError(
                http_status=200,
                status="DATA_LOSS",
                message=(
                    f"the stored file's sha256Hash ({info.sha256_hash}) names other bytes than the local "
                    f"file's sha256 ({digest.hexdigest()}); the remote copy was deleted, upload again"
                ),
                resource=info.name,
                method="Uploading a file",
            )
        return info

    def _check_stored_file(self, info: FileInfo, size: int, path: str) -> None:
        """Refuse a stored file whose size differs from the local one, or that came without a
        ``sha256Hash`` this hook can read (then the bytes cannot be proven the same).

        The real service reports both on every upload (``sizeBytes`` and ``sha256Hash`` in
        ``tests/real_service/captures.py``, from Google's cookbook run); a missing hash means a
        proxy or server that is not the API, and a silent skip would let a batch run on bytes
        nobody checked. The remote copy is deleted before raising.

        :raises GeminiApiError: ``DATA_LOSS`` with what differs and what to do.
        """
        problem = None
        if info.size_bytes != size:
            problem = f"the stored file has {info.size_bytes} bytes, the local file {size}"
        elif sha256_hash_matches(info.sha256_hash, b"\0" * 32) is None:
            problem = (
                "the service's answer carried no sha256Hash in a known form, so the stored bytes "
                "cannot be checked against the local file (the Gemini API always sends one: check any "
                "proxy or gateway in the connection's host)"
            )
        if problem is None:
            return
        with contextlib.suppress(GeminiBatchError):
            self.delete_file(info.name)
        raise GeminiApiError(
            http_status=200,
            status="DATA_LOSS",
            message=f"{problem}; the remote copy was deleted, upload {public_url(str(path))} again",
            resource=info.name,
            method="Uploading a file",
        )

    def _start_upload(self, source: Any, size: int, mime_type: str, display_name: str | None) -> str:
        """Open a resumable upload session; return its URL."""
        start = routes.upload_start(
            self.settings.api_version,
            size=size,
            mime_type=mime_type,
            display_name=display_name,
            file_name=source.name,
        )
        response = self._request(start)
        session_url = response.headers.get("X-Goog-Upload-URL")
        response.close()
        if not session_url:
            raise GeminiApiError(
                http_status=response.status_code,
                status=None,
                message="the upload start answer carried no X-Goog-Upload-URL",
                resource=start.resource,
                method=start.what,
            )
        # The file's bytes go only to the connection's own origin (scheme, host, port).
        check_session_url(session_url, self.settings.base_url, resource=start.resource)
        return session_url

    def _cancel_upload(self, session_url: str) -> None:
        """Abandon a session that must not be finalized (bad input found mid-file): one attempt.

        Nothing is lost if this fails: a session never finalized creates no file (spec section
        4.2), and it expires on its own; the cancel only frees it at once.
        """
        try:
            self._send_once(routes.upload_cancel(session_url)).close()
        except GeminiBatchError as exc:
            self.log.info("Could not cancel the upload session (%s); it was never finalized.", exc)

    def _upload_chunks(
        self, session_url: str, source: Any, size: int, feed: ChunkFeed, first: bytes
    ) -> FileInfo:
        """Send the file in chunks under ONE retry loop whose budget every confirmed chunk renews.

        An attempt sends chunks from ``offset`` until the session answers ``final``. Every attempt
        after a failure first asks the session how many bytes it holds (a failed query is just
        another failed attempt) and continues from there, so a 2 GB upload resumes however long
        it has been running: only failures since the last confirmed chunk count.

        New bytes come from ``feed`` (read once, hashed and checked on its thread, ``first``
        already taken); the final chunk exists only once the whole file passed the checks, so bad
        input never finalizes a file. After a resume, bytes of the chunk last taken are sent again
        from memory; only when the session kept less than that are bytes read again from the
        file (they were checked on the first read).

        :raises GeminiInputFileError: a chunk holds a bad line (the caller cancels the session).
        """
        chunk_size = self.upload_chunk_size
        budget = RetryBudget()
        offset = 0
        # Chunks taken from the feed and not yet wholly confirmed, as (file offset, bytes): a
        # resume inside them sends their bytes again from memory (at most two chunks are held).
        held: list[tuple[int, bytes]] = [(0, first)]
        resuming = False

        def bytes_at(start: int) -> bytes:
            """The chunk to send at ``start``: ``chunk_size`` bytes (fewer at the end of the file)."""
            end = min(size, start + chunk_size)
            while held and held[0][0] + len(held[0][1]) <= start:
                del held[0]  # confirmed: never needed again
            if start > feed.taken:
                raise GeminiApiError(
                    http_status=200,
                    status=None,
                    message=f"the upload session claims {start} bytes; only {feed.taken} were sent",
                    resource="upload session",
                )
            while feed.taken < end:
                held.append((feed.taken, feed.take()))
            first_at, first_data = held[0]
            if len(held) == 1 and first_at == start and len(first_data) == end - start:
                return first_data  # the usual case: one chunk of the feed, sent as it came
            pieces = []
            if start < first_at:
                # The session kept less than it had confirmed: read those (checked) bytes again.
                with source.open("rb") as again:
                    again.seek(start)
                    pieces.append(again.read(first_at - start))
                if len(pieces[0]) != first_at - start:
                    raise GeminiInvalidInputError(
                        "The input file changed size during the upload; upload it again."
                    )
            for at, data in held:
                pieces.append(data[max(0, start - at) : max(0, end - at)])
            return b"".join(pieces)[: end - start]

        def attempt() -> FileInfo:
            nonlocal offset, resuming
            if resuming:
                status, received, answer = self._query_upload(session_url)
                if status == "final":
                    # The last chunk's answer was lost after the session finalized: only a
                    # session holding the whole file counts (the size is checked again on the file).
                    if received != size:
                        self._discard_final(answer, routes.upload_query(session_url))
                        raise GeminiApiError(
                            http_status=answer.status_code,
                            status=None,
                            message=(
                                f"the upload session is final with {received} of {size} bytes; the "
                                "stored file would be incomplete, so it was deleted. Upload again"
                            ),
                            resource="upload session",
                        )
                    return self._final_file(answer, routes.upload_query(session_url))
                answer.close()
                self.log.info(
                    "The upload session holds %d of %d bytes; continuing from there.", received, size
                )
                if received > offset:
                    budget.renew()  # the cut chunk still moved the session forward: progress
                offset = received
            resuming = True  # whatever fails from here on, the next attempt asks for the offset
            while True:
                data = bytes_at(offset)
                length = len(data)
                final = offset + length >= size
                req = routes.upload_chunk(session_url, offset=offset, length=length, final=final)
                response = self._send_once(req, data=data)
                status = response.headers.get("X-Goog-Upload-Status", "").lower()
                if status == "final":
                    if not final:
                        # A session finalized before the last chunk holds part of the file: a
                        # batch on it would silently run on the first rows only.
                        self._discard_final(response, req)
                        raise GeminiApiError(
                            http_status=response.status_code,
                            status=None,
                            message=(
                                f"the upload session finalized the file after bytes {offset}-"
                                f"{offset + length} of {size}, before the last chunk was sent; the "
                                "stored file would be incomplete, so it was deleted. Upload again"
                            ),
                            resource="upload session",
                            method=req.what,
                        )
                    return self._final_file(response, req)
                response.close()
                if status != "active" or final:
                    raise GeminiApiError(
                        http_status=response.status_code,
                        status=None,
                        message=f"the upload session answered status {status or 'none'!r} at offset {offset}",
                        resource="upload session",
                        method=req.what,
                    )
                offset += length
                budget.renew()  # the session confirmed the chunk: progress

        retrying = self.policy.retrying(idempotent=True, what="Uploading chunks", budget=budget)
        return retrying(attempt)

    def _query_upload(self, session_url: str) -> tuple[str, int, requests.Response]:
        """Ask the session for its offset once (the chunk loop's retry covers a failed query)."""
        response = self._send_once(routes.upload_query(session_url))
        status = response.headers.get("X-Goog-Upload-Status", "").lower()
        try:
            received = int(response.headers.get("X-Goog-Upload-Size-Received", "0"))
        except ValueError:
            received = 0
        if status not in ("active", "final"):
            response.close()
            raise GeminiApiError(
                http_status=response.status_code,
                status=None,
                message=(
                    f"the upload session can no longer be resumed (status {status or 'none'!r}); upload again"
                ),
                resource="upload session",
            )
        return status, received, response

    def _discard_final(self, response: requests.Response, req: routes.ApiRequest) -> None:
        """Delete the file a session finalized too early, if its answer names one (best effort)."""
        try:
            info = self._final_file(response, req)
        except GeminiBatchError:
            return
        with contextlib.suppress(GeminiBatchError):
            self.delete_file(info.name)

    def _final_file(self, response: requests.Response, req: routes.ApiRequest) -> FileInfo:
        try:
            data = response.json()
            file_obj = data["file"]
        except (ValueError, KeyError, TypeError):
            raise GeminiApiError(
                http_status=response.status_code,
                status=None,
                message='the final upload answer carried no {"file": ...}',
                resource="upload session",
                method=req.what,
            ) from None
        finally:
            response.close()
        return self._file_view(file_obj)

    def download_file(self, name: str, destination: Any) -> int:
        """Stream ``files/…`` to a local path or ``ObjectStoragePath``/URI; return bytes written.

        The bytes go to a temporary sibling that is renamed onto ``destination`` only when the
        whole body arrived (checked against the announced size); a cut connection is resumed from
        the byte reached (see :meth:`_stream_body`), and a download that cannot be completed
        leaves nothing at ``destination``.

        :raises GeminiInvalidInputError: the destination cannot be written (before any request).
        """
        req = routes.download_file(self.settings.api_version, name)
        written = 0
        with atomic_destination(destination) as out:
            for chunk in self._stream_body(req):
                out.write(chunk)
                written += len(chunk)
        return written

    def iter_file_blocks(self, name: str) -> Iterator[bytes]:
        """The bytes of ``files/…`` as they arrive, in blocks of up to 1 MiB (lines may span blocks).

        One seamless stream: a cut connection is resumed from the byte reached (see
        :meth:`_stream_body`), so no byte is lost or repeated.

        :raises GeminiTransportError: the body could not be completed within the retry budget.
        """
        return self._stream_body(routes.download_file(self.settings.api_version, name))

    def _stream_body(self, req: routes.ApiRequest) -> Iterator[bytes]:
        """The body of a GET as one seamless byte stream, resumed across cut connections.

        One retry loop (the connection's policy) covers opening and reading. After a failure the
        request is sent again with ``Range: bytes=<offset>-`` for the bytes not yet yielded; a
        ``206`` continues there, a ``200`` (Range ignored) is read from the start and the bytes
        already yielded are skipped. Each yielded block renews the retry budget *when the caller
        asks for the next one*, so the caller's time between blocks (a slow consumer) never
        counts against the deadline, and only failures without new bytes count as retries.

        Range on ``alt=media`` downloads: Google's media-download front end answers it with 206
        and ``Content-Range`` (google-api-python-client ``MediaIoBaseDownload`` resumes that way);
        not verified for generativelanguage, whose emulator ignores Range, hence both paths.

        :raises GeminiTransportError: the body could not be completed within the retry budget.
        :raises GeminiApiError: a resumed body is shorter than what was already read (the file changed).
        """
        budget = RetryBudget()
        position = _BodyPosition()

        def attempt() -> Iterator[bytes]:
            if position.total is not None and position.offset >= position.total:
                return
            # identity: offsets, Range and Content-Length must all count the same (undecoded) bytes.
            headers = {**req.headers, "Accept-Encoding": "identity"}
            if position.offset:
                headers["Range"] = f"bytes={position.offset}-"
            ranged = dataclasses.replace(req, headers=headers)
            response = self._send_once(ranged, stream=True, accept=(200, 206, 416))
            with response:
                if response.status_code == 416:  # nothing at or past the offset: all was read
                    return
                skip = position.resume_point(response, req)
                for block in self._iter_body(response, req):
                    if skip:
                        dropped = min(skip, len(block))
                        block, skip = block[dropped:], skip - dropped
                        if not block:
                            continue
                    position.offset += len(block)
                    yield block
                    budget.renew()  # new bytes were taken by the caller: progress
                if skip:
                    raise GeminiApiError(
                        http_status=response.status_code,
                        status=None,
                        message=(
                            f"the body read again is shorter than the {position.offset} bytes read before; "
                            "the file changed on the server"
                        ),
                        resource=req.resource,
                        method=req.what,
                    )
            if position.total is not None and position.offset < position.total:
                raise GeminiTransportError(
                    f"{req.what} was cut off after {position.offset} of {position.total} bytes.", sent=True
                )

        for retry_attempt in self.policy.retrying(idempotent=True, what=req.what, budget=budget):
            with retry_attempt:
                yield from attempt()

    def _iter_body(self, response: requests.Response, req: routes.ApiRequest) -> Iterator[bytes]:
        """The body's blocks as they arrive, at a minimum rate over spans of the connection's
        ``timeout`` (``hooks/_sync_reads.iter_body``: a total deadline makes no sense for 2 GB)."""
        return iter_body(
            response,
            req,
            window=max(self.settings.timeout, 1.0),
            conn_id=self.gemini_conn_id,
            secrets=self._secrets(),
        )

    # -- results ---------------------------------------------------------------------------------

    def iter_results(
        self, batch: Batch | str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ) -> Iterator[BatchResult]:
        """Yield one :class:`BatchResult` per request of a finished batch.

        Streams the result file line by line (memory stays flat whatever its size: one block plus
        one line of at most ``max_line_bytes``, default 64 MiB) or walks the inline responses. Each
        result carries the key the service echoed (results may come back in any order); ``index``
        is the output position, the identity only when no keys were given. A batch that ended
        without results (e.g. EXPIRED) yields nothing.

        :raises GeminiInvalidInputError: the batch is still pending or running; a result line is
            longer than ``max_line_bytes`` or cannot be read (named by its number).
        """
        if isinstance(batch, str):
            batch = self.get_batch(batch)
        if batch.responses_file:
            yield from self._iter_file_results(batch.responses_file, max_line_bytes)
            return
        items = batch.inline_items
        if items:
            yield from iter_inline_results(items)
            return
        if not batch.done:
            raise GeminiInvalidInputError(
                f"Batch {batch.name} is {batch.state.short}; results exist only once it has ended."
            )

    def iter_raw_results(
        self, batch: Batch | str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ) -> Iterator[RawResult]:
        """As :meth:`iter_results`, each result with the raw JSON of its row's body.

        For a result file, the raw JSON of each line's ``response``/``error`` comes along, so a
        row can be written from it without encoding the body again (see ``_core/landing.py``);
        inline results come without (they were parsed with the batch). Streams like
        :meth:`iter_results`.

        The raw JSON is a bytes-like ``msgspec.Raw`` view of the downloaded block (no copy):
        ``bytes.join``, ``memoryview`` and ``msgspec`` decoders take it as it is; call
        ``bytes(...)`` for a ``bytes`` object (``json.loads``, ``.decode()``, ``==`` with bytes), and
        to keep one longer than the loop step without keeping its whole 1 MiB block alive.

        :raises GeminiInvalidInputError: as :meth:`iter_results`.
        """
        if isinstance(batch, str):
            batch = self.get_batch(batch)
        if batch.responses_file:
            index = 0
            blocks = self.iter_file_blocks(batch.responses_file)
            for scanned in scan_result_blocks(blocks, max_line_bytes=max_line_bytes):
                for line in scanned:
                    yield raw_result_from_scan(line, index)
                    index += 1
            return
        for result in self.iter_results(batch):
            yield RawResult(result)

    def _iter_file_results(self, name: str, max_line_bytes: int) -> Iterator[BatchResult]:
        """Stream a result file line by line. A broken connection is resumed from the byte reached
        (:meth:`_stream_body`), so no result is lost or repeated, and the time the consumer spends
        on each row does not count against the retry deadline."""
        req = routes.download_file(self.settings.api_version, name)
        for index, line in enumerate(split_lines(self._stream_body(req), max_line_bytes)):
            yield parse_result_line(line, index)

    # -- connection test -------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """List one file to check URL and credentials. Returns ``(ok, message)``; never raises.

        A Vertex AI connection (the hook Airflow's *Test* button builds is this class) is tested by
        :class:`~airflow_provider_gemini_batch.hooks.vertex.VertexBatchHook` (it lists one job).
        """
        try:
            settings = self.settings
            if settings.is_vertex and type(self) is GeminiBatchHook:
                from airflow_provider_gemini_batch.hooks.vertex import hook_for

                return hook_for(self.gemini_conn_id).test_connection()
            self._send_once(routes.list_files(settings.api_version, page_size=1)).close()
            where = public_url(settings.base_url)
            return True, f"Connected to the Gemini API at {where} (API {settings.api_version})."
        except Exception as exc:
            message = redact(str(exc) or type(exc).__name__, self._secrets())
            cached = self.__dict__.get("settings")
            message = scrub_userinfo(message, cached.base_url if cached is not None else None)
            return False, self._test_failure_message(message, exc)

    def _test_failure_message(self, message: str, exc: BaseException) -> str:
        """The test's failure text for a person: the connection id named, unless it is the UI's
        generated one (:func:`_is_ui_test_id`); a hint for a host without a scheme.

        Airflow's UI tests a form under a generated connection id, which means nothing to the
        reader, so "connection '<id>'" becomes "this connection" there. A host without
        ``http://``/``https://`` is taken as ``https://`` (``_core.settings``); against a
        plain-HTTP server (the local emulator) that fails with a bare SSL error, so the message
        says what was assumed and how to write it.
        """
        conn_id = self.gemini_conn_id
        if _is_ui_test_id(conn_id):
            quoted = repr(conn_id)
            for old, new in (
                (f"The Airflow connection {quoted}", "This connection"),
                (f"Airflow connection {quoted}", "this connection"),
                (f"Connection {quoted}", "This connection"),
                (f"connection {quoted}", "this connection"),
                (quoted, "this connection"),
            ):
                message = message.replace(old, new)
        if isinstance(exc, GeminiConnectionConfigError):
            return message
        try:
            host = (self.get_connection(conn_id).host or "").strip()
        except Exception:  # the message above is all we have
            return message
        if host and "://" not in host:
            message += (
                f" The host {host!r} has no scheme, so https://{host} was used; if the server speaks "
                f"plain HTTP (e.g. the local emulator), write the host as http://{host}."
            )
        return message
