"""JSONL input validation and result normalisation.

Input lines have the documented shape ``{"key": "k1", "request": {...}}`` (``key`` optional but,
if used, on every line and unique). Validation streams: one line in memory at a time, with
1-based line numbers in every error.

Results arrive either as lines of a result file (``{"key", "response" | "error" | "status"}``) or
as inline responses (``{"response" | "error", "metadata": {"key"}}``). Both become :class:`BatchResult`;
the key always comes from the result itself (results may come back out of order), and the
position is only a fallback identity when no keys were given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from airflow_provider_gemini_batch._core import rows
from airflow_provider_gemini_batch._core.models import BatchResult
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError, GeminiInvalidInputError


@dataclass(frozen=True)
class InputSummary:
    """What validation learnt about an input: ``count`` request lines, whether they carry keys."""

    count: int
    keyed: bool


def validate_input_lines(lines: Iterable[bytes | str], *, path: str) -> InputSummary:
    """Check JSONL input line by line.

    A final newline is fine; an empty line elsewhere is an error (the service would reject it).

    :raises GeminiInputFileError: invalid JSON, a line that is not an object, a missing or
        non-object ``request``, a non-string or empty ``key``, keys on some lines only, a duplicate
        key (naming both lines), or a file with no lines at all.
    """
    seen: dict[str, int] = {}
    count = 0
    keyed: bool | None = None
    pending_blank: int | None = None
    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if not text.strip():
            pending_blank = pending_blank or number
            continue
        if pending_blank is not None:
            raise GeminiInputFileError(
                "empty line; every line must hold one request.", path=path, line_number=pending_blank
            )
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise GeminiInputFileError(f"not valid JSON ({exc}).", path=path, line_number=number) from None
        if not isinstance(obj, dict):
            raise GeminiInputFileError("a line must be a JSON object.", path=path, line_number=number)
        if "request" not in obj:
            raise GeminiInputFileError(
                'the line has no "request"; write each line as {"key": "...", "request": {...}}.',
                path=path,
                line_number=number,
            )
        if not isinstance(obj["request"], dict):
            raise GeminiInputFileError('"request" must be a JSON object.', path=path, line_number=number)
        has_key = "key" in obj
        if keyed is None:
            keyed = has_key
        elif keyed != has_key:
            raise GeminiInputFileError(
                'some lines have a "key" and others not; give every line a key (or none).',
                path=path,
                line_number=number,
            )
        if has_key:
            key = obj["key"]
            if not isinstance(key, str) or not key:
                raise GeminiInputFileError('"key" must be a non-empty string.', path=path, line_number=number)
            if key in seen:
                raise GeminiInputFileError(
                    f"duplicate key {key!r} (first used on line {seen[key]}).", path=path, line_number=number
                )
            seen[key] = number
        count += 1
    if count == 0:
        raise GeminiInputFileError("the file holds no requests.", path=path)
    return InputSummary(count=count, keyed=bool(keyed))


def validate_input_file(path: str, opener: Any = None) -> InputSummary:
    """Validate a local JSONL file (or any object whose ``open("rb")`` yields lines).

    :raises GeminiInputFileError: as :func:`validate_input_lines`, or a line that is not UTF-8.
    """
    from pathlib import Path

    target = opener if opener is not None else Path(path)
    with target.open("rb") as handle:
        try:
            return validate_input_lines(handle, path=str(path))
        except UnicodeDecodeError as exc:
            raise GeminiInputFileError(f"not UTF-8 text ({exc.reason}).", path=str(path)) from None


def inline_request_items(requests: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Turn user inline requests into ``InlinedRequest`` items ``{"request", "metadata": {"key"}}``.

    Accepted shapes per item: ``{"key": str, "request": {...}}`` (the JSONL line shape),
    ``{"request": {...}, "metadata": {...}}`` (the wire shape) or a bare GenerateContentRequest.

    :raises GeminiInvalidInputError: empty list, non-dict items, mixed keyed/unkeyed items,
        non-string or duplicate keys.
    """
    if isinstance(requests, (str, bytes)) or not isinstance(requests, Sequence):
        raise GeminiInvalidInputError("requests must be a list of request dicts.")
    if not requests:
        raise GeminiInvalidInputError("requests is empty; a batch needs at least one request.")
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    keyed: bool | None = None
    for index, item in enumerate(requests):
        if not isinstance(item, Mapping):
            raise GeminiInvalidInputError(f"requests[{index}] must be a dict, got {type(item).__name__}.")
        if "request" in item:
            if not isinstance(item["request"], Mapping):
                raise GeminiInvalidInputError(f'requests[{index}]["request"] must be a dict.')
            metadata = dict(item.get("metadata") or {})
            if "key" in item:
                metadata["key"] = item["key"]
            out: dict[str, Any] = {"request": dict(item["request"])}
        else:
            metadata = {}
            out = {"request": dict(item)}
        has_key = "key" in metadata
        keyed = has_key if keyed is None else keyed
        if keyed != has_key:
            raise GeminiInvalidInputError(
                f"requests[{index}]: some requests have a key and others not; "
                "give every request a key (or none)."
            )
        if has_key:
            key = metadata["key"]
            if not isinstance(key, str) or not key:
                raise GeminiInvalidInputError(f"requests[{index}]: key must be a non-empty string.")
            if key in seen:
                raise GeminiInvalidInputError(
                    f"requests[{index}]: duplicate key {key!r} (also requests[{seen[key]}])."
                )
            seen[key] = index
        if metadata:
            out["metadata"] = metadata
        items.append(out)
    return items


def _key_of(obj: Mapping[str, Any]) -> str | None:
    key = obj.get("key")
    if key is None:
        meta = obj.get("metadata")
        if isinstance(meta, Mapping):
            key = meta.get("key")
    return None if key is None else str(key)


def result_from_json(obj: Mapping[str, Any], index: int) -> BatchResult:
    """Normalise one result object (file line or inline response) at output position ``index``.

    The per-row error is read from ``error`` or ``status`` (both seen on the wire, see
    ``_core/rows.py``) and kept whole; the row is classified by :func:`rows.classify`.
    """
    raw_response = obj.get("response")
    response = raw_response if isinstance(raw_response, Mapping) else None
    error = rows.row_error(obj)
    verdict = rows.classify(response, error)
    return BatchResult(
        key=_key_of(obj),
        index=index,
        response=response,
        error=error,
        outcome=verdict.outcome,
        reason=verdict.reason,
        retryable=verdict.retryable,
    )


def with_position_key(result: BatchResult) -> BatchResult:
    """``result`` with the key of its request's position (``request-<index>``), marked inferred.

    Only sound when the results are exactly the batch's requests (the caller checks that the landed
    count equals ``batchStats.requestCount``) and come back in request order, which the API
    documents for inline responses (REST reference ``GenerateContentBatchOutput``; python-genai
    issue #1909 reports a batch where it did not hold, hence the ``key_inferred`` mark).
    """
    if result.key is not None:
        return result
    return replace(result, key=rows.position_key(result.index), key_inferred=True)


def parse_result_line(line: bytes | str, index: int) -> BatchResult:
    """Parse one line of a result file.

    :raises GeminiInvalidInputError: if the line is not a JSON object (a corrupt result file).
    """
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise GeminiInvalidInputError(f"Result line {index + 1} is not valid JSON ({exc}).") from None
    if not isinstance(obj, dict):
        raise GeminiInvalidInputError(f"Result line {index + 1} is not a JSON object.")
    return result_from_json(obj, index)


def iter_inline_results(items: Iterable[Any]) -> Iterator[BatchResult]:
    """Results from ``output.inlinedResponses.inlinedResponses``."""
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            yield result_from_json(item, index)


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Re-split a stream of byte chunks into lines (without ``\\n``), skipping blank lines.

    Holds at most one chunk plus one partial line in memory.
    """
    pending = b""
    for chunk in chunks:
        if not chunk:
            continue
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if pending.strip():
        yield pending
