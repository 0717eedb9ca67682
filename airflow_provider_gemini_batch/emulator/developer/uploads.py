"""The Files API's resumable upload protocol: session start, chunks, query, finalize, cancel.

``POST /upload/{ver}/files`` (also under ``/resumable/``) with ``X-Goog-Upload-Command: start``
opens a session and answers its URL; the session URL (``?upload_id=``) takes ``upload``,
``finalize``, ``query`` and ``cancel`` commands. Wire facts: docs/real-service/wire-format.md,
section Resumable upload. Bodies are streamed to the session's file on disk, never held whole.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from starlette.responses import Response

from airflow_provider_gemini_batch.emulator.developer.models import FILE_ID_LENGTH
from airflow_provider_gemini_batch.emulator.files import (
    CHUNK_GRANULARITY,
    MAX_FILE_BYTES,
    FileRecord,
    UploadSession,
    new_id,
    remove_quietly,
    valid_file_id,
)
from airflow_provider_gemini_batch.emulator.gate import (
    Ctx,
    authorised_by_query,
    base_url,
    json_response,
    keeps_partial_body,
    read_json,
)
from airflow_provider_gemini_batch.emulator.transport import drop_connection
from airflow_provider_gemini_batch.emulator.wire import ApiError, field, invalid

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.emulator.developer.models import DeveloperStore

# The upload start's JSON body holds only the file's metadata.
MAX_START_BODY_BYTES = 1024 * 1024


def active_session_headers(session: UploadSession) -> dict[str, str]:
    """Headers that keep an upload session open and tell the client where to resume."""
    return {"X-Goog-Upload-Status": "active", "X-Goog-Upload-Size-Received": str(session.received)}


class UploadService:
    """The upload handler bound to one :class:`~.models.DeveloperStore`."""

    def __init__(self, store: DeveloperStore) -> None:
        self.store = store

    @keeps_partial_body
    @authorised_by_query("upload_id")
    async def upload(self, ctx: Ctx, ver: str) -> Response:
        """A session start (no ``upload_id``) or a command on an open session."""
        upload_id = ctx.request.query_params.get("upload_id")
        if upload_id is None:
            return await self._start(ctx, ver)
        return await self._command(ctx, upload_id)

    async def _start(self, ctx: Ctx, ver: str) -> Response:
        headers = ctx.request.headers
        body = await read_json(ctx, limit=MAX_START_BODY_BYTES)
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
            if self.store.file_id_taken(file_id):
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
            path=self.store.data_dir / "uploads" / f"{upload_id}.part",
            owner=ctx.caller,
        )
        session.path.touch()
        self.store.sessions[upload_id] = session
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

    async def _command(self, ctx: Ctx, upload_id: str) -> Response:
        session = self.store.sessions.get(upload_id)
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
                headers=active_session_headers(session),
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
                    headers=active_session_headers(session),
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
                    headers=active_session_headers(session),
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
                headers=active_session_headers(session),
            )
        session.close()
        settings = self.store.settings
        destination = self.store.file_path(session.file_id)
        os.replace(session.path, destination)
        record = FileRecord(
            file_id=session.file_id,
            display_name=session.display_name,
            mime_type=session.mime_type,
            size=session.received,
            sha256_hash=session.sha256_hash(),
            create_time=self.store.clock.now(),
            source="UPLOADED",
            path=destination,
            owner=session.owner,
            processing_seconds=(
                settings.file_processing_seconds if settings.has("files_processing") else 0.0
            ),
        )
        self.store.add_file(record)
        session.status = "final"
        session.file = record
        return self._final_response(ctx, record)

    def _final_response(self, ctx: Ctx, record: FileRecord) -> Response:
        return json_response(
            {"file": record.render(base_url(ctx.request), now=self.store.clock.now())},
            headers={"X-Goog-Upload-Status": "final"},
        )
