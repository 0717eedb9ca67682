"""Publish files atomically: a destination appears complete or not at all.

:func:`atomic_destination` opens a temporary sibling of the destination for writing and renames
it onto the destination only when the ``with`` block ends without an exception; on any failure
the temporary file is removed. Works for local paths and for ``ObjectStoragePath``/URIs
(``s3://``, ``gs://``, ``file://`` ...), where the final move is the store's rename (a copy and
delete on object stores, which never shows a partial object under the final name either).

Two promises for local files (and ``file://``):

* **No stale partials.** A worker killed mid-write (SIGKILL, OOM, a lost node) cannot remove its
  temporary file, and every retry used to leave one more. When an attempt publishes, it removes
  the temporaries *of the same destination* that earlier attempts left: only names of this
  module's own pattern for that destination (``.<name>.<12 hex>.partial`` in its directory) and
  only those last modified before the current attempt began, so a concurrent writer still
  writing is left alone and no other file is ever touched.
* **Restrictive permissions.** Results hold model answers to the user's prompts (often personal or
  business data). The file is created with mode ``0o600`` (owner read/write) by default, set
  exactly (the umask can only remove bits, so a 0644 default would otherwise show results to every
  local user); pass ``mode=0o640`` to share with the group, or ``mode=None`` for the old
  behaviour (``0o666`` minus the umask). Object stores have no POSIX modes: their access is the
  bucket's policy.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from airflow_provider_gemini_batch._core.urls import scrub_userinfo
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError

Destination = Any  # str | os.PathLike | ObjectStoragePath

#: Mode of a published local file unless the caller chooses another: owner read/write only.
DEFAULT_FILE_MODE = 0o600


def resolve_path(target: Destination) -> Any:
    """A ``pathlib.Path`` for local targets (``file://`` included), an ``ObjectStoragePath`` for
    other URIs and storage paths.

    :raises GeminiInvalidInputError: a URI whose scheme has no registered filesystem.
    """
    if isinstance(target, Path):
        return target
    if isinstance(target, str):
        if target.startswith("file://"):
            return Path(target[len("file://") :])
        if "://" in target:
            return _object_storage_path(target)
        return Path(target)
    if isinstance(target, os.PathLike) and not hasattr(target, "fs"):
        return Path(os.fspath(target))
    return target  # already an ObjectStoragePath (or another UPath-like)


def _object_storage_path(uri: str) -> Any:
    """``ObjectStoragePath(uri)`` with its filesystem resolved now rather than at first use.

    :raises GeminiInvalidInputError: no filesystem is registered for the URI's scheme (Airflow
        raises a bare ``ValueError`` for that, on first access).
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    scheme = uri.split("://", 1)[0]
    try:
        path = ObjectStoragePath(uri)
        path.fs  # noqa: B018 - resolving the filesystem is the check
    except (ValueError, ImportError) as exc:
        raise GeminiInvalidInputError(
            scrub_userinfo(
                f"Cannot open {uri}: no object-storage filesystem is registered for the scheme "
                f"'{scheme}://' ({exc}). Install the Airflow provider that brings it (for example "
                "apache-airflow-providers-amazon for s3://, apache-airflow-providers-google for gs://, "
                "apache-airflow-providers-microsoft-azure for abfs://), or attach an fsspec filesystem "
                "with airflow.sdk.io.attach(), or pass a local path.",
                uri,
            )
        ) from None
    return path


def is_local(path: Any) -> bool:
    return isinstance(path, Path)


def _protocol(path: Any) -> str:
    protocol = getattr(path, "protocol", "")
    return str(protocol[0] if isinstance(protocol, (tuple, list)) else protocol)


def check_destination(dest: Destination) -> Any:
    """Refuse a destination that names a directory; return it resolved (:func:`resolve_path`).

    A file is published by renaming a finished temporary file onto ``dest``, which fails on a
    directory only at the very end (``IsADirectoryError``, after the whole download). So a path
    ending in ``/`` (any destination) or an existing local directory is refused at once. Object
    stores are not asked whether a "directory" exists (that would be a request).

    :raises GeminiInvalidInputError: ``dest`` ends in a separator or is an existing directory.
    """
    text = os.fspath(dest) if isinstance(dest, (str, os.PathLike)) else str(dest)
    path = resolve_path(dest)
    if text.endswith(("/", os.sep)) or (is_local(path) and path.is_dir()):
        raise GeminiInvalidInputError(
            scrub_userinfo(
                f"The destination {text} is a directory; it must name the file to write. Give a file "
                f"path such as {text.rstrip('/' + os.sep)}/results.jsonl.",
                text,
            )
        )
    return path


def partial_name(name: str) -> str:
    """The temporary sibling's name for a destination file named ``name`` (a fresh one per call)."""
    return f".{name}.{uuid.uuid4().hex[:12]}.partial"


def _partial_pattern(name: str) -> re.Pattern[str]:
    """Names :func:`partial_name` gives for ``name``, and nothing else."""
    return re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{12}}\.partial")


def sweep_stale_partials(path: Path, *, before: float, keep: Path | None = None) -> list[Path]:
    """Remove the temporaries earlier attempts left for the local destination ``path``.

    Only regular files in ``path``'s directory whose name is :func:`partial_name`'s pattern for
    ``path.name`` and whose modification time is before ``before`` (epoch seconds) are removed;
    ``keep`` (the caller's own temporary) never is. A file that vanishes meanwhile (another sweep)
    or cannot be removed is skipped.

    :returns: the paths removed.
    """
    pattern = _partial_pattern(path.name)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name) or (keep is not None and entry.name == keep.name):
            continue
        try:
            if (
                not entry.is_file(follow_symlinks=False)
                or entry.stat(follow_symlinks=False).st_mtime >= before
            ):
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _open_local(tmp: Path, mode: int | None) -> IO[bytes]:
    """Create ``tmp`` (it must not exist) for writing, with exactly ``mode`` when given."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
    try:
        if mode is not None:
            os.fchmod(fd, mode)  # exactly: the umask only ever removes bits
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def atomic_destination(dest: Destination, *, mode: int | None = DEFAULT_FILE_MODE) -> Iterator[IO[bytes]]:
    """Yield a binary file to write; publish it as ``dest`` only if the block succeeds.

    Missing parent directories of a local (or ``file://``) destination are created. A local file
    is written with permissions ``mode`` from its creation on (default :data:`DEFAULT_FILE_MODE`,
    0o600; None: ``0o666`` minus the umask); when it is published, the temporaries of ``dest`` that
    earlier, killed attempts left behind are removed (:func:`sweep_stale_partials`).

    :param mode: POSIX permission bits of the published local file (e.g. ``0o640``), or None.
    :raises GeminiInvalidInputError: if the destination names a directory
        (:func:`check_destination`) or its directory cannot be written (both raised on entry,
        before the caller does any work).
    """
    if mode is not None and not (isinstance(mode, int) and 0 <= mode <= 0o777):
        raise GeminiInvalidInputError(
            f"The file mode must be permission bits between 0o000 and 0o777 (e.g. 0o600), got {mode!r}."
        )
    started = time.time()
    path = check_destination(dest)
    tmp = path.parent / partial_name(path.name)
    local = is_local(path)
    try:
        if local or _protocol(path) in ("file", "local"):
            # Object stores have no directories; only real file systems need the parent created.
            path.parent.mkdir(parents=True, exist_ok=True)
        handle = _open_local(tmp, mode) if local else tmp.open("wb")
    except OSError as exc:
        raise GeminiInvalidInputError(
            scrub_userinfo(
                f"Cannot write to the destination {dest!s} ({exc.strerror or exc}). Choose a writable "
                "location.",
                dest,
            )
        ) from None
    published = False
    try:
        with handle:
            yield handle
            handle.flush()
            if local:
                # The data must be on disk before the rename makes it visible as complete.
                os.fsync(handle.fileno())
        if local:
            os.replace(tmp, path)
        else:
            tmp.rename(path)
        published = True
    finally:
        if not published:
            with contextlib.suppress(OSError, FileNotFoundError):
                tmp.unlink()
    if local:
        # At the end, not on entry: a concurrent writer of the same destination that is still
        # writing has touched its file after this attempt began, so it is told apart and kept.
        sweep_stale_partials(path, before=started, keep=tmp)


class BackgroundWriter:
    """Write blocks to a binary file on one background thread, at most ``depth`` blocks behind.

    Writing a new file costs the kernel fresh page-cache pages; ``write`` lets go of the GIL
    meanwhile, so on its own thread it overlaps the caller's parsing instead of following it
    (landing: about 2.3 s/GB of the task's thread, measured with ``benchmarks/bench_speed.py``).
    Blocks are written in order. Use as a context manager inside :func:`atomic_destination`:
    leaving the ``with`` waits for every queued write (and raises the first write error), so the
    destination is published only after all its bytes were written; leaving it with an exception
    drops the blocks not yet started and waits for the one being written.

    :param handle: the open file (only this object writes to it until closed).
    :param depth: blocks queued or being written at most (default 2).
    """

    def __init__(self, handle: IO[bytes], *, depth: int = 2) -> None:
        self._handle = handle
        self._depth = depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gemini-writer")
        self._queued: deque[Future[int]] = deque()

    def write(self, block: bytes) -> None:
        """Queue ``block``; waits while ``depth`` blocks are queued.

        :raises OSError: an earlier block could not be written.
        """
        while len(self._queued) >= self._depth:
            self._queued.popleft().result()
        self._queued.append(self._pool.submit(self._handle.write, block))

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:
                while self._queued:
                    self._queued.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
