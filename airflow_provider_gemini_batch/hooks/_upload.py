"""The sync hook's side of the resumable upload: the I/O around ``_core/upload_flow.py``.

Protocol: the Files API's resumable upload (https://ai.google.dev/api/files, ``media.upload``),
decided by :class:`~airflow_provider_gemini_batch._core.upload_flow.ResumableUpload` (offsets,
finalize, resume after a cut, refusals). This module only does what the flow asks: it sends each
step's request with the hook's transport under ONE retry loop whose budget every confirmed chunk
renews, takes chunk bodies from :class:`HeldChunks` (the file read once, hashed and checked on
the :class:`~airflow_provider_gemini_batch.hooks._chunk_feed.ChunkFeed` thread), deletes a file
the flow discards, and checks the stored file against the local one at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core import upload_flow as uf
from airflow_provider_gemini_batch._core.input_check import InputValidator
from airflow_provider_gemini_batch._core.input_reread import file_lines
from airflow_provider_gemini_batch._core.jsonl import echoed_fields_warning
from airflow_provider_gemini_batch._core.models import FileInfo
from airflow_provider_gemini_batch._core.urls import public_url, scrub_userinfo
from airflow_provider_gemini_batch.exceptions import (
    GeminiApiError,
    GeminiBatchError,
    GeminiInputFileError,
    GeminiInvalidInputError,
)
from airflow_provider_gemini_batch.hooks._chunk_feed import ChunkFeed
from airflow_provider_gemini_batch.hooks._flow_driver import run_flow
from airflow_provider_gemini_batch.storage import resolve_path

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

#: MIME types treated as batch input JSONL (validated line by line before upload).
JSONL_MIME_TYPES = frozenset({"application/jsonl", "jsonl", "application/x-ndjson", "application/json-lines"})


class HeldChunks:
    """The bytes of each chunk the flow sends, from the feed, from memory, or read again.

    New bytes come from ``feed`` (read once, hashed and checked on its thread; ``first`` already
    taken). Chunks taken and not yet wholly confirmed are held, as (file offset, bytes), so a
    resume inside them sends their bytes again from memory (at most two chunks are held); only
    when the session kept less than that are bytes read again from ``source`` (they were checked
    on the first read). The final chunk exists only once the whole file passed the feed's checks,
    so bad input never finalizes a file.
    """

    def __init__(self, feed: ChunkFeed, first: bytes, source: Any, size: int) -> None:
        self._feed = feed
        self._source = source
        self._size = size
        self._held: list[tuple[int, bytes]] = [(0, first)]

    def bytes_at(self, chunk: uf.ChunkRef) -> bytes:
        """The ``chunk.length`` bytes of the file from ``chunk.offset``.

        :raises GeminiInputFileError: a chunk read from the feed holds a bad line.
        :raises GeminiInvalidInputError: the file changed size while being read.
        :raises GeminiApiError: the offset lies past every byte taken (the session lied).
        """
        held, feed = self._held, self._feed
        start, end = chunk.offset, chunk.offset + chunk.length
        while held and held[0][0] + len(held[0][1]) <= start:
            del held[0]  # confirmed: never needed again
        if start > feed.taken:
            raise GeminiApiError(
                http_status=200,
                status=None,
                message=f"the upload session claims {start} bytes; only {feed.taken} were sent",
                resource=uf.SESSION,
            )
        while feed.taken < end:
            held.append((feed.taken, feed.take()))
        first_at, first_data = held[0]
        if len(held) == 1 and first_at == start and len(first_data) == end - start:
            return first_data  # the usual case: one chunk of the feed, sent as it came
        pieces = []
        if start < first_at:
            # The session kept less than it had confirmed: read those (checked) bytes again.
            with self._source.open("rb") as again:
                again.seek(start)
                pieces.append(again.read(first_at - start))
            if len(pieces[0]) != first_at - start:
                raise GeminiInvalidInputError(
                    "The input file changed size during the upload; upload it again."
                )
        for at, data in held:
            pieces.append(data[max(0, start - at) : max(0, end - at)])
        return b"".join(pieces)[: end - start]


def _reply(response: requests.Response) -> uf.Reply:
    """What the flow reads of an accepted answer (its body was read by the transport)."""
    return uf.Reply(response.status_code, response.headers, response.content)


def upload_file(
    hook: GeminiBatchHook,
    path: Any,
    *,
    display_name: str | None,
    mime_type: str,
    validate: bool | None,
    embeddings: bool | None,
) -> FileInfo:
    """:meth:`GeminiBatchHook.upload_file` (see there for what is checked, when, and raised)."""
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
    with handle, ChunkFeed(handle, size, hook.upload_chunk_size, validator) as feed:
        # The first chunk is checked before the session opens: a mistake in it (most mistakes
        # are on every line, so on line 1) is refused before anything is sent, and a file of
        # one chunk is checked whole first. Later chunks are read, hashed and checked on the
        # feed's thread while the one before them is being sent.
        first = feed.take()
        upload = uf.ResumableUpload(
            _start_session(hook, source, size, mime_type, display_name),
            size=size,
            chunk_size=hook.upload_chunk_size,
        )
        try:
            info = _run(hook, upload, HeldChunks(feed, first, source, size))
        except GeminiInputFileError:
            _cancel(hook, upload)
            raise
    if validator is not None and validator.summary is not None:
        warning = echoed_fields_warning(validator.summary, str(path))
        if warning:
            hook.log.warning(warning)
    problem = uf.stored_file_problem(
        size_bytes=info.size_bytes,
        sha256_hash=info.sha256_hash,
        size=size,
        digest=feed.digest(),
        hexdigest=feed.hexdigest(),
    )
    if problem is not None:
        # The service stored other bytes than we read: never let a batch run on them.
        with contextlib.suppress(GeminiBatchError):
            hook.delete_file(info.name)
        raise GeminiApiError(
            http_status=200,
            status="DATA_LOSS",
            message=f"{problem}; the remote copy was deleted, upload {shown} again",
            resource=info.name,
            method="Uploading a file",
        )
    return info


def _start_session(
    hook: GeminiBatchHook, source: Any, size: int, mime_type: str, display_name: str | None
) -> str:
    """Open a resumable upload session (retried: opening one creates nothing lasting); its URL."""
    start = routes.upload_start(
        hook.settings.api_version,
        size=size,
        mime_type=mime_type,
        display_name=display_name,
        file_name=source.name,
    )
    response = hook._request(start)
    response.close()
    return uf.session_url_from_start(_reply(response), start, hook.settings.base_url)


def _cancel(hook: GeminiBatchHook, upload: uf.ResumableUpload) -> None:
    """Abandon a session that must not be finalized (bad input found mid-file): one attempt.

    Nothing is lost if this fails: a session never finalized creates no file, and it expires on
    its own; the cancel only frees it at once.
    """
    try:
        hook._send_once(upload.cancel()).close()
    except GeminiBatchError as exc:
        hook.log.info("Could not cancel the upload session (%s); it was never finalized.", exc)


def _run(hook: GeminiBatchHook, upload: uf.ResumableUpload, chunks: HeldChunks) -> FileInfo:
    """Drive ``upload``'s flow with the shared driver (``hooks/_flow_driver.py``): one retry
    loop whose budget every confirmed chunk renews."""

    def send(step: uf.Send) -> uf.Reply:
        data = chunks.bytes_at(step.chunk) if step.chunk is not None else None
        return _reply(hook._send_once(step.request, data=data))

    def discard(file: Mapping[str, Any]) -> None:
        hook.delete_file(hook._file_view(file).name)

    return hook._file_view(run_flow(hook, upload.flow(), send, what="Uploading chunks", discard=discard))
