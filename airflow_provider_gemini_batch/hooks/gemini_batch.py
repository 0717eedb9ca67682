"""Hooks for the Gemini Batch and Files REST API.

:class:`GeminiBatchHook` (sync, ``requests`` + google-auth) is used by operators on workers;
:class:`GeminiBatchAsyncHook` (``httpx.AsyncClient``) by the trigger. Both are thin transports
around the pure core: requests are built by ``_core.routes``, errors mapped by ``_core.errors``,
retries decided by ``_core.retry``. Only the exceptions of ``exceptions.py`` escape.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import IO, Any

import requests
import urllib3.exceptions
from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

from airflow_provider_gemini_batch._core import retry as retry_mod
from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.digests import sha256_hash_matches
from airflow_provider_gemini_batch._core.errors import (
    error_from_response,
    json_object_body,
    redact,
    transport_error,
)
from airflow_provider_gemini_batch._core.jsonl import (
    echoed_fields_warning,
    iter_inline_results,
    parse_result_line,
    split_lines,
    validate_input_file,
)
from airflow_provider_gemini_batch._core.models import Batch, BatchResult, FileInfo, pick
from airflow_provider_gemini_batch._core.retry import RetryPolicy, is_retryable
from airflow_provider_gemini_batch._core.settings import AuthMode, ConnectionSettings
from airflow_provider_gemini_batch.connection_fields import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_gemini_batch.exceptions import (
    GeminiApiError,
    GeminiBatchError,
    GeminiConnectionConfigError,
    GeminiInvalidInputError,
    GeminiNotFoundError,
    GeminiTransportError,
)
from airflow_provider_gemini_batch.hooks._auth import (
    USER_AGENT,
    GoogleCredentials,
    api_key_headers,
    register_secrets,
    settings_from_connection,
)
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook, aclose_shared_clients
from airflow_provider_gemini_batch.storage import atomic_destination, resolve_path

__all__ = ["GeminiBatchAsyncHook", "GeminiBatchHook", "aclose_shared_clients"]

#: MIME types treated as batch input JSONL (validated line by line before upload).
JSONL_MIME_TYPES = frozenset({"application/jsonl", "jsonl", "application/x-ndjson", "application/json-lines"})
#: Bytes read per network read when downloading or streaming results.
STREAM_CHUNK_BYTES = 1024 * 1024


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


class _ConfirmedDigest:
    """SHA-256 of the bytes the upload session confirmed, in file order.

    Chunks are hashed from memory as they are confirmed; after a resume only the bytes the server
    kept from the interrupted chunk are read again from the file.
    """

    def __init__(self, handle: IO[bytes], block: int) -> None:
        self._handle = handle
        self._block = block
        self._digest = hashlib.sha256()
        self.hashed = 0

    def catch_up(self, target: int) -> None:
        if target < self.hashed:  # the server kept less than it had confirmed: start over
            self._digest, self.hashed = hashlib.sha256(), 0
        while self.hashed < target:
            self._handle.seek(self.hashed)
            block = self._handle.read(min(self._block, target - self.hashed))
            if not block:
                return
            self._digest.update(block)
            self.hashed += len(block)

    def confirm(self, offset: int, data: bytes) -> None:
        self.catch_up(offset)
        if offset == self.hashed:
            self._digest.update(data)
            self.hashed += len(data)

    def digest(self) -> bytes:
        return self._digest.digest()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class GeminiBatchHook(BaseHook):
    """Talk to the Gemini Batch and Files API through the ``gemini_batch`` connection.

    :param gemini_conn_id: the Airflow connection id (default ``gemini_batch_default``).
    :param upload_chunk_size: bytes per upload chunk; default from the connection extra
        ``upload_chunk_size`` or 8 MiB. Smaller chunks are for tests and slow links.

    The connection is read on first use, not in ``__init__``. Every call has the connection's
    timeout and follows the retry policy of ``_core.retry``.
    """

    conn_name_attr = "gemini_conn_id"
    default_conn_name = "gemini_batch_default"
    conn_type = "gemini_batch"
    hook_name = "Google Gemini Batch"
    #: Items asked for per page by ``list_files``/``list_batches`` (the Files API maximum is 100).
    list_page_size: int = routes.LIST_PAGE_SIZE

    def __init__(
        self, gemini_conn_id: str = default_conn_name, *, upload_chunk_size: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.gemini_conn_id = gemini_conn_id
        self._upload_chunk_size = upload_chunk_size

    # -- connection form (Airflow 3.0/3.1; >= 3.2 reads the provider info) --------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden/relabelled standard fields, from ``connection_fields.UI_FIELD_BEHAVIOUR``."""
        return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields, from ``connection_fields.CONN_FIELDS`` (empty without the FAB UI)."""
        try:
            from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
            from flask_babel import lazy_gettext
            from wtforms import BooleanField, FloatField, IntegerField, PasswordField, StringField
        except ImportError:
            return {}
        widgets: dict[str, Any] = {}
        for name, spec in CONN_FIELDS.items():
            schema = spec.get("schema", {})
            types = schema.get("type")
            kinds = set(types) if isinstance(types, list) else {types}
            label = lazy_gettext(spec["label"])
            description = spec.get("description")
            default = schema.get("default")
            if "boolean" in kinds:
                widgets[name] = BooleanField(label, description=description, default=bool(default))
            elif "integer" in kinds:
                widgets[name] = IntegerField(
                    label, widget=BS3TextFieldWidget(), description=description, default=default
                )
            elif "number" in kinds:
                widgets[name] = FloatField(
                    label, widget=BS3TextFieldWidget(), description=description, default=default
                )
            elif schema.get("format") == "password":
                widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=description)
            else:
                widgets[name] = StringField(
                    label, widget=BS3TextFieldWidget(), description=description, default=default
                )
        return widgets

    # -- plumbing --------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The parsed connection (read once per hook instance).

        :raises GeminiConnectionConfigError: connection missing, wrong type, no key/credentials.
        """
        try:
            conn = self.get_connection(self.gemini_conn_id)
        except AirflowNotFoundException:
            raise GeminiConnectionConfigError(
                f"The Airflow connection {self.gemini_conn_id!r} does not exist. Create a connection of type "
                "'gemini_batch' with the Gemini API key in the password field."
            ) from None
        settings = settings_from_connection(conn)
        register_secrets(settings)
        return settings

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

    @cached_property
    def _google_credentials(self) -> GoogleCredentials:
        return GoogleCredentials(self.settings)

    def _auth_headers(self) -> dict[str, str]:
        if self.settings.auth_mode is AuthMode.API_KEY:
            return api_key_headers(self.settings)
        return self._google_credentials.headers()

    def _secrets(self) -> tuple[str, ...]:
        cached = self.__dict__.get("settings")
        return cached.secrets() if cached is not None else ()

    def _send_once(
        self, req: routes.ApiRequest, *, data: bytes | None = None, stream: bool = False
    ) -> requests.Response:
        """Send one request; return a 200 response or raise a typed error (no retry here)."""
        settings = self.settings
        headers = dict(req.headers)
        if req.authenticated:
            headers.update(self._auth_headers())
        body = data if data is not None else req.content()
        try:
            response = self.session.request(
                req.method,
                req.url(settings.base_url),
                params=dict(req.params) or None,
                headers=headers,
                data=body,
                timeout=settings.timeout,
                stream=stream,
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
            ) from None
        if response.status_code != 200:
            try:
                content = response.content
            except requests.exceptions.RequestException:
                content = b""
            finally:
                response.close()
            raise error_from_response(
                response.status_code,
                content,
                response.headers,
                resource=req.resource,
                method=req.what,
                reason_phrase=response.reason,
                secrets=self._secrets(),
            )
        return response

    def _request(self, req: routes.ApiRequest, *, stream: bool = False) -> requests.Response:
        """Send with the retry policy (create is retried only where the server provably never saw it)."""
        retrying = self.policy.retrying(idempotent=req.idempotent, what=req.what)
        return retrying(self._send_once, req, stream=stream)

    def _json(self, req: routes.ApiRequest) -> dict[str, Any]:
        response = self._request(req)
        return json_object_body(
            response.status_code, response.content, resource=req.resource, method=req.what
        )

    # -- batches ---------------------------------------------------------------------------------

    def create_batch(
        self,
        model: str,
        *,
        requests: Sequence[Mapping[str, Any]] | None = None,
        input_file: str | None = None,
        display_name: str | None = None,
        priority: int | None = None,
    ) -> Batch:
        """Create a generateContent batch (``models/{model}:batchGenerateContent``).

        :param model: ``gemini-2.5-flash``, ``models/…`` or ``tunedModels/…``.
        :param requests: inline requests (``{"key", "request"}`` dicts or bare GenerateContentRequest
            dicts); the whole create request must stay under 20 MB.
        :param input_file: an uploaded JSONL file, ``files/…``. Exactly one of requests/input_file.
        :param display_name: shown in the console and in ``list_batches``.
        :param priority: higher runs first (default 0 on the service).
        :raises GeminiInvalidInputError: before sending anything, for invalid arguments.
        :raises GeminiApiError: the service refused it. A :class:`GeminiTransportError` or 5xx may hide
            a batch that was created anyway: creation is never retried then (it is not idempotent);
            look it up with :meth:`list_batches` instead of creating again.
        """
        req = routes.create_batch(
            self.settings.api_version,
            model,
            requests=requests,
            input_file=input_file,
            display_name=display_name,
            priority=priority,
        )
        return Batch.from_operation(self._json(req))

    def create_embeddings_batch(
        self,
        model: str,
        *,
        requests: Sequence[Mapping[str, Any]] | None = None,
        input_file: str | None = None,
        display_name: str | None = None,
    ) -> Batch:
        """Create an embeddings batch (``models/{model}:asyncBatchEmbedContent``).

        ``requests`` items are ``{"key", "request": EmbedContentRequest}`` or bare
        EmbedContentRequest dicts. Raises as :meth:`create_batch`.
        """
        req = routes.create_batch(
            self.settings.api_version,
            model,
            requests=requests,
            input_file=input_file,
            display_name=display_name,
            embeddings=True,
        )
        return Batch.from_operation(self._json(req))

    def get_batch(self, name: str) -> Batch:
        """The current state of ``batches/…``. :raises GeminiNotFoundError: unknown or deleted batch."""
        return Batch.from_operation(self._json(routes.get_batch(self.settings.api_version, name)))

    def list_batches(self) -> Iterator[Batch]:
        """Every batch of the project, following ``nextPageToken`` through all pages (lazily)."""
        version, size = self.settings.api_version, self.list_page_size
        for item in self._pages(lambda token: routes.list_batches(version, token, size), "operations"):
            yield Batch.from_operation(item)

    def cancel_batch(self, name: str) -> None:
        """Ask the service to cancel ``batches/…`` (asynchronous; the state becomes CANCELLED)."""
        self._request(routes.cancel_batch(self.settings.api_version, name)).close()

    def delete_batch(self, name: str) -> None:
        """Delete ``batches/…`` (stops it if running; it disappears from lists).

        :raises GeminiNotFoundError: the batch did not exist (a 404 after a retried attempt counts
            as success: the earlier attempt deleted it but its answer was lost).
        """
        self._delete(routes.delete_batch(self.settings.api_version, name))

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
        return FileInfo.from_json(self._json(routes.get_file(self.settings.api_version, name)))

    def list_files(self) -> Iterator[FileInfo]:
        """Every file of the project, following ``nextPageToken`` through all pages (lazily)."""
        version, size = self.settings.api_version, self.list_page_size
        for item in self._pages(lambda token: routes.list_files(version, token, size), "files"):
            yield FileInfo.from_json(item)

    def delete_file(self, name: str) -> None:
        """Delete ``files/…``. :raises GeminiNotFoundError: as :meth:`delete_batch`."""
        self._delete(routes.delete_file(self.settings.api_version, name))

    def _pages(
        self, build: Callable[[str | None], routes.ApiRequest], key: str
    ) -> Iterator[Mapping[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            data = self._json(build(token))
            for item in data.get(key) or []:
                if isinstance(item, Mapping):
                    yield item
            token = data.get("nextPageToken") or None
            if not token:
                return
            if token in seen:
                # A server repeating a token would make this loop forever.
                raise GeminiApiError(
                    http_status=200, status=None, message=f"the page token {token!r} repeated", resource=key
                )
            seen.add(token)

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

        :param validate: check JSONL input line by line first (default: when ``mime_type`` is JSONL),
            each request against its REST type (``_core.request_fields``).
        :param embeddings: the file is for an embedding batch (True) or a generateContent batch
            (False); None (default): the first line's request decides.
        :raises GeminiInvalidInputError: missing, empty or over-2-GB file, invalid JSONL (with the line
            number, key and field) — all before any request.
        """
        source = resolve_path(path)
        try:
            size = int(source.stat().st_size)
            is_dir = source.is_dir()
        except (FileNotFoundError, OSError) as exc:
            raise GeminiInvalidInputError(
                f"The input file {path!s} does not exist or cannot be read ({exc})."
            ) from None
        if is_dir:
            raise GeminiInvalidInputError(f"The input path {path!s} is a directory; pass a file.")
        routes.check_upload_size(size)
        if validate is None:
            validate = mime_type.lower() in JSONL_MIME_TYPES
        if validate:
            try:
                summary = validate_input_file(str(path), opener=source, embeddings=embeddings)
            except OSError as exc:
                raise GeminiInvalidInputError(f"The input file {path!s} cannot be read ({exc}).") from None
            warning = echoed_fields_warning(summary, str(path))
            if warning:
                self.log.warning(warning)
        elif size == 0:
            raise GeminiInvalidInputError(f"The input file {path!s} is empty.")
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
        with source.open("rb") as handle:
            digest = _ConfirmedDigest(handle, self.upload_chunk_size)
            info = self._upload_chunks(session_url, handle, size, digest)
            digest.catch_up(size)
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
                method=start.what,
            )
        return info

    def _upload_chunks(
        self, session_url: str, handle: IO[bytes], size: int, digest: _ConfirmedDigest
    ) -> FileInfo:
        chunk_size = self.upload_chunk_size
        policy = self.policy
        offset = 0
        failures = 0
        started = time.monotonic()
        while True:
            length = min(chunk_size, size - offset)
            final = offset + length >= size
            handle.seek(offset)
            data = handle.read(length)
            if len(data) != length:
                raise GeminiInvalidInputError(
                    "The input file changed size during the upload; upload it again."
                )
            req = routes.upload_chunk(session_url, offset=offset, length=length, final=final)
            try:
                response = self._send_once(req, data=data)
            except (GeminiTransportError, GeminiApiError) as exc:
                if not is_retryable(exc, idempotent=True):
                    raise
                failures += 1
                wait = policy.delay_for(exc, failures)
                if failures > policy.max_retries or time.monotonic() - started + wait > policy.deadline:
                    raise
                self.log.warning(
                    "Upload chunk at offset %d failed (%s); resuming in %.2f s.", offset, exc, wait
                )
                retry_mod.sleep(wait)
                status, received, answer = self._query_upload(session_url)
                if status == "final":
                    return self._final_file(answer, req)
                self.log.info(
                    "The upload session holds %d of %d bytes; continuing from there.", received, size
                )
                offset = received
                continue
            status = response.headers.get("X-Goog-Upload-Status", "").lower()
            if status in ("final", "active"):
                digest.confirm(offset, data)
            if status == "final":
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
            failures = 0  # progress was made; the budget is for consecutive failures

    def _query_upload(self, session_url: str) -> tuple[str, int, requests.Response]:
        response = self._request(routes.upload_query(session_url))
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

    @staticmethod
    def _final_file(response: requests.Response, req: routes.ApiRequest) -> FileInfo:
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
        return FileInfo.from_json(file_obj)

    def download_file(self, name: str, destination: Any) -> int:
        """Stream ``files/…`` to a local path or ``ObjectStoragePath``/URI; return bytes written.

        The bytes go to a temporary sibling that is renamed onto ``destination`` only when the
        whole body arrived (checked against ``Content-Length``); a cut-off download leaves nothing
        at ``destination`` and is retried from the start under the retry policy.

        :raises GeminiInvalidInputError: the destination cannot be written (before any request).
        """
        req = routes.download_file(self.settings.api_version, name)

        def attempt() -> int:
            with atomic_destination(destination) as out:
                response = self._send_once(req, stream=True)
                with response:
                    expected = response.headers.get("Content-Length")
                    written = 0
                    for chunk in self._iter_body(response, req):
                        out.write(chunk)
                        written += len(chunk)
                    if expected is not None and expected.isdigit() and written != int(expected):
                        raise GeminiTransportError(
                            f"{req.what} was cut off after {written} of {expected} bytes.", sent=True
                        )
                return written

        return self.policy.retrying(idempotent=True, what=req.what)(attempt)

    def _iter_body(self, response: requests.Response, req: routes.ApiRequest) -> Iterator[bytes]:
        try:
            yield from response.iter_content(chunk_size=STREAM_CHUNK_BYTES)
        except requests.exceptions.RequestException as exc:
            raise transport_error(
                exc,
                resource=req.resource,
                method=req.what,
                sent=True,
                timed_out=False,
                secrets=self._secrets(),
            ) from None

    # -- results ---------------------------------------------------------------------------------

    def iter_results(self, batch: Batch | str) -> Iterator[BatchResult]:
        """Yield one :class:`BatchResult` per request of a finished batch.

        Streams the result file line by line (memory stays flat whatever its size) or walks the
        inline responses. Each result carries the key the service echoed (results may come back in
        any order); ``index`` is the output position, the identity only when no keys were given.
        A batch that ended without results (e.g. EXPIRED) yields nothing.

        :raises GeminiInvalidInputError: the batch is still pending or running.
        """
        if isinstance(batch, str):
            batch = self.get_batch(batch)
        if batch.responses_file:
            yield from self._iter_file_results(batch.responses_file)
            return
        inlined = pick(batch.output, "inlinedResponses") or {}
        items = pick(inlined, "inlinedResponses") if isinstance(inlined, Mapping) else None
        if items:
            yield from iter_inline_results(items)
            return
        if not batch.done:
            raise GeminiInvalidInputError(
                f"Batch {batch.name} is {batch.state.short}; results exist only once it has ended."
            )

    def _iter_file_results(self, name: str) -> Iterator[BatchResult]:
        """Stream a result file; if the connection breaks midway, fetch it again and skip the lines
        already yielded (the file is immutable), so no result is lost or repeated."""
        req = routes.download_file(self.settings.api_version, name)
        policy = self.policy
        yielded = 0
        failures = 0
        started = time.monotonic()
        while True:
            response = self._request(req, stream=True)
            skip = yielded
            try:
                with response:
                    for index, line in enumerate(split_lines(self._iter_body(response, req))):
                        if index < skip:
                            continue
                        result = parse_result_line(line, index)
                        yielded += 1
                        yield result
                return
            except GeminiTransportError as exc:
                failures += 1
                wait = policy.delay_for(exc, failures)
                if failures > policy.max_retries or time.monotonic() - started + wait > policy.deadline:
                    raise
                self.log.warning(
                    "Reading %s broke after %d results (%s); reading it again in %.2f s.",
                    name,
                    yielded,
                    exc,
                    wait,
                )
                retry_mod.sleep(wait)

    # -- connection test -------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """List one file to check URL and credentials. Returns ``(ok, message)``; never raises."""
        try:
            settings = self.settings
            self._send_once(routes.list_files(settings.api_version, page_size=1)).close()
            return True, f"Connected to the Gemini API at {settings.base_url} (API {settings.api_version})."
        except Exception as exc:
            message = redact(str(exc) or type(exc).__name__, self._secrets())
            return False, message
