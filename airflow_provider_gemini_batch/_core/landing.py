"""Landed rows written from the result line's own bytes: no re-encoding of response bodies.

A result line is ``{"key", "response" | "error" | "status", ...}`` whose ``response`` holds nearly
all of its bytes. The landed row (:meth:`BatchResult.to_row`) keeps that object whole, so it is
copied from the line as it came (``msgspec.Raw``: a slice of the line, found by one scan) and
only the row's few small fields are encoded. The classification (``_core/rows.py``) still reads
the parsed response, decoded with ``msgspec``; the stdlib ``json`` decode and encode of every
body are gone.

The row parses to exactly what ``json.loads(json.dumps(result.to_row()))`` gives: the same keys
in the same order, the same values (the spliced bytes are the service's own JSON for the same
object, possibly spelled differently: escapes, spacing).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import msgspec

from airflow_provider_gemini_batch._core import rows
from airflow_provider_gemini_batch._core.jsonl import result_from_json
from airflow_provider_gemini_batch._core.models import BatchResult
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError

#: What lines and bodies may be: bytes, a view of a chunk, or a ``msgspec.Raw`` slice of a line.
Buffer = bytes | memoryview | msgspec.Raw


class _Line(msgspec.Struct, gc=False):
    """The fields of a result line the row needs; every other field is skipped while scanning."""

    key: Any = None
    metadata: Any = None
    response: msgspec.Raw = msgspec.Raw()
    error: msgspec.Raw = msgspec.Raw()
    status: msgspec.Raw = msgspec.Raw()


_scan_line = msgspec.json.Decoder(_Line).decode
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


class RawResult(NamedTuple):
    """A parsed result and the raw JSON of the line's objects its row carries.

    ``response`` is the bytes of the line's ``response`` when the result kept it as its
    response; ``error`` the bytes of the ``error`` (or ``status``) object the result took as its
    per-row error (``rows.row_error``). None when the row needs another body (inline results,
    which come parsed; an error made from a ``status`` string; a row with neither). Both are
    bytes-like (``msgspec.Raw``: a view of the line, not a copy), usable with ``bytes.join``,
    ``bytes(...)`` and ``msgspec`` decoders.
    """

    result: BatchResult
    response: Buffer | None = None
    error: Buffer | None = None


_OPEN_BRACE = ord("{")


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes | memoryview]:
    """The lines of a stream of byte chunks (without ``\\n``), blank lines skipped.

    Each line is a ``memoryview`` slice of the chunk holding it (no copy; it keeps that whole
    chunk alive while referenced), or ``bytes`` for a line cut by a chunk boundary (joined: the only
    copy). Memory: one chunk plus one partial line.
    """
    # A line cut by chunk boundaries is kept as its pieces and joined once (appending to one bytes
    # object would copy it again for every block of a long line, e.g. an inline image answer).
    tail: list[bytes] = []
    for chunk in chunks:
        if not chunk:
            continue
        find = chunk.find
        pos = 0
        if tail:
            newline = find(b"\n")
            if newline < 0:
                tail.append(chunk)
                continue
            tail.append(chunk[:newline])
            line, tail = b"".join(tail), []
            pos = newline + 1
            if line.strip():
                yield line
        view = memoryview(chunk)
        while (newline := find(b"\n", pos)) >= 0:
            # A result line starts with "{"; anything else is looked at closer (blank lines).
            if newline > pos and (chunk[pos] == _OPEN_BRACE or chunk[pos:newline].strip()):
                yield view[pos:newline]
            pos = newline + 1
        if pos < len(chunk):
            tail.append(chunk[pos:])
    last = b"".join(tail)
    if last.strip():
        yield last


def parse_raw_result_line(line: Buffer, index: int) -> RawResult:
    """Parse one result-file line, keeping (views of) the bytes of its large fields.

    :raises GeminiInvalidInputError: the line is not a JSON object (a corrupt result file), as
        :func:`~._core.jsonl.parse_result_line`.
    """
    try:
        scanned = _scan_line(line)
    except msgspec.ValidationError:
        raise GeminiInvalidInputError(f"Result line {index + 1} is not a JSON object.") from None
    except msgspec.DecodeError as exc:
        raise GeminiInvalidInputError(f"Result line {index + 1} is not valid JSON ({exc}).") from None
    key = scanned.key
    response = scanned.response
    error = scanned.error
    status = scanned.status
    obj: dict[str, Any] = {}
    if len(response) and not len(error) and not len(status):
        # The common line: a keyed response alone. Its bytes are the row's body, as they came.
        body = _decode(response)
        if type(key) is str and type(body) is dict and rows.plainly_succeeded(body):
            # What result_from_json gives for it, without the general path (once per row).
            return RawResult(BatchResult(key, index, body, None, rows.SUCCEEDED), response)
        obj["response"] = body
    if key is not None:
        obj["key"] = key
    if scanned.metadata is not None:
        obj["metadata"] = scanned.metadata
    if "response" in obj:
        result = result_from_json(obj, index)
        return RawResult(result, response if result.response is not None else None, None)
    raw: dict[str, msgspec.Raw] = {}
    for name, value in (("response", response), ("error", error), ("status", status)):
        if len(value):
            raw[name] = value
            obj[name] = _decode(value)
    result = result_from_json(obj, index)
    # result_from_json keeps the very objects it was given: identity says which bytes they were.
    kept = raw["response"] if result.response is not None and result.response is obj.get("response") else None
    error_bytes = None
    if result.error is not None:
        for name in ("error", "status"):
            if result.error is obj.get(name):
                error_bytes = raw[name]
                break
    return RawResult(result, kept, error_bytes)


def row_line(result: BatchResult, *, response: Buffer | None = None, error: Buffer | None = None) -> bytes:
    """The landed row of ``result`` (:meth:`BatchResult.to_row`) as one JSONL line with ``\\n``.

    The body (``response`` or ``error``, always the row's last field) is copied from the given
    bytes when there are some; the fields between the key and the body depend only on the row's
    classification, so their bytes are made once per distinct classification and reused
    (:func:`_row_middle`). Without body bytes the row is encoded whole with the stdlib, as before.
    """
    if result.response is not None and result.error is None:
        name, source = "response", response
    else:
        name, source = "error", error
    if source is None:
        return json.dumps(result.to_row(), ensure_ascii=False).encode("utf-8") + b"\n"
    middle = _row_middle(result.outcome, result.reason, result.retryable, result.key_inferred, name)
    return b"".join((b'{"key":', _encode(result.key), middle, source, b"}\n"))


@functools.lru_cache(maxsize=4096)
def _row_middle(outcome: str, reason: str | None, retryable: bool, key_inferred: bool, body: str) -> bytes:
    """The bytes of a row between its key and its body, e.g. ``,"status":"succeeded","outcome":
    "succeeded","response":``: what :meth:`BatchResult.to_row` puts there, encoded compactly."""
    fields = BatchResult(None, 0, None, None, outcome, reason, retryable, key_inferred).to_row()
    del fields["key"], fields["error"]  # a result without response gets the placeholder error
    return b"," + _encode(fields)[1:-1] + b',"' + body.encode() + b'":'
