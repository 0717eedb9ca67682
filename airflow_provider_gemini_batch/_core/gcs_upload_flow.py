"""The Cloud Storage resumable upload as a state machine that does no I/O.

Protocol (Cloud Storage JSON API, https://cloud.google.com/storage/docs/performing-resumable-uploads
and https://cloud.google.com/storage/docs/json_api): the session's URL comes back in the start
answer's ``Location``; chunks are ``PUT`` to it with ``Content-Range: bytes {first}-{last}/{total}``
(multiples of 256 KiB except the last); an incomplete upload answers ``308`` with ``Range:
bytes=0-{last persisted}`` (no ``Range``: nothing persisted), the last chunk ``200``/``201`` with
the object's metadata; a ``PUT`` with ``Content-Range: bytes */{total}`` and no body asks how far
the session got (and answers the same way).

Shape: the one of :mod:`~airflow_provider_gemini_batch._core.upload_flow` (httpx's
``Auth.auth_flow``), with its step and reply types: :meth:`GcsResumableUpload.flow` yields
:class:`~airflow_provider_gemini_batch._core.upload_flow.Send` (reply with a ``Reply`` of status
200, 201 or 308; any other status is the driver's to raise, typed by the shared error mapping; or
``LOST`` for a failure its retry policy retries: the next step is then a status query),
``Resumed`` and ``Progress`` (reply None). It returns the object's metadata and raises
:class:`~airflow_provider_gemini_batch.exceptions.GeminiApiError` for a session that breaks the
protocol: a claim of bytes never sent, :data:`MAX_STALLED_STEPS` chunks in a row without new bytes
kept, an object of another size than the local file.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.upload_flow import (
    ChunkRef,
    Flow,
    Progress,
    Reply,
    Resumed,
    Send,
    Step,
)
from airflow_provider_gemini_batch.exceptions import GeminiApiError

#: Resumable-upload chunks must be multiples of 256 KiB (except the last).
CHUNK_GRANULARITY = 256 * 1024
#: Chunks in a row a session may answer 308 without keeping new bytes before the upload fails.
MAX_STALLED_STEPS = 5


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def chunk_size_for(wanted: int) -> int:
    """``wanted`` bytes rounded down to a multiple of :data:`CHUNK_GRANULARITY` (at least one)."""
    return max(CHUNK_GRANULARITY, wanted // CHUNK_GRANULARITY * CHUNK_GRANULARITY)


def session_url_from_location(reply: Reply, start: routes.ApiRequest, storage_url: str) -> str:
    """The session URL of the start answer (``Location``; a relative one is on ``storage_url``).

    :raises GeminiApiError: the answer named none, or one on another origin (scheme, host, port)
        than ``storage_url``: a session URL is a credential and the file's bytes go to the
        storage host only.
    """
    session = reply.header("Location") or reply.header("X-GUploader-UploadID-Location")
    if not session:
        raise GeminiApiError(
            http_status=reply.status,
            status=None,
            message="the upload session was started but its answer names no session URL (Location)",
            resource=start.resource,
            method=start.what,
        )
    if not session.startswith(("http://", "https://")):
        session = storage_url.rstrip("/") + "/" + session.lstrip("/")
    if _origin(session) != _origin(storage_url):
        raise GeminiApiError(
            http_status=reply.status,
            status=None,
            message=(
                f"the upload session URL points to another host than {storage_url}; refused "
                "(a session URL is a credential and is used on the storage host only)"
            ),
            resource=start.resource,
            method=start.what,
        )
    return session


def next_offset(range_header: str) -> int:
    """The next byte to send after a ``308``: ``Range: bytes=0-N`` -> ``N + 1``; none -> 0."""
    if not range_header:
        return 0
    _, _, span = range_header.partition("=")
    _, _, last = span.partition("-")
    try:
        return int(last) + 1
    except ValueError:
        return 0


class GcsResumableUpload:
    """One Cloud Storage resumable upload of ``size`` bytes in chunks of ``chunk_size``.

    :param session_url: from :func:`session_url_from_location`.
    :param size: the local file's size in bytes.
    :param chunk_size: bytes per chunk (a multiple of 256 KiB: :func:`chunk_size_for`).
    :param resource: the ``gs://`` URI, for error messages.
    :param source: the local file's name, for error messages.

    :attr:`offset` is the byte the next chunk starts at; :attr:`sent` how far any chunk reached.
    """

    def __init__(self, session_url: str, *, size: int, chunk_size: int, resource: str, source: str) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.session_url = session_url
        self.size = size
        self.chunk_size = chunk_size
        self.resource = resource
        self.source = source
        self.offset = 0
        self.sent = 0

    def _put(self, content_range: str) -> routes.ApiRequest:
        return routes.ApiRequest(
            "PUT",
            self.session_url,
            headers={"Content-Range": content_range, "Accept-Encoding": "identity"},
            resource=self.resource,
            authenticated=False,
            what=f"Uploading to {self.resource}",
        )

    def flow(self) -> Flow:
        """The protocol: see the module docstring for the steps and replies."""
        resuming = False
        while True:  # one pass per attempt: every attempt after a failure first asks the offset
            if resuming:
                query = self._put(f"bytes */{self.size}")
                reply = yield Send(query)
                if not isinstance(reply, Reply):
                    continue  # the query failed too: just another failed attempt
                before = self.offset
                done = self._read(reply, query)
                if done is not None:
                    return done
                yield Resumed(self.offset, self.size)
                if self.offset > before:
                    yield Progress(self.offset)
            resuming = True
            done = yield from self._chunks()
            if done is not None:
                return done

    def _chunks(self) -> Generator[Step, Any, Mapping[str, Any] | None]:
        """Send chunks from :attr:`offset` until the object exists (its metadata) or a request
        is lost (None: the caller resumes)."""
        stalled = 0
        while True:
            first = self.offset
            length = min(self.chunk_size, self.size - first)
            # Nothing left to send (an empty file, or a session holding every byte): ask.
            content_range = (
                f"bytes {first}-{first + length - 1}/{self.size}" if length else f"bytes */{self.size}"
            )
            req = self._put(content_range)
            self.sent = max(self.sent, first + length)
            reply = yield Send(req, ChunkRef(first, length) if length else None)
            if not isinstance(reply, Reply):
                return None
            done = self._read(reply, req)
            if done is not None:
                return done
            if self.offset > first:
                stalled = 0
                yield Progress(self.offset)
                continue
            # A session that answers 308 without keeping bytes would loop forever.
            stalled += 1
            if stalled >= MAX_STALLED_STEPS:
                raise GeminiApiError(
                    http_status=308,
                    status=None,
                    message=(
                        f"the upload session kept no new bytes in {MAX_STALLED_STEPS} chunks in a row "
                        f"(stuck at byte {self.offset} of {self.size})"
                    ),
                    resource=self.resource,
                    method="Uploading",
                )

    def _read(self, reply: Reply, req: routes.ApiRequest) -> Mapping[str, Any] | None:
        """The object of a final answer (checked), or None after a ``308`` (:attr:`offset` set to
        the byte the session holds up to)."""
        if reply.status in (200, 201):
            return self._stored(reply, req)
        if reply.status != 308:
            raise GeminiApiError(
                http_status=reply.status,
                status=None,
                message=f"the upload session answered HTTP {reply.status} at byte {self.offset}",
                resource=self.resource,
                method=req.what,
            )
        kept = next_offset(reply.header("Range"))
        if kept > self.sent:
            raise GeminiApiError(
                http_status=308,
                status=None,
                message=f"the upload session claims {kept} bytes; only {self.sent} were sent",
                resource=self.resource,
                method=req.what,
            )
        self.offset = kept
        return None

    def _stored(self, reply: Reply, req: routes.ApiRequest) -> Mapping[str, Any]:
        """The object's metadata, once its size is the local file's."""
        try:
            obj = json.loads(reply.body)
        except ValueError:
            obj = None
        if not isinstance(obj, Mapping):
            raise GeminiApiError(
                http_status=reply.status,
                status=None,
                message="the final upload answer is not a JSON object (the object's metadata)",
                resource=self.resource,
                method=req.what,
            )
        shown = obj.get("size") or 0
        try:
            stored = int(shown)
        except (TypeError, ValueError):
            stored, shown = -1, repr(shown)  # not a size: never the local file's
        if stored != self.size:
            raise GeminiApiError(
                http_status=reply.status,
                status=None,
                message=f"the service stored {shown} bytes of the {self.size} bytes of {self.source}",
                resource=self.resource,
                method="Uploading",
            )
        return obj
