"""Reattach instead of re-creating: the lookups behind idempotent uploads and batch creation.

A task instance (dag, task, run, map index) marks what it creates with a tag in the display name
(see :mod:`airflow_provider_gemini_batch._core.identity`). Before creating anything the operators
scan a bounded number of existing resources for that tag:

* uploads: a file with the same tag **and** the same content fingerprint (sha256 of the bytes)
  that is still ``ACTIVE`` is reused; nothing is uploaded again.
* batches: a batch with the same tag and the same input fingerprint is reattached, unless it ended
  FAILED, CANCELLED or EXPIRED (a new try of the create task, which a person starts by clearing
  it after such an outcome failed the wait without retries, is meant to resubmit, so a new one is
  created). A batch with the same tag but a *different* input fingerprint is handled by the
  ``on_input_change`` policy: ``"fail"`` (default) or ``"create_new"``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_gemini_batch._core.digests import sha256_hash_matches
from airflow_provider_gemini_batch._core.identity import (
    FINGERPRINT_LENGTH,
    TaskIdentity,
    find_tagged,
    parse_marker,
    tagged_display_name,
)
from airflow_provider_gemini_batch._core.models import Batch, FileInfo
from airflow_provider_gemini_batch._core.states import FAILURE_STATES
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError
from airflow_provider_gemini_batch.operators._common import BatchLister, FileLister, TaskLog

InputChangePolicy = Literal["fail", "create_new"]
INPUT_CHANGE_POLICIES: tuple[str, ...] = ("fail", "create_new")

#: Read size for hashing local files, bytes.
_CHUNK = 1024 * 1024

_log = logging.getLogger(__name__)


class _BoundedScan:
    """The items a lookup scans, remembering whether the scan stopped before the listing ended."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = iter(items)

    def __iter__(self) -> Iterator[Any]:
        return self._items

    def cut_short(self) -> bool:
        """Whether items remain after the scan stopped (asks for at most one more page)."""
        return next(self._items, None) is not None


def _warn_cut_short(log: TaskLog, what: str, limit: int, consequence: str) -> None:
    log.warning(
        "Scanned the first %d %s of the project (reattach_scan_limit=%d) and stopped; more exist, "
        "so one made earlier by this task instance may have been missed and %s. Raise "
        "reattach_scan_limit on the operator, or delete old %s.",
        limit,
        what,
        limit,
        consequence,
        what,
    )


def sha256_of(path: str | os.PathLike[str], opener: Callable[[], Any] | None = None) -> str:
    """Hex sha256 of a file's bytes, streamed in 1 MiB reads (memory stays flat)."""
    digest = hashlib.sha256()
    handle = opener() if opener is not None else open(path, "rb")  # noqa: SIM115 - closed below
    with handle as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _server_sha_matches(info: FileInfo, hex_digest: str) -> bool:
    # An absent or unreadable hash means "cannot tell", which is not a mismatch (the content
    # fingerprint in the display name already matched). Forms accepted: see _core.digests.
    return sha256_hash_matches(info.sha256_hash, bytes.fromhex(hex_digest)) is not False


def find_reusable_file(
    hook: FileLister,
    identity: TaskIdentity,
    content_sha256: str,
    *,
    limit: int,
    log: TaskLog,
) -> FileInfo | None:
    """An ACTIVE file uploaded earlier by this task instance with exactly this content, or None."""
    fingerprint = content_sha256[:FINGERPRINT_LENGTH]
    scan = _BoundedScan(hook.list_files())
    tagged = find_tagged(scan, identity.tag, limit=limit, display_name=lambda f: f.display_name)
    if not tagged and scan.cut_short():
        _warn_cut_short(log, "files", limit, "the file will be uploaded again")
    for info in tagged:
        marker = parse_marker(info.display_name)
        if marker is None or marker.fingerprint != fingerprint:
            log.info("File %s was uploaded by an earlier try with different content; not reused.", info.name)
            continue
        if (info.state or "ACTIVE") != "ACTIVE" or not _server_sha_matches(info, content_sha256):
            continue
        return info
    return None


def why_file_not_reusable(info: FileInfo, identity: TaskIdentity, content_sha256: str) -> str | None:
    """Why ``info`` (read by name, e.g. from the task state store) may not be reused, or None.

    The rules of :func:`find_reusable_file`: the marker carries this task instance's tag and the
    content fingerprint, the file is ACTIVE and the service's sha256 (when given) matches.
    """
    marker = parse_marker(info.display_name)
    if marker is None or marker.tag != identity.tag:
        return f"{info.name} does not carry this task instance's marker"
    if marker.fingerprint != content_sha256[:FINGERPRINT_LENGTH]:
        return f"{info.name} holds different content"
    if (info.state or "ACTIVE") != "ACTIVE":
        return f"{info.name} is {info.state}"
    if not _server_sha_matches(info, content_sha256):
        return f"the service's sha256 of {info.name} differs"
    return None


def why_batch_not_reusable(batch: Batch, identity: TaskIdentity, input_fingerprint: str) -> str | None:
    """Why ``batch`` (read by name, e.g. from the task state store) may not be reattached, or None.

    The rules of :func:`find_reattachable_batch`: the marker carries this task instance's tag and
    this input fingerprint, and the batch did not end FAILED, CANCELLED or EXPIRED. A batch of
    another input is not judged here (the ``on_input_change`` policy belongs to the lookup).
    """
    marker = parse_marker(batch.display_name)
    if marker is None or marker.tag != identity.tag:
        return f"{batch.name} does not carry this task instance's marker"
    if marker.fingerprint != input_fingerprint:
        return f"{batch.name} was created from a different input"
    if batch.state in FAILURE_STATES:
        return f"{batch.name} ended {batch.state.short}"
    return None


def upload_display_name(base: str | None, identity: TaskIdentity, content_sha256: str) -> str:
    return tagged_display_name(base, identity, content_sha256[:FINGERPRINT_LENGTH])


@dataclass(frozen=True)
class Reattach:
    """Decision of the batch lookup: reattach to ``batch``, or create (``batch`` is None)."""

    batch: Batch | None
    reason: str


def find_reattachable_batch(
    hook: BatchLister,
    identity: TaskIdentity,
    input_fingerprint: str,
    *,
    on_input_change: InputChangePolicy,
    limit: int,
    log: TaskLog | None = None,
) -> Reattach:
    """Decide whether this task instance already created its batch.

    Scans at most ``limit`` batches (the real service lists newest first); when that many were
    scanned without a match and more exist, a warning names the limit (a batch of this task
    instance may lie beyond it and a second, billable one would be created).

    :raises GeminiInvalidInputError: a batch of this task instance exists for a different input
        and ``on_input_change`` is ``"fail"``.
    """
    # Light list: a full one carries inline bodies and can answer 503 (routes.LIST_FIELDS).
    scan = _BoundedScan(hook.list_batches(light=True))
    matches = find_tagged(scan, identity.tag, limit=limit, display_name=lambda b: b.display_name)
    if not matches and scan.cut_short():
        _warn_cut_short(log or _log, "batches", limit, "a new (billable) batch will be created")
    # Newest first: if several tries left batches, the latest is the one a retry cares about.
    matches.sort(key=lambda b: b.create_time.timestamp() if b.create_time else 0.0, reverse=True)
    for batch in matches:
        marker = parse_marker(batch.display_name)
        if marker is None:
            continue
        if marker.fingerprint != input_fingerprint:
            if on_input_change == "fail":
                raise GeminiInvalidInputError(
                    f"This task instance ({identity.dag_id}.{identity.task_id}, run {identity.run_id}, "
                    f"map index {identity.map_index}) already created {batch.name} "
                    f"(state {batch.state.short}) from a different input. Refusing to submit a second "
                    "billable batch. Cancel/delete it and clear the task, or set "
                    "on_input_change='create_new' to submit the new input anyway."
                )
            return Reattach(None, f"input changed since {batch.name}; creating a new batch (on_input_change)")
        if batch.state in FAILURE_STATES:
            return Reattach(
                None, f"{batch.name} of an earlier try ended {batch.state.short}; creating a new batch"
            )
        return Reattach(batch, f"reattaching to {batch.name} ({batch.state.short}) created by an earlier try")
    return Reattach(None, "no batch of this task instance found")
