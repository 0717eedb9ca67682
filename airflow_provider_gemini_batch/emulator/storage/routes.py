"""Routes of the Cloud Storage JSON API subset (what google-cloud-storage and gcsfs use).

* ``POST /upload/storage/v1/b/{bucket}/o?uploadType=multipart|media|resumable`` uploads; a
  resumable session continues with ``PUT <session URL>`` chunks carrying ``Content-Range``,
  answered ``308`` with ``Range: bytes=0-<last>`` until the last one (resumable upload protocol,
  https://cloud.google.com/storage/docs/performing-resumable-uploads); ``DELETE`` cancels (499).
* ``GET /storage/v1/b/{bucket}/o`` lists (``prefix``, ``delimiter``, ``pageToken``, ``maxResults``).
* ``GET /storage/v1/b/{bucket}/o/{object}`` metadata, or the bytes with ``alt=media``;
  ``GET /download/storage/v1/b/{bucket}/o/{object}?alt=media`` the bytes (``Range`` honoured).
* ``DELETE /storage/v1/b/{bucket}/o/{object}`` (204); ``GET /storage/v1/b/{bucket}`` an implicit bucket.

Anonymous requests are accepted, and so is any ``Authorization`` header: other Cloud Storage
emulators (fake-gcs-server, the one in google-cloud-cpp's tests) do the same, and clients that
honour ``STORAGE_EMULATOR_HOST`` send anonymous credentials. Bodies are streamed to disk.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import Response, StreamingResponse

from airflow_provider_gemini_batch.emulator.files import new_id
from airflow_provider_gemini_batch.emulator.storage.models import (
    LIST_PAGE_DEFAULT,
    LIST_PAGE_MAX,
    ObjectStore,
    ResumableSession,
    StoredObject,
    check_names,
)
from airflow_provider_gemini_batch.emulator.storage.responses import (
    BodyReader,
    boundary_of,
    parse_range,
    render_bucket,
    render_object,
)
from airflow_provider_gemini_batch.emulator.transport import drop_connection
from airflow_provider_gemini_batch.emulator.wire import ApiError, invalid

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.emulator.gate import Ctx

Handler = Callable[..., Awaitable[Response]]
Route = tuple[str, str, Handler, bool]

_UPLOAD = r"^/upload/storage/v1/b/(?P<bucket>[^/]+)/o$"
_OBJECT = r"^/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>.+)$"
_DOWNLOAD = r"^/download/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>.+)$"
MAX_METADATA_BYTES = 1024 * 1024
DOWNLOAD_BLOCK = 1024 * 1024


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _base(ctx: Ctx) -> str:
    return str(ctx.request.base_url).rstrip("/")


def _metadata_fields(meta: Any) -> tuple[str | None, str | None, dict[str, str] | None]:
    """(name, contentType, metadata) of an upload's JSON object resource."""
    if not isinstance(meta, dict):
        raise invalid("The object metadata must be a JSON object.")
    extra = meta.get("metadata")
    if extra is not None and not isinstance(extra, dict):
        raise invalid("Object metadata 'metadata' must be an object of strings.")
    name = meta.get("name")
    return (
        str(name) if name is not None else None,
        meta.get("contentType"),
        {str(k): str(v) for k, v in extra.items()} if extra else None,
    )


class StorageService:
    """The Cloud Storage handlers bound to one :class:`ObjectStore`."""

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects

    def routes(self) -> list[Route]:
        """(method, regex, handler, self_authorising) entries for the gate's route table."""
        return [
            ("POST", _UPLOAD, self.upload, True),
            ("PUT", _UPLOAD, self.resumable_chunk, True),
            ("DELETE", _UPLOAD, self.resumable_cancel, True),
            ("GET", r"^/storage/v1/b/(?P<bucket>[^/]+)/o$", self.list, True),
            ("GET", _OBJECT, self.get, True),
            ("DELETE", _OBJECT, self.delete, True),
            ("GET", _DOWNLOAD, self.download, True),
            ("GET", r"^/storage/v1/b/(?P<bucket>[^/]+)$", self.bucket, True),
        ]

    # ---- uploads --------------------------------------------------------------------------------

    async def upload(self, ctx: Ctx, bucket: str) -> Response:
        kind = ctx.request.query_params.get("uploadType", "")
        if kind == "multipart":
            return await self._multipart(ctx, bucket)
        if kind == "media":
            return await self._media(ctx, bucket)
        if kind == "resumable":
            return await self._start_resumable(ctx, bucket)
        raise invalid(f"uploadType must be multipart, media or resumable, got {kind!r}.")

    async def _stream_into(self, ctx: Ctx, chunks: AsyncIterator[bytes], writer: Any) -> None:
        try:
            async for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.discard()
            raise

    async def _media(self, ctx: Ctx, bucket: str) -> Response:
        name = ctx.request.query_params.get("name", "")
        check_names(bucket, name)
        writer = self.objects.new_writer()
        await self._stream_into(ctx, ctx.request.stream(), writer)
        ctx.entry["body_size"] = writer.size
        stored = self.objects.commit(bucket, name, writer, ctx.request.headers.get("content-type"))
        return _json(render_object(stored, _base(ctx)))

    async def _multipart(self, ctx: Ctx, bucket: str) -> Response:
        delimiter = b"--" + boundary_of(ctx.request.headers.get("content-type", ""))
        reader = BodyReader(ctx.request.stream().__aiter__())
        await reader.read_until(delimiter, MAX_METADATA_BYTES)
        await reader.read_until(b"\r\n\r\n", MAX_METADATA_BYTES)
        raw_meta = await reader.read_until(b"\r\n" + delimiter, MAX_METADATA_BYTES)
        try:
            meta = json.loads(raw_meta) if raw_meta.strip() else {}
        except ValueError:
            raise invalid(
                "The first part of a multipart upload must be the object's JSON metadata."
            ) from None
        ctx.entry["json"] = meta
        name, content_type, metadata = _metadata_fields(meta)
        name = name or ctx.request.query_params.get("name", "")
        check_names(bucket, name)
        media_headers = await reader.read_until(b"\r\n\r\n", MAX_METADATA_BYTES)
        if not content_type:
            for line in media_headers.decode("latin-1").splitlines():
                key, _, value = line.partition(":")
                if key.strip().lower() == "content-type":
                    content_type = value.strip()
        writer = self.objects.new_writer()
        await self._stream_into(ctx, reader.stream_until(b"\r\n" + delimiter), writer)
        ctx.entry["body_size"] = reader.total
        stored = self.objects.commit(bucket, name, writer, content_type, metadata)
        return _json(render_object(stored, _base(ctx)))

    async def _start_resumable(self, ctx: Ctx, bucket: str) -> Response:
        raw = await ctx.request.body()
        if len(raw) > MAX_METADATA_BYTES:
            raise invalid("The resumable upload's metadata is too large.")
        try:
            meta = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise invalid("A resumable upload starts with the object's JSON metadata (or no body).") from None
        ctx.entry["json"] = meta
        name, content_type, metadata = _metadata_fields(meta)
        name = name or ctx.request.query_params.get("name", "")
        check_names(bucket, name)
        headers = ctx.request.headers
        declared_raw = headers.get("x-upload-content-length")
        declared = int(declared_raw) if declared_raw and declared_raw.isdigit() else None
        upload_id = new_id(32)
        self.objects.sessions[upload_id] = ResumableSession(
            upload_id=upload_id,
            bucket=bucket,
            name=name,
            content_type=content_type or headers.get("x-upload-content-type") or "application/octet-stream",
            metadata=metadata,
            declared_size=declared,
            writer=self.objects.new_writer(),
        )
        location = f"{_base(ctx)}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={upload_id}"
        return Response(status_code=200, headers={"Location": location, "X-GUploader-UploadID": upload_id})

    def _session(self, ctx: Ctx) -> ResumableSession:
        upload_id = ctx.request.query_params.get("upload_id", "")
        session = self.objects.sessions.get(upload_id)
        if session is None:
            raise ApiError(404, "No such upload session (upload_id).")
        if session.cancelled:
            raise ApiError(499, "The upload session was cancelled.", status="CANCELLED")
        return session

    def _incomplete(self, session: ResumableSession) -> Response:
        received = session.writer.size
        headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
        # 308 "Resume Incomplete", as the resumable upload protocol answers an unfinished upload.
        return Response(status_code=308, headers=headers)

    def _finish(self, ctx: Ctx, session: ResumableSession) -> Response:
        if session.done is None:
            session.done = self.objects.commit(
                session.bucket, session.name, session.writer, session.content_type, session.metadata
            )
        return _json(render_object(session.done, _base(ctx)))

    async def resumable_chunk(self, ctx: Ctx, bucket: str) -> Response:
        session = self._session(ctx)
        if session.done is not None:
            return self._finish(ctx, session)
        spec = ctx.request.headers.get("content-range", "").strip()
        total: int | None = None
        start: int | None = None
        if spec:
            unit, _, rest = spec.partition(" ")
            span, _, size = rest.partition("/")
            if unit.lower() != "bytes" or not size:
                raise invalid(
                    f"Invalid Content-Range {spec!r}: use bytes a-b/total, bytes a-b/* or bytes */total."
                )
            total = None if size == "*" else int(size)
            if span != "*":
                start = int(span.partition("-")[0])
        writer = session.writer
        if spec and start is None:  # a status query
            if total is not None and writer.size == total:
                return self._finish(ctx, session)
            return self._incomplete(session)
        skip = writer.size - (start or 0)
        if skip < 0:
            raise ApiError(
                400,
                f"Chunk starts at {start} but {writer.size} bytes were received; query the session "
                "(Content-Range: bytes */*) and resume from its Range.",
            )
        received = 0
        allowance = ctx.drop_after  # a scripted fault: keep this many bytes, then drop the connection
        async for chunk in ctx.request.stream():
            if allowance is not None:
                chunk = chunk[: max(0, allowance - received)]
            received += len(chunk)
            if skip >= len(chunk):
                skip -= len(chunk)
            else:
                writer.write(chunk[skip:])
                skip = 0
            if allowance is not None and received >= allowance:
                break
        ctx.entry["body_size"] = received
        if allowance is not None:
            # The bytes are kept (a status query reports them), as the service keeps what it got.
            writer.flush()
            await drop_connection(ctx.request.scope)
            return Response(status_code=500)  # never sent: the connection is gone
        if not spec or (total is not None and writer.size >= total):
            if total is not None and writer.size != total:
                raise invalid(f"Upload holds {writer.size} bytes but Content-Range said {total}.")
            return self._finish(ctx, session)
        return self._incomplete(session)

    resumable_chunk.keeps_partial_body = True  # type: ignore[attr-defined]

    async def resumable_cancel(self, ctx: Ctx, bucket: str) -> Response:
        session = self._session(ctx)
        session.cancelled = True
        session.writer.discard()
        return Response(status_code=499)

    # ---- reads ----------------------------------------------------------------------------------

    def _object(self, ctx: Ctx, bucket: str, name: str) -> StoredObject:
        stored = self.objects.get(bucket, name)
        wanted = ctx.request.query_params.get("generation")
        if wanted and wanted != str(stored.generation):
            raise ApiError(404, f"No such object: {bucket}/{name}#{wanted}")
        return stored

    async def get(self, ctx: Ctx, bucket: str, name: str) -> Response:
        if ctx.request.query_params.get("alt") == "media":
            return await self.download(ctx, bucket, name)
        return _json(render_object(self._object(ctx, bucket, name), _base(ctx)))

    async def download(self, ctx: Ctx, bucket: str, name: str) -> Response:
        stored = self._object(ctx, bucket, name)
        headers = {
            "X-Goog-Generation": str(stored.generation),
            "X-Goog-Metageneration": "1",
            "X-Goog-Stored-Content-Length": str(stored.size),
            "X-Goog-Storage-Class": "STANDARD",
            "Accept-Ranges": "bytes",
        }
        try:
            span = parse_range(ctx.request.headers.get("range", ""), stored.size)
        except ValueError:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{stored.size}"})
        status = 200
        start, end = 0, stored.size - 1
        if span is None:
            headers["X-Goog-Hash"] = f"crc32c={stored.crc32c},md5={stored.md5_hash}"
        else:
            status = 206
            start, end = span
            headers["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
        headers["Content-Length"] = str(end - start + 1)
        path = stored.path

        async def blocks() -> AsyncIterator[bytes]:
            left = end - start + 1
            with open(path, "rb") as handle:  # noqa: ASYNC230 - page-cache reads, like files downloads
                handle.seek(start)
                while left > 0:
                    block = handle.read(min(DOWNLOAD_BLOCK, left))
                    if not block:
                        break
                    left -= len(block)
                    yield block

        return StreamingResponse(
            blocks(), status_code=status, media_type=stored.content_type, headers=headers
        )

    async def list(self, ctx: Ctx, bucket: str) -> Response:
        query = ctx.request.query_params
        raw = query.get("maxResults") or ""
        try:
            size = int(raw) if raw else LIST_PAGE_DEFAULT
        except ValueError:
            raise invalid(f"Invalid value for maxResults: {raw!r}.") from None
        size = LIST_PAGE_DEFAULT if size <= 0 else min(size, LIST_PAGE_MAX)
        token = query.get("pageToken")
        after = None
        if token:
            try:
                after = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
            except ValueError:
                raise invalid("Invalid pageToken.") from None
        objects, prefixes, last = self.objects.list(
            bucket, query.get("prefix", ""), query.get("delimiter", ""), size, after
        )
        data: dict[str, Any] = {"kind": "storage#objects"}
        if last is not None:
            data["nextPageToken"] = base64.urlsafe_b64encode(last.encode("utf-8")).decode().rstrip("=")
        if prefixes:
            data["prefixes"] = prefixes
        if objects:
            base = _base(ctx)
            data["items"] = [render_object(o, base) for o in objects]
        return _json(data)

    async def delete(self, ctx: Ctx, bucket: str, name: str) -> Response:
        self._object(ctx, bucket, name)
        self.objects.delete(bucket, name)
        return Response(status_code=204)

    async def bucket(self, ctx: Ctx, bucket: str) -> Response:
        return _json(render_bucket(bucket, _base(ctx)))
