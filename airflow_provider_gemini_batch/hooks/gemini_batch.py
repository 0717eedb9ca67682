"""Hooks for the Gemini Batch and Files REST API.

:class:`GeminiBatchHook` (sync, ``requests`` + google-auth) is used by operators on workers;
:class:`GeminiBatchAsyncHook` (``httpx.AsyncClient``) by the trigger. Both are thin transports
around the pure core: requests are built by the connection's backend (``backends/``) and
``_core.routes``, errors mapped by ``_core.errors``, retries decided by ``_core.retry``. Only the
exceptions of ``exceptions.py`` escape.

This module holds the public sync hook and its calls. The rest of the sync side has a module of
its own: the transport (``hooks/_transport.py``: one bounded, never-redirected request; deletes;
list pages), the resumable upload (``hooks/_upload.py`` driving ``_core/upload_flow.py``), the
resumable download (``hooks/_download.py`` driving ``_core/download_flow.py``) and the connection
test's wording (``hooks/_connection_test.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

import requests
from airflow.providers.common.compat.sdk import AirflowNotFoundException

from airflow_provider_gemini_batch._core import retry as retry_mod
from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.file_ready import (
    DEFAULT_FILE_ACTIVE_TIMEOUT,
    FILE_ACTIVE_INTERVAL,
    FileReadiness,
    file_readiness,
)
from airflow_provider_gemini_batch._core.jsonl import iter_inline_results, parse_result_line, split_lines
from airflow_provider_gemini_batch._core.landing import RawResult, raw_result_from_scan, scan_result_blocks
from airflow_provider_gemini_batch._core.models import Batch, BatchResult, FileInfo
from airflow_provider_gemini_batch._core.result_lines import DEFAULT_MAX_LINE_BYTES
from airflow_provider_gemini_batch._core.retry import RetryPolicy
from airflow_provider_gemini_batch._core.settings import ConnectionSettings
from airflow_provider_gemini_batch._core.wire_guard import MAX_ANSWER_BYTES
from airflow_provider_gemini_batch.backends import Backend
from airflow_provider_gemini_batch.exceptions import GeminiClientError, GeminiInvalidInputError
from airflow_provider_gemini_batch.hooks import _connection_test, _download, _transport, _upload
from airflow_provider_gemini_batch.hooks._auth import register_secrets
from airflow_provider_gemini_batch.hooks._base import GeminiHookBase
from airflow_provider_gemini_batch.hooks._model_check import check_model_can_batch
from airflow_provider_gemini_batch.hooks._sync_reads import (
    STREAM_CHUNK_BYTES as STREAM_CHUNK_BYTES,  # re-exported: it lived here before
)
from airflow_provider_gemini_batch.hooks._upload import JSONL_MIME_TYPES as JSONL_MIME_TYPES
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from airflow_provider_gemini_batch.messages.waiting import file_failed_message, file_not_active_message
from airflow_provider_gemini_batch.storage import atomic_destination

__all__ = ["GeminiBatchAsyncHook", "GeminiBatchHook"]


class GeminiBatchHook(GeminiHookBase):
    """Talk to the Gemini Batch and Files API through the ``gemini_batch`` connection.

    :param gemini_conn_id: the Airflow connection id (default ``gemini_batch_default``).
    :param upload_chunk_size: bytes per upload chunk; default from the connection extra
        ``upload_chunk_size`` or 8 MiB. Smaller chunks are for tests and slow links.

    The connection is read on first use, not in ``__init__``. Every call has the connection's
    timeout and follows the retry policy of ``_core.retry``. Connection, credentials, request
    shape and error mapping come from :class:`~airflow_provider_gemini_batch.hooks._base.GeminiHookBase`;
    this class adds the ``requests`` transport (``hooks/_transport.py``).
    """

    #: Items asked for per page by ``list_files``/``list_batches`` (the Files API maximum is 100).
    list_page_size: int = routes.LIST_PAGE_SIZE
    #: Largest control-plane answer accepted, in decoded bytes (``_core.wire_guard``).
    max_answer_bytes: int = MAX_ANSWER_BYTES
    #: Pages in a row without an item after which a list walk is refused (``_transport.walk_pages``).
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
        return _transport.new_session()

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
        raise a typed error (no retry here). Redirects are never followed; unless ``stream``, the
        body is read within the connection's ``timeout`` and :attr:`max_answer_bytes`
        (``hooks/_transport.send_once``)."""
        return _transport.send_once(self, req, data=data, stream=stream, accept=accept)

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
        (``EmbedContentBatch`` has the same envelope fields: REST reference
        https://ai.google.dev/api/batch-api). Raises as :meth:`create_batch`.
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
        ``:updateEmbedContentBatch`` with ``updateMask=priority``; discovery document
        ``generativelanguage v1beta``).

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
                for item in _transport.walk_pages(
                    self, lambda token: backend.list_batches(token, size, light=True), backend.list_key
                ):
                    yielded = True
                    yield self._batch_view(backend, item)
                return
            except GeminiClientError as exc:
                if yielded or not self._light_read_refused(exc, "the batch list"):
                    raise
        for item in _transport.walk_pages(
            self, lambda token: backend.list_batches(token, size), backend.list_key
        ):
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
        _transport.delete_once_seen(self, self.backend.delete_batch(name))

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
                raise GeminiInvalidInputError(file_failed_message(name, info))
            remaining = deadline - retry_mod.monotonic()
            if remaining <= 0:
                raise GeminiInvalidInputError(file_not_active_message(name, info.state, timeout))
            self.log.info("Input file %s is %s; checking again in %.0f s.", name, info.state, interval)
            retry_mod.sleep(min(interval, remaining))

    def list_files(self) -> Iterator[FileInfo]:
        """Every file of the project, following ``nextPageToken`` through all pages (lazily)."""
        version, size = self.settings.api_version, self.list_page_size
        for item in _transport.walk_pages(
            self, lambda token: routes.list_files(version, token, size), "files"
        ):
            yield self._file_view(item)

    def delete_file(self, name: str) -> None:
        """Delete ``files/…``. :raises GeminiNotFoundError: as :meth:`delete_batch`."""
        _transport.delete_once_seen(self, routes.delete_file(self.settings.api_version, name))

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
        return _upload.upload_file(
            self,
            path,
            display_name=display_name,
            mime_type=mime_type,
            validate=validate,
            embeddings=embeddings,
        )

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
        """The body of a GET as one seamless byte stream, resumed across cut connections with
        ``Range`` (``hooks/_download.stream_body``; ``_core/download_flow.py`` decides).

        :raises GeminiTransportError: the body could not be completed within the retry budget.
        :raises GeminiApiError: a resumed body is shorter than what was already read (the file changed).
        """
        return _download.stream_body(self, req)

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

    # -- connection test -------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Send the backend's probe (Developer API: list one file) to check URL and credentials.
        Returns ``(ok, message)``; never raises (``hooks/_connection_test.py``)."""
        return _connection_test.test_connection(self)
