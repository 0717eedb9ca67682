"""Local checks of an input file before any request: size, JSONL validity, content hash.

Both the upload and the create operator refuse bad input with these before a single call to the
service (even the reattach lookup), naming the file, line, key and field (see
``_core.jsonl``/``_core.request_fields``). ``path`` is anything :func:`storage.resolve_path`
accepts: a local path, a ``file://`` URI or an object-storage URI/``ObjectStoragePath``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from airflow_provider_gemini_batch._core import jsonl
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError
from airflow_provider_gemini_batch.operators._common import TaskLog
from airflow_provider_gemini_batch.operators._idempotency import sha256_of


def validate_jsonl(path: str, *, embeddings: bool | None = None, log: TaskLog | None = None) -> None:
    """Validate a JSONL input (see ``_core.jsonl.validate_input_lines``); warn about line fields
    the service will not read.

    :param path: a local path, ``file://`` or object-storage URI (see ``storage.resolve_path``).
    :param embeddings: True/False when the batch kind is known; None: the first line decides.
    """
    _scan(path, embeddings=embeddings, log=log, digest=None)


def validate_and_hash(
    path: str,
    *,
    embeddings: bool | None = None,
    log: TaskLog | None = None,
    also: Any = None,
    max_requests: tuple[int, str] | None = None,
) -> str:
    """Validate a JSONL input and return its hex sha256, reading the file once.

    The operators need both before their first request (bad input is refused before anything is
    sent; the reuse lookups need the content hash), so one read serves both.

    :param also: an object with ``update(block)`` fed the same blocks as the hash (the create
        operator's cost estimate, ``_core/estimate.py``), or None.

    :param max_requests: ``(limit, service)``: refuse a file of more request lines than ``limit``
        (e.g. Vertex AI's 200,000 per job), naming ``service``; None (default) checks no count.

    :raises GeminiInputFileError: as :func:`validate_jsonl`, or more requests than ``max_requests``.
    """
    digest = hashlib.sha256()
    count = _scan(path, embeddings=embeddings, log=log, digest=digest if also is None else _Tee(digest, also))
    if max_requests is not None and count > max_requests[0]:
        limit, service = max_requests
        raise GeminiInputFileError(
            f"the file holds {count} requests; {service} accepts at most {limit} in one job. "
            "Split it (GeminiSplitInputOperator with max_requests) into several batches.",
            path=path,
        )
    return digest.hexdigest()


class _Tee:
    """Hands each block to two ``update`` consumers (the hash and the cost estimate)."""

    __slots__ = ("_first", "_second")

    def __init__(self, first: Any, second: Any) -> None:
        self._first = first
        self._second = second

    def update(self, block: bytes) -> None:
        self._first.update(block)
        self._second.update(block)


def _scan(path: str, *, embeddings: bool | None, log: TaskLog | None, digest: Any) -> int:
    """Validate ``path`` (feeding ``digest``); returns its number of request lines."""
    from airflow_provider_gemini_batch.storage import resolve_path

    try:
        summary = jsonl.validate_input_file(
            path, opener=resolve_path(path), embeddings=embeddings, digest=digest
        )
    except OSError as exc:
        raise GeminiInputFileError(f"cannot read the input file ({exc}).", path=path) from None
    warning = jsonl.echoed_fields_warning(summary, path)
    if warning and log is not None:
        log.warning(warning)
    return summary.count


def content_sha256(path: str) -> str:
    """Hex sha256 of the input at ``path`` (any form :func:`storage.resolve_path` accepts)."""
    from airflow_provider_gemini_batch.storage import resolve_path

    source = resolve_path(path)
    try:
        return sha256_of(path, opener=lambda: source.open("rb"))
    except OSError as exc:
        raise GeminiInputFileError(f"cannot read the input file ({exc}).", path=path) from None


def check_input_size(path: str, limit: tuple[int, str, str] | None = None) -> int:
    """Size of the input file in bytes, refused before reading when over the API's 2 GB.

    :param limit: ``(bytes, shown, service)`` for another backend's cap (Vertex AI:
        ``(1_000_000_000, "1 GB", "Vertex AI batch prediction")``), named in the error; None
        (default) is the Gemini Developer API's 2 GB.

    ``path`` is a local path, a ``file://`` URI or an object-storage URI/``ObjectStoragePath``
    (whatever :func:`storage.resolve_path` accepts, like the hook's ``upload_file``).

    :raises GeminiInputFileError: the file does not exist, is a directory or is larger than 2 GB.
    :raises GeminiInvalidInputError: a URI whose scheme has no registered filesystem.
    """
    from airflow_provider_gemini_batch._core.routes import MAX_UPLOAD_BYTES
    from airflow_provider_gemini_batch.storage import resolve_path

    source = resolve_path(path)
    try:
        size = int(source.stat().st_size)
        is_dir = source.is_dir()
    except OSError as exc:
        raise GeminiInputFileError(
            f"cannot read the input file ({exc.strerror or exc}).", path=str(path)
        ) from None
    if is_dir:
        raise GeminiInputFileError("the input path is a directory; pass a file.", path=str(path))
    max_bytes, shown, service = limit or (MAX_UPLOAD_BYTES, "2 GB", "the Batch API")
    if size > max_bytes:
        raise GeminiInputFileError(
            f"the file is {size} bytes; {service} accepts input files of at most "
            f"{max_bytes} bytes ({shown}). Split it into several batches.",
            path=str(path),
        )
    return size
