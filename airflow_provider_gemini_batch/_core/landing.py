"""Landed rows written from the result line's own bytes: no re-encoding of response bodies.

A result line is ``{"key", "response" | "error" | "status", ...}`` whose ``response`` holds nearly
all of its bytes. The landed row (:meth:`BatchResult.to_row`) keeps that object whole, so it is
copied from the line as it came (``msgspec.Raw``: a slice of the line, found by one scan) and
only the row's few small fields are encoded.

A result file is landed a block of lines at a time (:func:`land_result_blocks`): the common row, a
keyed response that plainly succeeded, is told apart by a typed decode of the few fields that
decide it (its text is skipped, no Python object is built for the response) and counted without
a :class:`BatchResult`; every other row goes through the general path (:func:`raw_result_from_scan`,
the classification of ``_core/rows.py`` on the decoded response). Measured on a 66 MB result file
of 2.6 kB rows in one process: 3.8 s/GB line by line with the whole response decoded against
2.7 s/GB (a machine shared with other work; the ratio held over 5 rounds).

The row parses to exactly what ``json.loads(json.dumps(result.to_row()))`` gives: the same keys
in the same order, the same values (the spliced bytes are the service's own JSON for the same
object, possibly spelled differently: escapes, spacing).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import msgspec

from airflow_provider_gemini_batch._core import rows
from airflow_provider_gemini_batch._core.jsonl import result_from_json, with_position_key
from airflow_provider_gemini_batch._core.manifest import ResultsTally
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


def parse_raw_result_line(line: Buffer, index: int) -> RawResult:
    """Parse one result-file line, keeping (views of) the bytes of its large fields.

    :raises GeminiInvalidInputError: the line is not a JSON object (a corrupt result file), as
        :func:`~._core.jsonl.parse_result_line`.
    """
    return raw_result_from_scan(_scan_one(line, index), index)


def _scan_one(line: Buffer, index: int) -> _Line:
    """The scanned fields of result line ``index`` (0-based), or the error naming it."""
    try:
        return _scan_line(line)
    except msgspec.ValidationError:
        raise GeminiInvalidInputError(f"Result line {index + 1} is not a JSON object.") from None
    except msgspec.DecodeError as exc:
        raise GeminiInvalidInputError(f"Result line {index + 1} is not valid JSON ({exc}).") from None


def raw_result_from_scan(scanned: _Line, index: int) -> RawResult:
    """The :class:`RawResult` of a scanned line: the general path, every rule of ``result_from_json``."""
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


# -- a result file landed a block of lines at a time ----------------------------------------------
#
# (``msgspec``'s ``decode_lines`` scans a whole block in one call, but it reads whitespace-separated
# values, not lines, and the cheapest checks that would make it exact, ``bytes.count`` of "\n" and of
# "}\n{", cost 1.2 s/GB, more than the per-line calls they save: measured on a 66 MB result file.)

_SCAN_ERRORS = (msgspec.ValidationError, msgspec.DecodeError)


def scan_result_blocks(blocks: Iterable[bytes]) -> Iterator[list[_Line]]:
    """The scanned lines of a result file, in order, a list per block; blank lines skipped.

    :param blocks: the file's bytes in consecutive blocks of any size (lines may span blocks).
    :returns: lists of the scanned lines (``key``, ``metadata`` and raw views of ``response``,
        ``error``, ``status``); the n-th line overall is result index n. A line cut by block
        boundaries is joined (its own list of one); memory: one block plus one partial line.
    :raises GeminiInvalidInputError: a line that is not a JSON object, named by its 1-based number
        among the non-blank lines (as :func:`parse_raw_result_line`).
    """
    index = 0
    tail: list[bytes] = []
    for block in blocks:
        if not block:
            continue
        start = 0
        if tail:
            newline = block.find(b"\n")
            if newline < 0:
                tail.append(block)
                continue
            tail.append(block[:newline])
            line, tail = b"".join(tail), []
            start = newline + 1
            if line.strip():
                yield [_scan_one(line, index)]
                index += 1
        end = block.rfind(b"\n", start) + 1
        if end > start:
            scanned = _scan_region(block, start, end, index)
            if scanned:
                index += len(scanned)
                yield scanned
        rest = max(start, end)
        if rest < len(block):
            tail.append(block[rest:])
    last = b"".join(tail)
    if last.strip():
        yield [_scan_one(last, index)]


def _scan_region(block: bytes, start: int, end: int, index: int) -> list[_Line]:
    """The scanned lines of ``block[start:end]`` (whole lines, the last ending with ``\\n``)."""
    out: list[_Line] = []
    append = out.append
    find = block.find
    scan = _scan_line
    view = memoryview(block)
    pos = start
    while (newline := find(b"\n", pos, end)) >= 0:
        # A result line starts with "{"; anything else is looked at closer (blank lines).
        if newline > pos and (block[pos] == _OPEN_BRACE or block[pos:newline].strip()):
            try:
                append(scan(view[pos:newline]))
            except _SCAN_ERRORS:
                _scan_one(view[pos:newline], index + len(out))  # raises, naming the line
        pos = newline + 1
    return out


# The few fields of a response that tell a plain success (``rows.plainly_succeeded``) and its token
# counts, decoded typed: every other field, and the text itself, is skipped (no dict, no str built).
# A response of another shape fails this decode and takes the general path (``raw_result_from_scan``).


class _Part(msgspec.Struct, gc=False):
    text: msgspec.Raw = msgspec.Raw()
    thought: Any = None


class _Content(msgspec.Struct, gc=False):
    parts: list[_Part] | None = None


class _Candidate(msgspec.Struct, gc=False):
    content: _Content | None = None
    finishReason: Any = None
    finish_reason: Any = msgspec.UNSET


class _Response(msgspec.Struct, gc=False):
    candidates: list[_Candidate] | None = None
    promptFeedback: Any = msgspec.UNSET
    prompt_feedback: Any = msgspec.UNSET
    usageMetadata: Any = msgspec.UNSET
    usage_metadata: Any = msgspec.UNSET
    tokenCount: Any = msgspec.UNSET
    token_count: Any = msgspec.UNSET


_decode_response = msgspec.json.Decoder(_Response).decode
_UNSET = msgspec.UNSET
_QUOTE = ord('"')


def _plain_success(response: _Response) -> bool:
    """:func:`rows.plainly_succeeded` of the typed view: the same answer for every response it
    decodes (the dict version reads ``candidates[0]``, its ``finishReason`` and its parts)."""
    if response.promptFeedback is not _UNSET or response.prompt_feedback is not _UNSET:
        return False
    candidates = response.candidates
    if not candidates:
        return False
    first = candidates[0]
    if first.finish_reason is not _UNSET:
        return False
    finish = first.finishReason
    if finish and (type(finish) is not str or finish not in rows.NORMAL_FINISH):
        return False
    content = first.content
    parts = content.parts if content is not None else None
    if parts is None:
        return False
    for part in parts:
        # A non-empty JSON string is '"' and at least one more character before the closing '"'.
        text = part.text
        if part.thought is not True and len(text) > 2 and memoryview(text)[0] == _QUOTE:
            return True
    return False


def _usage_of(response: _Response) -> tuple[Any, Any]:
    """``(usageMetadata, tokenCount)`` as :func:`~._core.models.pick` reads them (camelCase first)."""
    usage = response.usageMetadata
    if usage is _UNSET:
        usage = None if response.usage_metadata is _UNSET else response.usage_metadata
    tokens = response.tokenCount
    if tokens is _UNSET:
        tokens = None if response.token_count is _UNSET else response.token_count
    return usage, tokens


def land_result_blocks(
    blocks: Iterable[bytes],
    tally: ResultsTally,
    *,
    infer_keys: bool = False,
    on_duplicate: Callable[[int, str], None] | None = None,
) -> Iterator[bytes]:
    """The landed rows of a result file, the rows of each scanned block joined; counts in ``tally``.

    Each row is what :func:`row_line` writes for :func:`parse_raw_result_line`'s result (with
    :func:`~._core.jsonl.with_position_key` when ``infer_keys``), and ``tally`` sees each as
    :meth:`ResultsTally.add` would. The common row (a keyed response alone that plainly succeeded)
    is classified from a typed decode of the few fields that decide it and written from the
    line's own bytes, without building its response as Python objects; every other row takes the
    general path.

    :param blocks: the result file's bytes in consecutive blocks.
    :param on_duplicate: called with ``(index, key)`` for a row whose key an earlier row had.
    :raises GeminiInvalidInputError: a line that is not a JSON object (as :func:`scan_result_blocks`).
    """
    middle = _row_middle(rows.SUCCEEDED, None, False, False, "response")
    encode = _encode
    index = 0
    for scanned in scan_result_blocks(blocks):
        pieces: list[Buffer] = []
        append = pieces.append
        for line in scanned:
            key = line.key
            response = line.response
            if type(key) is str and len(response) and not len(line.error) and not len(line.status):
                try:
                    typed = _decode_response(response)
                except _SCAN_ERRORS:
                    typed = None
                if typed is not None and _plain_success(typed):
                    append(b'{"key":')
                    append(encode(key))
                    append(middle)
                    append(response)
                    append(b"}\n")
                    usage, tokens = _usage_of(typed)
                    if tally.add_succeeded(key, usage, tokens) and on_duplicate is not None:
                        on_duplicate(index, key)
                    index += 1
                    continue
            result, body, error = raw_result_from_scan(line, index)
            if infer_keys:
                result = with_position_key(result)
            append(row_line(result, response=body, error=error))
            if tally.add(result) and on_duplicate is not None:
                on_duplicate(index, result.key or "")
            index += 1
        yield b"".join(pieces)
