"""Resubmitting the rows that failed in a retryable way, and merging the attempts (pure, no I/O).

The results operator lands one JSONL row per result (``BatchResult.to_row``: ``key``, ``status``,
``outcome``, ``retryable`` ...). A row is worth resubmitting only when ``retryable`` is true, which
``_core/rows.py`` sets for per-row errors whose code says "try again" (HTTP 429/500/503/504, gRPC
DEADLINE_EXCEEDED/RESOURCE_EXHAUSTED/INTERNAL/UNAVAILABLE); a blocked prompt or a malformed
request fails the same way again and is left alone.

Memory: bounded whatever the number of rows that failed. The keys to resubmit (or, in a merge, the
keys answered again) are matched against the file's lines by ``_core/keyjoin.py``: in a ``set``
while they are few (the usual case), else partitioned to temporary files and joined a partition at
a time. The match is a bitmap of line positions, and the file is then streamed again, so the input
and the result files are read twice, one line at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from airflow_provider_gemini_batch._core import rows
from airflow_provider_gemini_batch._core.keyjoin import MEMORY_KEYS, Marks, mark_positions
from airflow_provider_gemini_batch._core.models import BatchResult
from airflow_provider_gemini_batch._core.sharding import keyed_line
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError


def _row(line: bytes, *, path: str, line_no: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise GeminiInputFileError(f"not valid JSON ({exc}).", path=path, line_number=line_no) from None
    except RecursionError:
        raise GeminiInputFileError(
            "nested too deeply to be a landed result row; fix or remove the line.",
            path=path,
            line_number=line_no,
        ) from None
    if not isinstance(obj, dict):
        raise GeminiInputFileError("not a JSON object.", path=path, line_number=line_no)
    return obj


_KEY_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError)


def retryable_keys(result_lines: Iterable[bytes], *, path: str) -> Iterator[str]:
    """Keys of the landed rows that failed retryably (``status == "failed"`` and ``retryable``),
    streamed (a key may come more than once).

    :param result_lines: the non-blank lines of a landed result file.
    :raises GeminiInputFileError: a line is not a JSON object, or a retryable row has no key (it
        cannot be matched to its request).
    """
    for line_no, line in enumerate(result_lines, start=1):
        try:
            # The three fields that decide, read without the response (most of the row's bytes).
            head = _decode_outcome(line)
        except _KEY_ERRORS:
            row = _row(line, path=path, line_no=line_no)  # not an object: named there
            head = _Outcome(row.get("key"), row.get("status"), row.get("retryable"))
        if head.status != "failed" or head.retryable is not True:
            continue
        key = head.key
        if key is None:
            raise GeminiInputFileError(
                "a retryable failed row has no key, so its request cannot be found in the input. Give "
                "every request a key.",
                path=path,
                line_number=line_no,
            )
        yield str(key)


class _Outcome(msgspec.Struct, gc=False):
    key: Any = None
    status: Any = None
    retryable: Any = None


_decode_outcome = msgspec.json.Decoder(_Outcome).decode


@dataclass
class FollowUp:
    """What :func:`follow_up_lines` picked: ``selected`` lines written, ``missing`` keys asked for
    but not found in the input (sorted; at most :data:`MISSING_NAMED` are kept), ``missing_count``
    of them in all, and ``wanted`` distinct keys asked for."""

    selected: int = 0
    missing: list[str] = field(default_factory=list)
    missing_count: int = 0
    wanted: int = 0


#: How many missing keys a follow-up names.
MISSING_NAMED = 20


class _KeyLine(msgspec.Struct, gc=False):
    """The two fields that decide a line's key (``keyed_line``); the rest is skipped unread."""

    key: Any = None
    request: msgspec.Raw = msgspec.Raw()


_decode_key_line = msgspec.json.Decoder(_KeyLine).decode


def input_key(line: bytes, position: int, *, path: str) -> str:
    """The key :func:`keyed_line` gives the input line at 0-based ``position``, read without
    building the request (a line that is not an object goes the slow way, which names it)."""
    try:
        head = _decode_key_line(line)
    except _KEY_ERRORS:
        return keyed_line(_row(line, path=path, line_no=position + 1), position)[0]
    key = head.key
    if not len(head.request) or key is None or key == "":
        return rows.position_key(position)
    return str(key)


def select_follow_up(
    input_lines: Iterable[bytes], keys: Iterable[str], *, path: str, memory_keys: int = MEMORY_KEYS
) -> Marks:
    """The positions of the input lines to resubmit: the first line holding each of ``keys``.

    Keys are matched as the splitter and the results operator assign them: a line's own key, else
    ``request-<0-based position>`` (so a bare-request input resubmits under the same identity).

    :param memory_keys: keys joined in memory before the join partitions to disk (default
        ``keyjoin.MEMORY_KEYS``; tests lower it to cross the limit with a small input).
    """
    return mark_positions(
        keys,
        (input_key(line, p, path=path) for p, line in enumerate(input_lines)),
        first_only=True,
        memory_keys=memory_keys,
    )


def follow_up_lines(
    input_lines: Iterable[bytes], marks: Marks, *, path: str, report: FollowUp
) -> Iterator[bytes]:
    """The input lines at the positions of ``marks`` (:func:`select_follow_up`, on the same input),
    each as ``{"key", "request"}`` plus newline. ``report`` is filled as lines are picked."""
    report.wanted = marks.wanted
    report.missing = marks.missing_named
    report.missing_count = marks.missing
    if not marks.matched:
        return
    for position, line in enumerate(input_lines):
        if position in marks:
            _key, keyed = keyed_line(_row(line, path=path, line_no=position + 1), position)
            report.selected += 1
            yield json.dumps(keyed, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def landed_result(line: bytes, *, path: str, index: int) -> BatchResult:
    """A landed row (``BatchResult.to_row``) read back as a :class:`BatchResult`, keeping the
    classification it was landed with (its ``status`` is the landed ``succeeded``/``failed``, not a
    per-row error, so the row is not classified again)."""
    row = _row(line, path=path, line_no=index + 1)
    response = row.get("response")
    error = row.get("error")
    key = row.get("key")
    return BatchResult(
        key=None if key is None else str(key),
        index=index,
        response=response if isinstance(response, dict) else None,
        error=error if isinstance(error, dict) else None,
        outcome=str(row.get("outcome") or ("succeeded" if row.get("status") == "succeeded" else "error")),
        reason=row.get("reason"),
        retryable=row.get("retryable") is True,
        key_inferred=row.get("key_inferred") is True,
    )


class _RowKey(msgspec.Struct, gc=False):
    key: Any = None


_decode_row_key = msgspec.json.Decoder(_RowKey).decode


def row_key(line: bytes, *, path: str, line_no: int) -> str | None:
    """The ``key`` of one landed result row (None for a key-less row), read without the rest."""
    try:
        key = _decode_row_key(line).key
    except _KEY_ERRORS:
        key = _row(line, path=path, line_no=line_no).get("key")
    return None if key is None else str(key)


def _row_keys(lines: Iterable[bytes], path: str) -> Iterator[str | None]:
    for line_no, line in enumerate(lines, start=1):
        yield row_key(line, path=path, line_no=line_no)


def replaced_rows(
    earlier: Iterable[bytes],
    later: Iterable[bytes],
    *,
    earlier_path: str,
    later_path: str,
    memory_keys: int = MEMORY_KEYS,
) -> Marks:
    """The positions of ``earlier``'s rows whose key one of ``later``'s rows has (every such row);
    ``wanted`` is the number of distinct keys in ``later``. ``memory_keys``: as in
    :func:`select_follow_up`."""
    keys = (k for k in _row_keys(later, later_path) if k is not None)
    return mark_positions(keys, _row_keys(earlier, earlier_path), first_only=False, memory_keys=memory_keys)


def merged_lines(earlier: Iterable[bytes], later: Iterable[bytes], replaced: Marks) -> Iterator[bytes]:
    """One row per key, the later attempt winning: the rows of ``earlier`` not in ``replaced``
    (:func:`replaced_rows` of the same files), then every row of ``later`` (each with its newline)."""
    for position, line in enumerate(earlier):
        if position not in replaced:
            yield line.rstrip(b"\r") + b"\n"
    for line in later:
        yield line.rstrip(b"\r") + b"\n"
