"""Resubmitting the rows that failed in a retryable way, and merging the attempts (pure, no I/O).

The results operator lands one JSONL row per result (``BatchResult.to_row``: ``key``, ``status``,
``outcome``, ``retryable`` ...). A row is worth resubmitting only when ``retryable`` is true, which
``_core/rows.py`` sets for per-row errors whose code says "try again" (HTTP 429/500/503/504, gRPC
DEADLINE_EXCEEDED/RESOURCE_EXHAUSTED/INTERNAL/UNAVAILABLE); a blocked prompt or a malformed
request fails the same way again and is left alone.

Memory: only the keys of the rows being resubmitted are held (the failed ones, usually few); the
input and the result files are streamed by the caller through these functions one line at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

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


def retryable_keys(result_lines: Iterable[bytes], *, path: str) -> set[str]:
    """Keys of the landed rows that failed retryably (``status == "failed"`` and ``retryable``).

    :param result_lines: the non-blank lines of a landed result file.
    :raises GeminiInputFileError: a line is not a JSON object, or a retryable row has no key (it
        cannot be matched to its request).
    """
    keys: set[str] = set()
    for line_no, line in enumerate(result_lines, start=1):
        row = _row(line, path=path, line_no=line_no)
        if row.get("status") != "failed" or row.get("retryable") is not True:
            continue
        key = row.get("key")
        if key is None:
            raise GeminiInputFileError(
                "a retryable failed row has no key, so its request cannot be found in the input. Give "
                "every request a key.",
                path=path,
                line_number=line_no,
            )
        keys.add(str(key))
    return keys


@dataclass
class FollowUp:
    """What :func:`follow_up_lines` picked: ``selected`` lines written, ``missing`` keys asked for
    but not found in the input (sorted; at most :data:`MISSING_NAMED` are kept)."""

    selected: int = 0
    missing: list[str] = field(default_factory=list)


#: How many missing keys a follow-up names.
MISSING_NAMED = 20


def follow_up_lines(
    input_lines: Iterable[bytes], keys: set[str], *, path: str, report: FollowUp
) -> Iterator[bytes]:
    """The input lines whose key is in ``keys``, each as ``{"key", "request"}`` plus newline.

    Keys are matched as the splitter and the results operator assign them: a line's own key, else
    ``request-<0-based position>`` (so a bare-request input resubmits under the same identity).
    ``report`` is filled as lines are picked; ``report.missing`` is set once the input is exhausted.
    """
    wanted = set(keys)
    for position, line in enumerate(input_lines):
        obj = _row(line, path=path, line_no=position + 1)
        key, keyed = keyed_line(obj, position)
        if key in wanted:
            wanted.discard(key)
            report.selected += 1
            yield json.dumps(keyed, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
    report.missing = sorted(wanted)[:MISSING_NAMED]


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


def row_key(line: bytes, *, path: str, line_no: int) -> str | None:
    """The ``key`` of one landed result row (None for a key-less row)."""
    key = _row(line, path=path, line_no=line_no).get("key")
    return None if key is None else str(key)


def merged_lines(
    earlier: Iterable[bytes], later: Iterable[bytes], later_keys: set[str], *, earlier_path: str
) -> Iterator[bytes]:
    """One row per key, the later attempt winning: the rows of ``earlier`` whose key is not in
    ``later_keys``, then every row of ``later`` (each with its newline).

    :param later_keys: the keys of ``later``'s rows (read in a first pass over ``later``).
    """
    for line_no, line in enumerate(earlier, start=1):
        if row_key(line, path=earlier_path, line_no=line_no) not in later_keys:
            yield line.rstrip(b"\r") + b"\n"
    for line in later:
        yield line.rstrip(b"\r") + b"\n"
