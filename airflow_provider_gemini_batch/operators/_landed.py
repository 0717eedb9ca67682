"""Which files the merge and resubmission operators may read: result files landed under a root.

Their inputs name files through manifests, and manifests are XComs: anyone allowed to write an
XCom on the DAG (a task of it, a REST user with the ``user`` role) can plant one naming any path,
such as ``/proc/self/environ`` (the worker's environment, keys included) or another team's
results. A path from a manifest is therefore read only when all of these hold:

1. it lies under ``results_root``, an argument of the operator's own definition (default: the
   directory its own ``destination`` is in, where a DAG's results tasks usually write their
   files). Local paths are compared after resolving symlinks and ``..``, so a link or a
   ``../..`` cannot leave the root; object-store URIs must share the root's scheme and bucket and
   have no ``..`` segment;
2. a local path is a regular file (not a FIFO or device that would block or stream forever);
3. its first row has the shape the results operator writes (``status`` ``succeeded``/``failed``,
   ``outcome``, and ``response`` or ``error``), so an input file, a shard or any other JSON
   lines file under the root is not taken for results.

An attacker who can only write XComs controls none of these: the root comes from the DAG file,
symlinks and files under it are made by the DAG's own tasks. What they can still do is point
the merge at another result file of the same root (the same DAG's own results), which reveals
nothing the DAG's readers cannot already read.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_gemini_batch._core.urls import public_netloc, public_url
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError, GeminiInvalidInputError

#: Values of ``status`` in a landed row (``BatchResult.to_row``).
ROW_STATUSES = ("succeeded", "failed")


def default_root(destination: Any) -> str:
    """The directory (or URI prefix) holding ``destination``: the default ``results_root``."""
    text = str(destination)
    if "://" in text and not text.startswith("file://"):
        parts = urlsplit(text)
        return f"{parts.scheme}://{public_netloc(text)}{posixpath.dirname(parts.path)}"
    local = text[len("file://") :] if text.startswith("file://") else text
    return os.path.dirname(os.path.abspath(local))


def _local(text: str) -> str | None:
    if text.startswith("file://"):
        return text[len("file://") :]
    return None if "://" in text else text


def _under(path: str, root: str) -> bool:
    local_path, local_root = _local(path), _local(root)
    if local_path is not None and local_root is not None:
        real, real_root = os.path.realpath(local_path), os.path.realpath(local_root)
        return real != real_root and os.path.commonpath([real, real_root]) == real_root
    if local_path is not None or local_root is not None:
        return False
    p, r = urlsplit(path), urlsplit(root)
    if (p.scheme, public_netloc(path)) != (r.scheme, public_netloc(root)):
        return False
    if ".." in p.path.split("/") or ".." in r.path.split("/"):
        return False
    prefix = posixpath.normpath("/" + r.path).rstrip("/") + "/"
    return posixpath.normpath("/" + p.path).startswith(prefix)


def _is_result_row(line: bytes) -> bool:
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(row, dict)
        and row.get("status") in ROW_STATUSES
        and isinstance(row.get("outcome"), str)
        and ("response" in row or "error" in row)
    )


def landed_file(path: Any, *, root: Any, what: str, owner: str) -> str:
    """``path`` as a string once it passes the three checks of the module docstring.

    :param path: the path or URI a manifest names.
    :param root: the operator's ``results_root``.
    :param what: which input named it, for the message (``"shard 2's manifest"``).
    :param owner: the operator's task id, for the message.
    :raises GeminiInvalidInputError: outside the root, not a regular file, or not a result file;
        the message names the path (without userinfo), the root and the fix.
    """
    from airflow_provider_gemini_batch.operators._files import iter_lines

    text, root_text = str(path), str(root)
    shown, shown_root = public_url(text), public_url(root_text)
    fix = (
        f"Task {owner!r} reads only result files its DAG's results tasks landed under results_root "
        f"{shown_root!r}: pass the results tasks' own output, or set results_root to the directory "
        "they write to."
    )
    if not _under(text, root_text):
        raise GeminiInvalidInputError(f"{what} names {shown!r}, which is outside results_root. {fix}")
    local = _local(text)
    if local is not None:
        try:
            mode = os.stat(os.path.realpath(local)).st_mode
        except OSError as exc:
            raise GeminiInputFileError(f"cannot read the file ({exc.strerror}).", path=shown) from None
        if not stat.S_ISREG(mode):
            raise GeminiInvalidInputError(f"{what} names {shown!r}, which is not a regular file. {fix}")
    lines = iter_lines(text)
    try:
        first = next(islice(lines, 1), None)
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()
    if first is not None and not _is_result_row(first):
        raise GeminiInvalidInputError(
            f"{what} names {shown!r}, whose first row is not a landed result row (status, outcome, "
            f"response or error). {fix}"
        )
    return text
