"""The ASGI application: API routes (files, uploads, batches), auth, faults, journal, control plane.

The public API is served by one catch-all route with its own regex table, because Google's
``name:verb`` paths (``files/x:download``, ``models/m:batchGenerateContent``) do not fit
path-parameter routing, and because every API request must pass the same gate in the same order:
journal -> scripted fault -> authentication -> handler.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from airflow_provider_gemini_batch.emulator import models as model_catalogue
from airflow_provider_gemini_batch.emulator.backend import FILE_ID_LENGTH, EmulatorState
from airflow_provider_gemini_batch.emulator.faults import Fault
from airflow_provider_gemini_batch.emulator.files import (
    CHUNK_GRANULARITY,
    MAX_FILE_BYTES,
    FileRecord,
    UploadSession,
    new_id,
    remove_quietly,
    valid_file_id,
)
from airflow_provider_gemini_batch.emulator.guard import journal_headers, journal_query
from airflow_provider_gemini_batch.emulator.partial import FieldsError, Mask, apply_fields, parse_fields
from airflow_provider_gemini_batch.emulator.request_fields import unknown_field_errors
from airflow_provider_gemini_batch.emulator.transport import drop_connection
from airflow_provider_gemini_batch.emulator.wire import (
    MAX_FILE_ID,
    ApiError,
    error_info,
    field,
    file_gone,
    file_id_too_long,
    invalid,
    not_found,
    parse_json_lenient,
)

# "whole create request < 20 MB" (spec section 10); the live limit is stated in bytes.
MAX_INLINE_BODY_BYTES = 20 * 1024 * 1024
# Any other JSON body is small; bound it so a broken client cannot exhaust memory.
MAX_JSON_BODY_BYTES = MAX_INLINE_BODY_BYTES
FILES_PAGE_DEFAULT, FILES_PAGE_MAX = 10, 100
BATCHES_PAGE_DEFAULT, BATCHES_PAGE_MAX = 50, 1000
DOWNLOAD_BLOCK = 1024 * 1024

_VER = r"(?P<ver>v1|v1beta|v1alpha)"
_ID = r"(?P<id>[a-z0-9][a-z0-9-]*)"

Handler = Callable[..., Awaitable[Response]]


def _active_session_headers(session: UploadSession) -> dict[str, str]:
    """Headers that keep an upload session open and tell the client where to resume."""
    return {"X-Goog-Upload-Status": "active", "X-Goog-Upload-Size-Received": str(session.received)}


@dataclass
class Ctx:
    """One API request in flight: the Starlette request, its journal entry and any pending drop."""

    request: Request
    entry: dict[str, Any]
    drop_after: int | None = None
    lose_answer: bool = False
    caller: str | None = None  # the API key used (None for a bearer token or a session URL)
    fields: Mask | None = None  # the parsed ``fields`` partial-response selection


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response (always 200 on success, like the live service)."""
    return Response(
        content=json.dumps(data, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_response(error: ApiError) -> Response:
    return json_response(error.envelope(), status=error.code, headers=error.headers)


def base_url(request: Request) -> str:
    """Externally reachable base URL, from the Host header the client used."""
    return str(request.base_url).rstrip("/")


def _page_size(request: Request, default: int, maximum: int) -> int:
    raw = request.query_params.get("pageSize") or request.query_params.get("page_size")
    if not raw:
        return default
    try:
        size = int(raw)
    except ValueError:
        raise invalid(f"Invalid value for pageSize: {raw!r}.") from None
    if size < 0:
        raise invalid("pageSize must not be negative.")
    return default if size == 0 else min(size, maximum)


def _page_token(request: Request) -> str | None:
    return request.query_params.get("pageToken") or request.query_params.get("page_token") or None


class Api:
    """The public API handlers bound to one :class:`EmulatorState`.

    :param state: the emulator's state.
    :param api_key: the one accepted API key; None accepts any key (credentials still required).
    """

    def __init__(self, state: EmulatorState, api_key: str | None) -> None:
        self.state = state
        self.api_key = api_key
        self.routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        # (method, regex, handler, self_authorising)
        add = self._add
        add("POST", rf"^/(?:resumable/)?upload/{_VER}/files$", self.upload, False)
        add("GET", rf"^/{_VER}/files$", self.list_files)
        add("GET", rf"^/{_VER}/files/{_ID}$", self.get_file)
        add("DELETE", rf"^/{_VER}/files/{_ID}$", self.delete_file)
        add("GET", rf"^/(?:download/)?{_VER}/files/{_ID}:download$", self.download_file)
        add("GET", rf"^/{_VER}/models$", self.list_models)
        add("GET", rf"^/{_VER}/models/(?P<model>[^/:]+)$", self.get_model)
        add("GET", rf"^/{_VER}/batches$", self.list_batches)
        add("GET", rf"^/{_VER}/batches/{_ID}$", self.get_batch)
        add("DELETE", rf"^/{_VER}/batches/{_ID}$", self.delete_batch)
        # The docs' curl sample for cancel omits -X POST, so GET is accepted too.
        add("POST", rf"^/{_VER}/batches/{_ID}:cancel$", self.cancel_batch)
        add("GET", rf"^/{_VER}/batches/{_ID}:cancel$", self.cancel_batch)
        create = (
            rf"^/{_VER}/(?P<coll>models|tunedModels)/(?P<model>[^/:]+)"
            r":(?P<verb>batchGenerateContent|asyncBatchEmbedContent)$"
        )
        add("POST", create, self.create_batch)
        # Discovery document v1beta: batches.updateGenerateContentBatch / updateEmbedContentBatch
        # are PATCH {+name}:update...Batch with query updateMask (spec §7.5).
        add(
            "PATCH",
            rf"^/{_VER}/batches/{_ID}:(?P<verb>updateGenerateContentBatch|updateEmbedContentBatch)$",
            self.update_batch,
        )

    def _add(self, method: str, pattern: str, handler: Handler, self_auth: bool = False) -> None:
        self.routes.append((method, re.compile(pattern), handler, self_auth))

    # ---- the gate -----------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Serve one API request: journal it, apply a scripted fault, authenticate, dispatch."""
        method = request.method.upper()
        path = request.scope["path"]
        query = request.scope.get("query_string", b"").decode("latin-1")
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            # Credentials are journalled as a mark (present + fingerprint), never as sent.
            "query": journal_query(query),
            "headers": journal_headers(request.headers.items()),
            "body_size": 0,
            "json": None,
            # Wall-clock arrival (epoch seconds): lets an observer time events across processes,
            # e.g. when a killed triggerer's waits resume polling (scripts/chaos_distributed.py).
            "at": time.time(),
        }
        self.state.journal.append(entry)
        ctx = Ctx(request, entry)
        if self.state.settings.latency_seconds:
            # A distant service: every answer (errors and scripted faults too) comes this late.
            await asyncio.sleep(self.state.settings.latency_seconds)
        try:
            fault = self.state.faults.take(method, path + ("?" + query if query else ""))
            if fault is not None:
                early = await self._apply_fault(ctx, fault)
                if early is not None:
                    return early
            handler, params, self_auth = self._match(method, path, request)
            if not self_auth:
                ctx.caller = self._authenticate(request)
            self._read_fields(ctx)
            # Upload handlers persist the bytes a drop fault lets through (they flag themselves).
            keeps_partial = handler == self.upload or getattr(handler, "keeps_partial_body", False)
            if ctx.drop_after is not None and not keeps_partial:
                await self._read_then_drop(ctx)
                return Response(status_code=500)  # never sent: the connection is gone
            response = await handler(ctx, **params)
            if ctx.lose_answer:
                await drop_connection(request.scope)
                return Response(status_code=500)  # never sent: the connection is gone
            return response
        except ApiError as exc:
            return error_response(exc)

    async def _apply_fault(self, ctx: Ctx, fault: Fault) -> Response | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop_after_bytes is not None:
            ctx.drop_after = fault.drop_after_bytes
            return None
        if fault.lose_answer:
            ctx.lose_answer = True
            return None
        if fault.status is None:
            return None
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if ctx.request.url.path.startswith(("/upload/", "/resumable/")):
            # The SDK re-sends a chunk whose answer lacks this header; a fault must not look like that.
            headers["X-Goog-Upload-Status"] = "active"
        if fault.body is not None:
            return json_response(fault.body, status=fault.status, headers=headers)
        return error_response(ApiError(fault.status, headers=headers))

    def _match(self, method: str, path: str, request: Request) -> tuple[Handler, dict[str, str], bool]:
        path_known = False
        for route_method, regex, handler, self_auth in self.routes:
            found = regex.match(path)
            if found is None:
                continue
            path_known = True
            if route_method != method:
                continue
            # An upload-session URL carries its own authorisation (upload_id), a start does not.
            authorised = self_auth or (handler == self.upload and "upload_id" in request.query_params)
            return handler, found.groupdict(), authorised
        if path_known:
            raise ApiError(404, f"Method {method} is not supported for {path}.")
        raise ApiError(404, f"Method not found: {path}.")

    def _read_fields(self, ctx: Ctx) -> None:
        """Parse the ``fields`` system parameter; mode ``refuse_fields`` answers 400 to it instead."""
        raw = ctx.request.query_params.get("fields")
        if raw is None:
            return
        if self.state.settings.has("refuse_fields"):
            raise invalid(f"Invalid value at 'fields': partial responses are not supported here ({raw!r}).")
        try:
            ctx.fields = parse_fields(raw)
        except FieldsError as exc:
            raise invalid(str(exc)) from None

    def _shaped(self, ctx: Ctx, data: dict[str, Any]) -> Response:
        """A JSON answer reduced to ``fields`` (if asked), or 503 when ``huge_inline_503`` finds it too big.

        The 503 reproduces spec §9.4: full GETs of batches with huge inline output answered 503
        while polls that leave the output out kept working.
        """
        if ctx.fields is not None:
            data = apply_fields(data, ctx.fields)
        body = json.dumps(data, separators=(",", ":"))
        settings = self.state.settings
        if settings.has("huge_inline_503") and len(body) > settings.huge_output_bytes:
            raise ApiError(503, "The service is currently unavailable.")
        return Response(content=body, media_type="application/json")

    def _visible(self, ctx: Ctx, owner: str | None) -> bool:
        """Mode ``per_key_visibility``: only the creating key sees a resource (issue 9 §3.9)."""
        return not self.state.settings.has("per_key_visibility") or owner == ctx.caller

    def _authenticate(self, request: Request) -> str | None:
        """Accept ``x-goog-api-key``, ``?key=`` or ``Authorization: Bearer``, like the live service.

        Returns the API key used (None for a bearer token), the identity ``per_key_visibility`` uses.

        :raises ApiError: 403 PERMISSION_DENIED without credentials; 400 API_KEY_INVALID for a key
            other than the configured one (or ``extra_api_keys``). Any non-empty bearer token is
            accepted (the emulator cannot verify OAuth tokens).
        """
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        authorization = request.headers.get("authorization", "")
        bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        if key:
            accepted = {self.api_key, *self.state.settings.extra_api_keys}
            if self.api_key is not None and key not in accepted:
                raise ApiError(
                    400,
                    "API key not valid. Please pass a valid API key.",
                    details=[
                        error_info("API_KEY_INVALID"),
                        {
                            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                            "locale": "en-US",
                            "message": "API key not valid. Please pass a valid API key.",
                        },
                    ],
                )
            return key
        if bearer:
            return None
        raise ApiError(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
        )

    async def _read_then_drop(self, ctx: Ctx) -> None:
        """Consume up to ``drop_after`` body bytes, then abort the connection without a response."""
        limit = ctx.drop_after or 0
        seen = 0
        if limit > 0:
            async for chunk in ctx.request.stream():
                seen += len(chunk)
                if seen >= limit:
                    break
        ctx.entry["body_size"] = min(seen, limit)
        await drop_connection(ctx.request.scope)

    async def _read_json(self, ctx: Ctx, limit: int = MAX_JSON_BODY_BYTES) -> Any:
        declared = ctx.request.headers.get("content-length")
        too_big = ApiError(400, f"Request payload size exceeds the limit: {limit} bytes.")
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in ctx.request.stream():
            size += len(chunk)
            if size > limit:
                ctx.entry["body_size"] = size
                raise too_big
            chunks.append(chunk)
        raw = b"".join(chunks)
        ctx.entry["body_size"] = size
        data = parse_json_lenient(raw)
        ctx.entry["json"] = data
        return data

    # ---- uploads --------------------------------------------------------------------------------

    async def upload(self, ctx: Ctx, ver: str) -> Response:
        upload_id = ctx.request.query_params.get("upload_id")
        if upload_id is None:
            return await self._upload_start(ctx, ver)
        return await self._upload_chunk(ctx, upload_id)

    async def _upload_start(self, ctx: Ctx, ver: str) -> Response:
        headers = ctx.request.headers
        body = await self._read_json(ctx, limit=1024 * 1024)
        protocol = headers.get("x-goog-upload-protocol", "").lower()
        command = headers.get("x-goog-upload-command", "").lower()
        if protocol != "resumable" or "start" not in command:
            raise invalid(
                "The emulator supports the resumable upload protocol only "
                "(X-Goog-Upload-Protocol: resumable, X-Goog-Upload-Command: start)."
            )
        declared: int | None = None
        raw_length = headers.get("x-goog-upload-header-content-length")
        if raw_length:
            try:
                declared = int(raw_length)
            except ValueError:
                raise invalid("X-Goog-Upload-Header-Content-Length must be an integer.") from None
            if declared > MAX_FILE_BYTES:
                raise invalid(
                    f"File size {declared} bytes exceeds the maximum of {MAX_FILE_BYTES} bytes (2 GB)."
                )
        meta = field(body, "file") or {}
        if not isinstance(meta, dict):
            raise invalid("'file' must be an object.")
        file_id = new_id(FILE_ID_LENGTH)
        wanted = field(meta, "name")
        if wanted:
            file_id = str(wanted).removeprefix("files/")
            if not valid_file_id(file_id):
                raise invalid(f"Invalid file name {wanted!r}: use up to 40 of [a-z0-9-], no edge dashes.")
            if self.state.file_id_taken(file_id):
                raise ApiError(409, f"File files/{file_id} already exists.")
        mime = (
            headers.get("x-goog-upload-header-content-type")
            or field(meta, "mimeType")
            or "application/octet-stream"
        )
        display = field(meta, "displayName")
        upload_id = new_id(32)
        session = UploadSession(
            upload_id=upload_id,
            file_id=file_id,
            display_name=str(display) if display else None,
            mime_type=str(mime),
            declared_size=declared,
            path=self.state.data_dir / "uploads" / f"{upload_id}.part",
            owner=ctx.caller,
        )
        session.path.touch()
        self.state.sessions[upload_id] = session
        url = f"{base_url(ctx.request)}/upload/{ver}/files?upload_id={upload_id}&upload_protocol=resumable"
        return Response(
            status_code=200,
            headers={
                "X-Goog-Upload-Status": "active",
                "X-Goog-Upload-URL": url,
                "X-Goog-Upload-Control-URL": url,
                "X-Goog-Upload-Chunk-Granularity": str(CHUNK_GRANULARITY),
            },
        )

    async def _upload_chunk(self, ctx: Ctx, upload_id: str) -> Response:
        session = self.state.sessions.get(upload_id)
        if session is None:
            raise ApiError(
                404, "No upload session with this upload_id.", headers={"X-Goog-Upload-Status": "final"}
            )
        commands = {
            c.strip() for c in ctx.request.headers.get("x-goog-upload-command", "").lower().split(",")
        }
        if "cancel" in commands:
            if session.status == "active":
                session.status = "cancelled"
                session.close()
                remove_quietly(session.path)
            return Response(status_code=200, headers={"X-Goog-Upload-Status": session.status})
        if session.status == "cancelled":
            raise ApiError(
                400,
                "The upload session was cancelled.",
                status="FAILED_PRECONDITION",
                headers={"X-Goog-Upload-Status": "cancelled"},
            )
        if session.status == "final" and session.file is not None:
            # Query, or a final chunk re-sent after a lost answer: report the finished file again.
            return self._final_response(ctx, session.file)
        if "query" in commands:
            return Response(
                status_code=200,
                headers=_active_session_headers(session),
            )
        if "upload" in commands:
            raw_offset = ctx.request.headers.get("x-goog-upload-offset", "")
            try:
                offset = int(raw_offset)
            except ValueError:
                raise invalid("X-Goog-Upload-Offset is required on upload commands.") from None
            if offset != session.received:
                raise ApiError(
                    400,
                    f"Upload offset {offset} does not match the {session.received} bytes received so far; "
                    "query the session and resume from X-Goog-Upload-Size-Received.",
                    headers=_active_session_headers(session),
                )
            dropped = await self._receive_chunk(ctx, session)
            if dropped:
                return Response(status_code=500)  # never sent: the connection is gone
        elif "finalize" not in commands:
            raise invalid("X-Goog-Upload-Command must be upload, finalize, query or cancel.")
        if "finalize" in commands:
            return self._finalize(ctx, session)
        return Response(status_code=200, headers={"X-Goog-Upload-Status": "active"})

    async def _receive_chunk(self, ctx: Ctx, session: UploadSession) -> bool:
        """Stream this chunk's body to the session file. Returns True if a fault dropped the connection."""
        limit = session.declared_size if session.declared_size is not None else MAX_FILE_BYTES
        allowance = ctx.drop_after
        start = session.received
        if allowance == 0:
            await drop_connection(ctx.request.scope)
            return True
        async for chunk in ctx.request.stream():
            if allowance is not None:
                chunk = chunk[: allowance - (session.received - start)]
            if session.received + len(chunk) > min(limit, MAX_FILE_BYTES):
                session.flush()
                ctx.entry["body_size"] = session.received - start
                raise ApiError(
                    400,
                    f"Upload exceeds the declared size of {limit} bytes.",
                    headers=_active_session_headers(session),
                )
            if chunk:
                session.write(chunk)
            if allowance is not None and session.received - start >= allowance:
                break
        session.flush()
        ctx.entry["body_size"] = session.received - start
        if allowance is not None:
            # The fault's bytes are persisted: a later `query` reports them.
            await drop_connection(ctx.request.scope)
            return True
        return False

    def _finalize(self, ctx: Ctx, session: UploadSession) -> Response:
        if session.declared_size is not None and session.received != session.declared_size:
            raise ApiError(
                400,
                f"Finalized with {session.received} bytes but {session.declared_size} were declared.",
                headers=_active_session_headers(session),
            )
        session.close()
        settings = self.state.settings
        destination = self.state.file_path(session.file_id)
        os.replace(session.path, destination)
        record = FileRecord(
            file_id=session.file_id,
            display_name=session.display_name,
            mime_type=session.mime_type,
            size=session.received,
            sha256_hash=session.sha256_hash(),
            create_time=self.state.clock.now(),
            source="UPLOADED",
            path=destination,
            owner=session.owner,
            processing_seconds=(
                settings.file_processing_seconds if settings.has("files_processing") else 0.0
            ),
        )
        self.state.add_file(record)
        session.status = "final"
        session.file = record
        return self._final_response(ctx, record)

    def _final_response(self, ctx: Ctx, record: FileRecord) -> Response:
        return json_response(
            {"file": record.render(base_url(ctx.request), now=self.state.clock.now())},
            headers={"X-Goog-Upload-Status": "final"},
        )

    # ---- files ----------------------------------------------------------------------------------

    async def list_files(self, ctx: Ctx, ver: str) -> Response:
        size = _page_size(ctx.request, FILES_PAGE_DEFAULT, FILES_PAGE_MAX)
        page, token = self.state.list_files(
            size, _page_token(ctx.request), lambda f: self._visible(ctx, f.owner)
        )
        now = self.state.clock.now()
        data: dict[str, Any] = {}
        if page:
            data["files"] = [f.render(base_url(ctx.request), ver, now) for f in page]
        if token:
            data["nextPageToken"] = token
        return self._shaped(ctx, data)

    def _file(self, ctx: Ctx, id: str, request: str | None = None) -> FileRecord:
        """The file ``files/<id>`` as this caller may see it. ``request`` (``DeleteFileRequest``)
        applies the Files API's 40-character id limit (a get and a download do not)."""
        if request is not None and len(id) > MAX_FILE_ID:
            raise file_id_too_long(request)
        record = self.state.get_file(id)
        if not self._visible(ctx, record.owner):
            raise file_gone(id)
        return record

    async def get_file(self, ctx: Ctx, ver: str, id: str) -> Response:
        # Reading a batch output file by name works again (python-genai #1759 on google-genai
        # 1.53; #1613 had seen it refused); only the delete keeps the 40-character limit.
        record = self._file(ctx, id)
        return self._shaped(ctx, record.render(base_url(ctx.request), ver, self.state.clock.now()))

    async def delete_file(self, ctx: Ctx, ver: str, id: str) -> Response:
        self._file(ctx, id, "DeleteFileRequest")
        self.state.delete_file(id)
        return json_response({})

    async def download_file(self, ctx: Ctx, ver: str, id: str) -> Response:
        record = self._file(ctx, id)
        if record.source != "GENERATED":
            raise ApiError(
                400,
                f"File files/{id} was uploaded; only files generated by the service (batch results) "
                "can be downloaded.",
                status="FAILED_PRECONDITION",
            )

        async def blocks() -> AsyncIterator[bytes]:
            # Page-cache reads of 1 MiB are far faster than a thread hop per block.
            with open(record.path, "rb") as handle:  # noqa: ASYNC230
                while block := handle.read(DOWNLOAD_BLOCK):
                    yield block

        return StreamingResponse(
            blocks(),
            media_type=record.mime_type,
            headers={"Content-Length": str(record.size)},
        )

    # ---- models ---------------------------------------------------------------------------------

    async def list_models(self, ctx: Ctx, ver: str) -> Response:
        size = _page_size(ctx.request, 50, 1000)
        return self._shaped(ctx, model_catalogue.page(size, _page_token(ctx.request)))

    async def get_model(self, ctx: Ctx, ver: str, model: str) -> Response:
        return self._shaped(ctx, model_catalogue.get(model, ver))

    # ---- batches --------------------------------------------------------------------------------

    async def create_batch(self, ctx: Ctx, ver: str, coll: str, model: str, verb: str) -> Response:
        if coll == "models":
            model_catalogue.refuse_unless_batchable(model, verb, ver)
        body = await self._read_json(ctx, limit=MAX_INLINE_BODY_BYTES)
        batch = field(body, "batch")
        if not isinstance(batch, dict):
            raise invalid("* BatchGenerateContentRequest.batch: batch is required (an object).")
        config = field(batch, "inputConfig")
        file_name = field(config, "fileName")
        requests = field(field(config, "requests"), "requests")
        if (file_name is None) == (requests is None):
            raise invalid("batch.inputConfig must set exactly one of fileName or requests.requests.")
        if requests is not None and (not isinstance(requests, list) or not requests):
            raise invalid("batch.inputConfig.requests.requests must be a non-empty list.")
        if file_name is not None and (not isinstance(file_name, str) or not file_name.startswith("files/")):
            raise invalid("batch.inputConfig.fileName must look like files/<id>.")
        raw_priority = field(batch, "priority", 0)
        try:
            priority = int(raw_priority)
        except (TypeError, ValueError):
            raise invalid("batch.priority must be an integer.") from None
        display = field(batch, "displayName")
        webhook = _webhook_config(field(batch, "webhookConfig"))
        kind = "generate" if verb == "batchGenerateContent" else "embed"
        if requests is not None and self.state.settings.has("strict_request_fields"):
            self._refuse_unknown_fields(kind, [json.dumps(item) for item in requests])
        record = self.state.create_batch(
            kind=kind,
            model=f"{coll}/{model}",
            display_name=str(display) if display else None,
            priority=priority,
            inline=requests,
            input_file=file_name,
            owner=ctx.caller,
        )
        if record.input_path is not None:
            if self.state.settings.has("strict_request_fields"):
                lines = await asyncio.to_thread(_read_lines, record.input_path)
                try:
                    self._refuse_unknown_fields(kind, lines)
                except ApiError:
                    remove_quietly(record.input_path)
                    raise
            await self.state.count_file_requests(record)
        record.webhook_config = webhook
        self.state.register_batch(record)
        # The answer describes the batch as created (PENDING, cookbook cell 44 output), even when
        # counting a large input file took longer than the PENDING window of a fast test batch.
        return json_response(record.render(record.create_time))

    def _refuse_unknown_fields(self, kind: str, lines: list[str]) -> None:
        """Mode ``strict_request_fields``: one 400 listing every line's unknown request field."""
        errors = unknown_field_errors(kind, lines)
        if errors:
            raise invalid("\n".join(errors))

    def _batch(self, ctx: Ctx, id: str) -> Any:
        record = self.state.get_batch(id)
        if not self._visible(ctx, record.owner):
            raise not_found(f"batches/{id}")
        return record

    async def get_batch(self, ctx: Ctx, ver: str, id: str) -> Response:
        record = self._batch(ctx, id)
        ready = await self.state.ensure_results(record)
        return self._shaped(ctx, record.render(self.state.clock.now(), finishing=not ready))

    async def list_batches(self, ctx: Ctx, ver: str) -> Response:
        size = _page_size(ctx.request, BATCHES_PAGE_DEFAULT, BATCHES_PAGE_MAX)
        # Without per_key_visibility every batch is visible: no per-batch check (10,000 per page).
        visible = (
            (lambda b: self._visible(ctx, b.owner)) if self.state.settings.has("per_key_visibility") else None
        )
        page, token = self.state.list_batches(size, _page_token(ctx.request), visible)
        ready = [await self.state.ensure_results(record) for record in page]
        now = self.state.clock.now()
        data: dict[str, Any] = {}
        if page:
            data["operations"] = [r.render(now, finishing=not ok) for r, ok in zip(page, ready, strict=True)]
        if token:
            data["nextPageToken"] = token
        return self._shaped(ctx, data)

    async def update_batch(self, ctx: Ctx, ver: str, id: str, verb: str) -> Response:
        """``PATCH batches/{id}:updateGenerateContentBatch?updateMask=priority`` (or the embed one).

        Only ``priority`` is mutable here (the one field an owner has reason to change on a
        running batch); the answer is the bare batch resource, not an Operation (spec §7.5).
        The method must match the batch's kind.
        """
        record = self._batch(ctx, id)
        kind = "generate" if verb == "updateGenerateContentBatch" else "embed"
        if kind != record.kind:
            right = "updateGenerateContentBatch" if record.kind == "generate" else "updateEmbedContentBatch"
            raise invalid(f"batches/{id} is not a {kind} batch; use :{right}.")
        body = await self._read_json(ctx)
        mask = [m.strip() for m in ctx.request.query_params.get("updateMask", "").split(",") if m.strip()]
        if not mask:
            mask = [k for k in (body or {}) if k != "name"] if isinstance(body, dict) else []
        unknown = [m for m in mask if m != "priority"]
        if unknown or not mask:
            raise invalid(f"updateMask must be 'priority' (the only updatable field here), got {mask!r}.")
        try:
            priority = int(field(body, "priority", 0))
        except (TypeError, ValueError):
            raise invalid("batch.priority must be an integer.") from None
        record = self.state.update_priority(id, priority)
        return json_response(record.render_bare(self.state.clock.now()))

    async def cancel_batch(self, ctx: Ctx, ver: str, id: str) -> Response:
        self._batch(ctx, id)
        self.state.cancel_batch(id)
        return json_response({})

    async def delete_batch(self, ctx: Ctx, ver: str, id: str) -> Response:
        self._batch(ctx, id)
        self.state.delete_batch(id)
        return json_response({})


def _webhook_config(raw: Any) -> dict[str, Any] | None:
    """Check and keep ``batch.webhookConfig`` (never called back). REST spelling ``userMetadata``;
    google-genai 3.x sends ``user_metadata`` (spec §5 [OBS]): both are accepted."""
    if raw is None:
        return None
    uris = field(raw, "uris") if isinstance(raw, dict) else None
    if not isinstance(uris, list) or not all(isinstance(u, str) and u for u in uris):
        raise invalid("batch.webhookConfig.uris must be a list of URLs.")
    metadata = field(raw, "userMetadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise invalid("batch.webhookConfig.userMetadata must be an object.")
    return {"uris": list(uris), "userMetadata": metadata or {}}


def _read_lines(path: Any) -> list[str]:
    """The lines of a JSONL input file (text, blank lines kept so numbers match the file's)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\n") for line in handle]


def build_app(
    state: EmulatorState,
    api_key: str | None,
    *,
    bound_to_loopback: bool = True,
    control_token: str | None = None,
) -> FastAPI:
    """The FastAPI application: control plane under ``/_emulator`` plus the catch-all public API.

    :param bound_to_loopback: the server listens on a loopback address only (see ``guard.py``).
    :param control_token: the token control requests must carry (None: none on a loopback bind;
        the control plane is closed on another bind).
    """
    app = FastAPI(title="Gemini Batch API emulator", docs_url=None, redoc_url=None, openapi_url=None)
    api = Api(state, api_key)
    app.state.emulator = state
    from airflow_provider_gemini_batch.emulator.control_routes import add_control_routes

    add_control_routes(app, state, bound_to_loopback=bound_to_loopback, control_token=control_token)
    # Vertex AI batch prediction, Cloud Storage and the token endpoint, through the same gate.
    from airflow_provider_gemini_batch.emulator.cloud import mount_cloud

    app.state.cloud = mount_cloud(
        app, api, state, bound_to_loopback=bound_to_loopback, control_token=control_token
    )
    app.add_route(
        "/{path:path}", api.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    )
    return app
