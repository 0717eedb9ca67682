"""The resumable upload protocol as a state machine that does no I/O.

Protocol: the Files API's resumable upload (``media.upload`` in the REST reference,
https://ai.google.dev/api/files; headers ``X-Goog-Upload-Protocol``/``-Command``/``-Offset``/
``-Status``/``-Size-Received``/``-URL``), as google-genai's ``_api_client.py`` (``_upload_fd``)
speaks it and as ``docs/emulator.md`` ("Files") lays it out: ``start`` opens a session whose URL
authorises itself; chunks are posted to it with ``upload`` (``upload, finalize`` for the last);
every answer says ``active`` or ``final``; ``query`` asks how many bytes the session holds
(``X-Goog-Upload-Size-Received``) so an upload cut mid-chunk continues from there; ``cancel``
abandons a session, and a session never finalized creates no file.

Shape: the one of httpx's ``Auth.auth_flow``. :meth:`ResumableUpload.flow` is a generator that
yields *steps* and receives *replies*; the driver (``hooks/_flow_driver.py`` for the sync hook,
which also drives the Cloud Storage upload of ``_core/gcs_upload_flow.py``) does
the I/O for each step and sends back what happened:

* :class:`Send` (a request, and for a chunk the :class:`ChunkRef` of its body): reply with a
  :class:`Reply` (status, headers, body of an accepted answer), or :data:`LOST` when the request
  failed in a way the driver's retry policy retries (a cut connection, a timeout, a 5xx): the next
  step is then a ``query``.
* :class:`Resumed` (the session holds ``received`` bytes after a failure: log it), :class:`Progress`
  (the session confirmed new bytes: renew the retry budget), :class:`Discard` (the session
  finalized an incomplete file: delete it, best effort): reply with None.

The generator returns the final answer's ``file`` object (a JSON mapping) and raises
:class:`~airflow_provider_gemini_batch.exceptions.GeminiApiError` for a session that breaks the
protocol (an unknown status, an early ``final``, a claim of bytes never sent). The session's URL
comes from :func:`session_url_from_start`, which refuses one on another origin than the
connection's (the file's bytes go only there), and :func:`stored_file_problem` checks the stored
file's size and ``sha256Hash`` against the local file.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.digests import sha256_hash_matches
from airflow_provider_gemini_batch._core.wire_guard import check_session_url
from airflow_provider_gemini_batch.exceptions import GeminiApiError

#: What the session's answers are about, in errors (the session URL itself is never shown).
SESSION = "upload session"


@dataclass(frozen=True)
class Reply:
    """An accepted answer: HTTP status, headers (looked up case-insensitively), body bytes."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        """The value of header ``name`` (any case), or ``default``."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return str(value)
        return default


class _Lost:
    """The reply to a :class:`Send` that failed retryably (the answer, if any, never arrived)."""

    def __repr__(self) -> str:
        return "LOST"


#: Send this back for a request that failed and is to be resumed.
LOST = _Lost()


@dataclass(frozen=True)
class ChunkRef:
    """The body of a chunk: ``length`` bytes of the local file from byte ``offset``."""

    offset: int
    length: int


@dataclass(frozen=True)
class Send:
    """Send ``request`` once (no retry of its own: a failure is answered with :data:`LOST`); its
    body is the file's bytes at ``chunk`` when given."""

    request: routes.ApiRequest
    chunk: ChunkRef | None = None


@dataclass(frozen=True)
class Resumed:
    """After a failure the session said it holds ``received`` of ``size`` bytes; the upload
    continues there."""

    received: int
    size: int


@dataclass(frozen=True)
class Progress:
    """The session holds more bytes than before (``received``): the retry budget may be renewed,
    so only failures since the last progress count."""

    received: int


@dataclass(frozen=True)
class Discard:
    """The session finalized an incomplete file: delete ``file`` (its ``name``), best effort."""

    file: Mapping[str, Any]


Step = Send | Resumed | Progress | Discard
Flow = Generator[Step, "Reply | _Lost | None", Mapping[str, Any]]


def session_url_from_start(reply: Reply, start: routes.ApiRequest, base_url: str) -> str:
    """The session URL of the ``start`` answer (``X-Goog-Upload-URL``).

    :raises GeminiApiError: the answer named none, or one on another origin (scheme, host, port)
        than ``base_url`` (``_core.wire_guard.check_session_url``): the file's bytes would leave
        the connection's origin.
    """
    session_url = reply.header("X-Goog-Upload-URL")
    if not session_url:
        raise GeminiApiError(
            http_status=reply.status,
            status=None,
            message="the upload start answer carried no X-Goog-Upload-URL",
            resource=start.resource,
            method=start.what,
        )
    check_session_url(session_url, base_url, resource=start.resource)
    return session_url


def _file_of(reply: Reply) -> Mapping[str, Any] | None:
    """The ``{"file": {...}}`` object of a final answer, or None when it carries none."""
    try:
        data = json.loads(reply.body)
    except ValueError:
        return None
    obj = data.get("file") if isinstance(data, Mapping) else None
    return obj if isinstance(obj, Mapping) else None


def _final_file(reply: Reply, req: routes.ApiRequest) -> Mapping[str, Any]:
    obj = _file_of(reply)
    if obj is None:
        raise GeminiApiError(
            http_status=reply.status,
            status=None,
            message='the final upload answer carried no {"file": ...}',
            resource=SESSION,
            method=req.what,
        )
    return obj


def _status_of(reply: Reply) -> str:
    return reply.header("X-Goog-Upload-Status").lower()


class ResumableUpload:
    """One resumable upload of ``size`` bytes in chunks of ``chunk_size`` to ``session_url``.

    :param session_url: from :func:`session_url_from_start`.
    :param size: the local file's size in bytes.
    :param chunk_size: bytes per chunk (the last one may be shorter; an empty file is one empty
        ``upload, finalize`` chunk).

    :attr:`offset` is the byte the next chunk starts at; :attr:`sent` how far any chunk reached
    (a session may hold part of a chunk whose answer was lost, never more).
    """

    def __init__(self, session_url: str, *, size: int, chunk_size: int) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.session_url = session_url
        self.size = size
        self.chunk_size = chunk_size
        self.offset = 0
        self.sent = 0

    def cancel(self) -> routes.ApiRequest:
        """The request abandoning the session (bad input found mid-file): sent once, best effort."""
        return routes.upload_cancel(self.session_url)

    def flow(self) -> Flow:
        """The protocol: see the module docstring for the steps and replies."""
        resuming = False
        while True:  # one pass per attempt: every attempt after a failure first asks the offset
            if resuming:
                query = routes.upload_query(self.session_url)
                reply = yield Send(query)
                if not isinstance(reply, Reply):
                    continue  # the query failed too: just another failed attempt
                finished = yield from self._resume(reply, query)
                if finished is not None:
                    return finished
            resuming = True
            finished = yield from self._chunks()
            if finished is not None:
                return finished

    def _resume(
        self, reply: Reply, query: routes.ApiRequest
    ) -> Generator[Step, Any, Mapping[str, Any] | None]:
        """Read a ``query`` answer: continue from the bytes the session holds, or finish with the
        file of a session that was finalized while its answer was lost."""
        status = _status_of(reply)
        try:
            received = int(reply.header("X-Goog-Upload-Size-Received", "0"))
        except ValueError:
            received = 0
        if status not in ("active", "final"):
            raise GeminiApiError(
                http_status=reply.status,
                status=None,
                message=(
                    f"the upload session can no longer be resumed (status {status or 'none'!r}); upload again"
                ),
                resource=SESSION,
            )
        if status == "final":
            # Only a session holding the whole file counts (the size is checked again on the file).
            if received != self.size:
                found = _file_of(reply)
                if found is not None:
                    yield Discard(found)
                raise GeminiApiError(
                    http_status=reply.status,
                    status=None,
                    message=(
                        f"the upload session is final with {received} of {self.size} bytes; the "
                        "stored file would be incomplete, so it was deleted. Upload again"
                    ),
                    resource=SESSION,
                )
            return _final_file(reply, query)
        if received > self.sent:
            raise GeminiApiError(
                http_status=reply.status,
                status=None,
                message=f"the upload session claims {received} bytes; only {self.sent} were sent",
                resource=SESSION,
            )
        yield Resumed(received, self.size)
        if received > self.offset:
            yield Progress(received)  # the cut chunk still moved the session forward
        self.offset = received
        return None

    def _chunks(self) -> Generator[Step, Any, Mapping[str, Any] | None]:
        """Send chunks from :attr:`offset` until the session is final (the file) or a request is
        lost (None: the caller resumes)."""
        while True:
            offset = self.offset
            length = min(self.chunk_size, self.size - offset)
            final = offset + length >= self.size
            req = routes.upload_chunk(self.session_url, offset=offset, length=length, final=final)
            self.sent = max(self.sent, offset + length)
            reply = yield Send(req, ChunkRef(offset, length))
            if not isinstance(reply, Reply):
                return None
            status = _status_of(reply)
            if status == "final":
                if not final:
                    # A session finalized before the last chunk holds part of the file: a batch
                    # on it would silently run on the first rows only.
                    found = _file_of(reply)
                    if found is not None:
                        yield Discard(found)
                    raise GeminiApiError(
                        http_status=reply.status,
                        status=None,
                        message=(
                            f"the upload session finalized the file after bytes {offset}-"
                            f"{offset + length} of {self.size}, before the last chunk was sent; the "
                            "stored file would be incomplete, so it was deleted. Upload again"
                        ),
                        resource=SESSION,
                        method=req.what,
                    )
                return _final_file(reply, req)
            if status != "active" or final:
                raise GeminiApiError(
                    http_status=reply.status,
                    status=None,
                    message=f"the upload session answered status {status or 'none'!r} at offset {offset}",
                    resource=SESSION,
                    method=req.what,
                )
            self.offset = offset + length
            yield Progress(self.offset)


def stored_file_problem(
    *, size_bytes: int | None, sha256_hash: str | None, size: int, digest: bytes, hexdigest: str
) -> str | None:
    """Why the stored file cannot be trusted to hold the local bytes, or None when it can.

    :param size_bytes: the stored file's ``sizeBytes``.
    :param sha256_hash: the stored file's ``sha256Hash`` as the service spells it.
    :param size: the local file's size in bytes.
    :param digest: the local file's sha256 (32 bytes).
    :param hexdigest: the same in hex (for the message).

    The real service reports both on every upload (``sizeBytes`` and ``sha256Hash`` in
    ``tests/real_service/captures.py``, from Google's cookbook run); a missing or unreadable hash
    means a proxy or server that is not the API, and a silent skip would let a batch run on bytes
    nobody checked. The caller deletes the remote copy and raises ``DATA_LOSS``.
    """
    if size_bytes != size:
        return f"the stored file has {size_bytes} bytes, the local file {size}"
    if sha256_hash_matches(sha256_hash, b"\0" * 32) is None:
        return (
            "the service's answer carried no sha256Hash in a known form, so the stored bytes "
            "cannot be checked against the local file (the Gemini API always sends one: check any "
            "proxy or gateway in the connection's host)"
        )
    if sha256_hash_matches(sha256_hash, digest) is False:
        return (
            f"the stored file's sha256Hash ({sha256_hash}) names other bytes than the local "
            f"file's sha256 ({hexdigest})"
        )
    return None
