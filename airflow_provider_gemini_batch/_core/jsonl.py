"""JSONL input validation and result normalisation.

Input lines have the documented shape ``{"key": "k1", "request": {...}}`` (``key`` optional but,
if used, on every line and unique); each ``request`` is checked against its REST type by
:mod:`~airflow_provider_gemini_batch._core.request_fields`. Validation streams: one line in memory
at a time, with 1-based line numbers, the key and the field in every error. Inline requests get
a generated key where they have none.

Results arrive either as lines of a result file (``{"key", "response" | "error" | "status"}``) or
as inline responses (``{"response" | "error", "metadata": {"key"}}``). Both become :class:`BatchResult`;
the key always comes from the result itself (results may come back out of order), and the
position is only a fallback identity when no keys were given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import msgspec

from airflow_provider_gemini_batch._core import request_fields, rows
from airflow_provider_gemini_batch._core.input_check import InputSummary, InputValidator
from airflow_provider_gemini_batch._core.input_reread import file_lines
from airflow_provider_gemini_batch._core.input_rules import custom_id_message
from airflow_provider_gemini_batch._core.models import BatchResult
from airflow_provider_gemini_batch._core.result_lines import split_lines as split_lines  # re-exported
from airflow_provider_gemini_batch._core.result_lines import too_deep
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError


def validate_input_lines(
    lines: Iterable[bytes | str], *, path: str, embeddings: bool | None = None
) -> InputSummary:
    """Check JSONL input line by line.

    A final newline is fine; an empty line elsewhere is an error (the service would reject it).
    The state of the pass lives in :class:`~._core.input_check.InputValidator`, which also takes
    the input as raw chunks (the hook validates the chunks it uploads, in the same read).

    :param embeddings: True for an embedding batch (each ``request`` an EmbedContentRequest), False
        for a generateContent batch, None (default) when the caller does not know: the first line's
        request decides (``content`` without ``contents`` means embeddings) and every other line
        must be of the same kind.
    :raises GeminiInputFileError: invalid JSON, a line that is not an object, a missing or
        non-object ``request``, a non-string or empty ``key``, keys on some lines only, a duplicate
        key (naming both lines), a request field the request type does not have or of the wrong
        shape (see :mod:`~airflow_provider_gemini_batch._core.request_fields`), a request setting
        beside ``request`` on the line, a line that is not UTF-8, or a file with no lines at all.
        The error names the file, line, key and field.
    """
    # A list or tuple can be read again, so its keys are checked in bounded memory; a one-shot
    # iterator keeps every key (see InputValidator's ``reread``).
    reread = (lambda: lines) if isinstance(lines, Sequence) else None
    validator = InputValidator(path, embeddings=embeddings, reread=reread)
    feed = validator.feed_line
    for raw in lines:
        feed(raw)
    return validator.finish()


def echoed_fields_warning(summary: InputSummary, path: str) -> str | None:
    """A log line about line-level fields the service will not read, or None when there are none."""
    if not summary.echoed_fields:
        return None
    listed = ", ".join(f"{name!r} (first on line {line})" for name, line in summary.echoed_fields.items())
    return (
        f'{path}: the line field(s) {listed} sit beside "key" and "request"; the service does not read '
        'them and echoes them on the result line (go-genai issue #513). Move settings into "request".'
    )


#: Bytes per read when validating (and hashing) a file in one pass.
READ_BLOCK_BYTES = 8 * 1024 * 1024
#: Bytes handed to the validator at a time (as the upload's reader does).
FEED_SLICE_BYTES = 1 << 18


def validate_input_file(
    path: str, opener: Any = None, *, embeddings: bool | None = None, digest: Any = None
) -> InputSummary:
    """Validate a local JSONL file (or any object whose ``open("rb")`` yields its bytes).

    The file is read once, in blocks of :data:`READ_BLOCK_BYTES`; when ``digest`` (a ``hashlib``
    object) is given, every block is also fed to it, so a caller that needs the content hash
    (the reuse fingerprint) gets it from the same read.

    :param embeddings: as :func:`validate_input_lines` (None: decided by the first line).
    :raises GeminiInputFileError: as :func:`validate_input_lines`.
    """
    from pathlib import Path

    target = opener if opener is not None else Path(path)
    validator = InputValidator(str(path), embeddings=embeddings, reread=file_lines(target))
    with target.open("rb") as handle:
        while block := handle.read(READ_BLOCK_BYTES):
            if digest is not None:
                digest.update(block)
            # In slices: the window of recent keys is spilled between them (bounded overshoot).
            for start in range(0, len(block), FEED_SLICE_BYTES):
                validator.feed_chunk(block, start, min(start + FEED_SLICE_BYTES, len(block)))
    return validator.finish()


#: Reserved inline ``metadata`` entry marking a key this provider generated (value ``"true"``;
#: metadata values must be strings for the SDK to read results back: its ``InlinedResponse.metadata`` is
#: ``dict[str, str]``).
GENERATED_KEY_METADATA = "gemini_batch_key_generated"
#: Fields of one inline item: the JSONL-line shape (``key``) or the wire shape (``metadata``).
_INLINE_ITEM_FIELDS = frozenset(("key", "request", "metadata"))


def key_was_generated(metadata: Mapping[str, Any] | None) -> bool:
    """True when an inline request's (echoed) ``metadata`` carries a key generated by this provider."""
    return isinstance(metadata, Mapping) and metadata.get(GENERATED_KEY_METADATA) == "true"


def inline_request_items(
    requests: Sequence[Mapping[str, Any]], *, embeddings: bool = False
) -> list[dict[str, Any]]:
    """Turn user inline requests into ``InlinedRequest`` items ``{"request", "metadata": {"key"}}``.

    Accepted shapes per item: ``{"key": str, "request": {...}}`` (the JSONL line shape),
    ``{"request": {...}, "metadata": {...}}`` (the wire shape) or a bare request. Each request is
    checked against its type (GenerateContentRequest, or EmbedContentRequest when ``embeddings``).

    Every item gets a key, so results join by key whatever order they come back in: an item
    without one gets ``"request-<0-based position>"`` and the metadata entry
    ``GENERATED_KEY_METADATA: "true"`` (see :func:`key_was_generated`).

    :raises GeminiInvalidInputError: empty list, non-dict items, a field an inline item does not
        have, non-string or duplicate keys (a user key equal to a generated one names both
        positions), the reserved metadata entry set by the user, or a request field problem
        (naming the position, key and field).
    """
    if isinstance(requests, (str, bytes)) or not isinstance(requests, Sequence):
        raise GeminiInvalidInputError("requests must be a list of request dicts.")
    if not requests:
        raise GeminiInvalidInputError("requests is empty; a batch needs at least one request.")
    kind = request_fields.EMBED if embeddings else request_fields.GENERATE
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    unkeyed: list[int] = []
    for index, item in enumerate(requests):
        if not isinstance(item, Mapping):
            raise GeminiInvalidInputError(f"requests[{index}] must be a dict, got {type(item).__name__}.")
        if "request" in item:
            where = f"requests[{index}]"
            if "custom_id" in item and "key" not in item:
                raise GeminiInvalidInputError(f"{where}, field custom_id: {custom_id_message('item')}")
            for name in item:
                if name not in _INLINE_ITEM_FIELDS:
                    problem = request_fields.check_line_field(name)
                    hint = (
                        problem.message
                        if problem is not None
                        else (
                            f'{name} is not part of an inline request ({{"key", "request", "metadata"}}) and '
                            "would be dropped; put your own data in metadata (string values)."
                        )
                    )
                    raise GeminiInvalidInputError(f"{where}, field {name}: {hint}")
            request = item["request"]
            if not isinstance(request, Mapping):
                raise GeminiInvalidInputError(f'{where}["request"] must be a dict.')
            raw_meta = item.get("metadata")
            if raw_meta is not None and not isinstance(raw_meta, Mapping):
                raise GeminiInvalidInputError(f"{where}, field metadata: metadata must be a dict.")
            metadata = dict(raw_meta or {})
            if "key" in item:
                metadata["key"] = item["key"]
            field_prefix = "request."
        else:
            request, metadata, field_prefix = item, {}, ""
        if GENERATED_KEY_METADATA in metadata:
            raise GeminiInvalidInputError(
                f"requests[{index}]: the metadata entry {GENERATED_KEY_METADATA!r} is reserved for keys "
                "this provider generates; remove it."
            )
        key = metadata.get("key")
        label = f"requests[{index}]" + (f" (key {key!r})" if isinstance(key, str) else "")
        problem = request_fields.check_request(request, kind)
        if problem is not None:
            raise GeminiInvalidInputError(f"{label}, field {field_prefix}{problem.field}: {problem.message}")
        if "key" in metadata:
            if not isinstance(key, str) or not key:
                raise GeminiInvalidInputError(f"requests[{index}]: key must be a non-empty string.")
            if key in seen:
                raise GeminiInvalidInputError(
                    f"requests[{index}]: duplicate key {key!r} (also requests[{seen[key]}])."
                )
            seen[key] = index
        else:
            unkeyed.append(index)
        out: dict[str, Any] = {"request": dict(request)}
        if metadata:
            out["metadata"] = metadata
        items.append(out)
    for index in unkeyed:
        key = rows.position_key(index)  # the same identity results give key-less rows
        if key in seen:
            raise GeminiInvalidInputError(
                f"requests[{index}] has no key and would get the generated key {key!r}, which "
                f"requests[{seen[key]}] already uses; rename that key or give requests[{index}] its own."
            )
        items[index]["metadata"] = {
            **items[index].get("metadata", {}),
            "key": key,
            GENERATED_KEY_METADATA: "true",
        }
    return items


def _key_of(obj: Mapping[str, Any]) -> str | None:
    """The row's key: ``key``, else ``metadata.key``; None when neither is there (or is null).

    Keys are strings (the input checks refuse others, and the service echoes what it was given).
    A result carrying another JSON value as its key (a broken or hostile file) gets that value's
    compact JSON text as its key (``7`` -> ``"7"``, ``true`` -> ``"true"``, ``{"a": 1}`` ->
    ``'{"a":1}'``): one documented spelling, the same whichever client reads it, never Python's.
    """
    key = obj.get("key")
    if key is None:
        meta = obj.get("metadata")
        if isinstance(meta, Mapping):
            key = meta.get("key")
    if key is None or type(key) is str:
        return key
    return key_text(key)


def key_text(key: Any) -> str:
    """A non-string key as its compact JSON text (see :func:`_key_of`)."""
    try:
        return msgspec.json.encode(key).decode("utf-8")
    except (TypeError, ValueError, OverflowError):  # not a JSON value (cannot come from a decoded line)
        return str(key)


def result_from_json(obj: Mapping[str, Any], index: int) -> BatchResult:
    """Normalise one result object (file line or inline response) at output position ``index``.

    The per-row error is read from ``error`` or ``status`` (both seen on the wire, see
    ``_core/rows.py``) and kept whole; the row is classified by :func:`rows.classify`.
    """
    raw_response = obj.get("response")
    response = raw_response if type(raw_response) is dict or isinstance(raw_response, Mapping) else None
    # Most rows carry neither field: skip the per-row error lookup for them (runs once per row).
    error = rows.row_error(obj) if "error" in obj or "status" in obj else None
    verdict = rows.classify(response, error)
    # Positional: this runs once per landed row (key, index, response, error, outcome, reason, retryable).
    return BatchResult(
        _key_of(obj), index, response, error, verdict.outcome, verdict.reason, verdict.retryable
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
    except RecursionError:
        raise too_deep(index + 1, line if isinstance(line, bytes) else line.encode("utf-8")) from None
    if not isinstance(obj, dict):
        raise GeminiInvalidInputError(f"Result line {index + 1} is not a JSON object.")
    return result_from_json(obj, index)


def iter_inline_results(items: Iterable[Any]) -> Iterator[BatchResult]:
    """Results from ``output.inlinedResponses.inlinedResponses``."""
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            yield result_from_json(item, index)
