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

import json
from typing import Any, NamedTuple

import msgspec

from airflow_provider_gemini_batch._core.jsonl import result_from_json
from airflow_provider_gemini_batch._core.models import BatchResult
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError


class _Line(msgspec.Struct):
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
    which come parsed; an error made from a ``status`` string; a row with neither).
    """

    result: BatchResult
    response: bytes | None = None
    error: bytes | None = None


def parse_raw_result_line(line: bytes, index: int) -> RawResult:
    """Parse one result-file line, keeping the bytes of its large fields.

    :raises GeminiInvalidInputError: the line is not a JSON object (a corrupt result file), as
        :func:`~._core.jsonl.parse_result_line`.
    """
    try:
        scanned = _scan_line(line)
    except msgspec.ValidationError:
        raise GeminiInvalidInputError(f"Result line {index + 1} is not a JSON object.") from None
    except msgspec.DecodeError as exc:
        raise GeminiInvalidInputError(f"Result line {index + 1} is not valid JSON ({exc}).") from None
    obj: dict[str, Any] = {}
    raw: dict[str, bytes] = {}
    if scanned.key is not None:
        obj["key"] = scanned.key
    if scanned.metadata is not None:
        obj["metadata"] = scanned.metadata
    for name in ("response", "error", "status"):
        value: msgspec.Raw = getattr(scanned, name)
        if len(value):
            data = bytes(value)
            raw[name] = data
            obj[name] = _decode(data)
    result = result_from_json(obj, index)
    # result_from_json keeps the very objects it was given: identity says which bytes they were.
    response = (
        raw["response"] if result.response is not None and result.response is obj.get("response") else None
    )
    error = None
    if result.error is not None:
        for name in ("error", "status"):
            if result.error is obj.get(name):
                error = raw[name]
                break
    return RawResult(result, response, error)


def row_line(result: BatchResult, *, response: bytes | None = None, error: bytes | None = None) -> bytes:
    """The landed row of ``result`` (:meth:`BatchResult.to_row`) as one JSONL line with ``\n``.

    The body (``response`` or ``error``, always the row's last field) is copied from the given
    bytes when there are some; otherwise the row is encoded whole with the stdlib, as before.
    """
    row = result.to_row()
    name = "response" if "response" in row else "error"
    source = response if name == "response" else error
    if source is None:
        return json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n"
    del row[name]
    head = _encode(row)
    # head is "{...}" (never empty: key, status and outcome come first): reopen it, append the body.
    return b"".join((head[:-1], b',"', name.encode(), b'":', source, b"}\n"))
