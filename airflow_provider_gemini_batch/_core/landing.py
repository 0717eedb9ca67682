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
of 2.6 kB rows in one process, 9 alternating rounds: 3.86 / 5.43 s/GB (min / median) line by line
with the whole response decoded, against 2.90 / 3.65 s/GB.

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
from airflow_provider_gemini_batch._core.manifest import BadCounter, ResultsTally
from airflow_provider_gemini_batch._core.models import BatchResult
from airflow_provider_gemini_batch._core.result_lines import (
    DEFAULT_MAX_LINE_BYTES,
    LineTooLong,
    line_regions,
    line_too_long,
    too_deep,
)
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
    except UnicodeDecodeError as exc:
        raise GeminiInvalidInputError(f"Result line {index + 1} is not valid UTF-8 ({exc.reason}).") from None
    except RecursionError:
        raise too_deep(index + 1, line) from None


def _decode_body(raw: Buffer, index: int, name: str = "response") -> Any:
    """A body of result line ``index`` decoded whole, or the error naming the line.

    :raises GeminiInvalidInputError: bytes that are not UTF-8, or a value Python cannot hold
        (msgspec refuses a number beyond a double's range, e.g. ``1e999``).
    """
    try:
        return _decode(raw)
    except UnicodeDecodeError as exc:
        raise GeminiInvalidInputError(f"Result line {index + 1} is not valid UTF-8 ({exc.reason}).") from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise GeminiInvalidInputError(f"Result line {index + 1} cannot be read ({exc}).") from None
    except RecursionError:
        raise GeminiInvalidInputError(
            f"Result line {index + 1} cannot be read: its field {name!r} is nested deeper than about "
            "1,000 levels (no Gemini answer is); the result file is corrupt or not from the Gemini API."
        ) from None


def raw_result_from_scan(scanned: _Line, index: int) -> RawResult:
    """The :class:`RawResult` of a scanned line: the general path, every rule of ``result_from_json``."""
    key = scanned.key
    response = scanned.response
    error = scanned.error
    status = scanned.status
    obj: dict[str, Any] = {}
    if len(response) and not len(error) and not len(status):
        # The common line: a keyed response alone. Its bytes are the row's body, as they came.
        body = _decode_body(response, index)
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
            obj[name] = _decode_body(value, index, name)
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
        # Compact like the rows built from body bytes (inline results land through here).
        return json.dumps(result.to_row(), ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
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
# Lines are walked one by one, not handed to ``msgspec``'s ``decode_lines``: each row is written from
# its own bytes, so the walk that finds them is needed anyway, and checking a block for
# ``decode_lines`` with ``bytes.count`` of "\n" and "}\n{" cost 1.2 s/GB (66 MB result file).

_SCAN_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError)
_CLOSE_BRACE = ord("}")


def _is_blank(block: bytes, start: int, newline: int) -> bool:
    """True for an empty or whitespace-only line (a result line starts with "{": the usual check)."""
    return newline == start or (block[start] != _OPEN_BRACE and not block[start:newline].strip())


def scan_result_blocks(
    blocks: Iterable[bytes], *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[list[_Line]]:
    """The scanned lines of a result file, in order, a list per run of whole lines; blank lines skipped.

    :param blocks: the file's bytes in consecutive blocks of any size (lines may span blocks).
    :param max_line_bytes: the longest line accepted, without its ``\\n`` (default
        :data:`DEFAULT_MAX_LINE_BYTES`, 64 MiB).
    :returns: lists of the scanned lines (``key``, ``metadata`` and raw views of ``response``,
        ``error``, ``status``); the n-th line overall is result index n. Memory: one block plus
        one partial line of at most ``max_line_bytes``.
    :raises GeminiInvalidInputError: a line that is not a JSON object or is longer than
        ``max_line_bytes``, named by its 1-based number among the non-blank lines (as
        :func:`parse_raw_result_line`).
    """
    index = 0
    try:
        for block, start, end in line_regions(blocks, max_line_bytes):
            scanned: list[_Line] = []
            view = memoryview(block)
            find = block.find
            pos = start
            while (newline := find(b"\n", pos, end)) >= 0:
                if not _is_blank(block, pos, newline):
                    if newline - pos > max_line_bytes:
                        raise line_too_long(index + 1, max_line_bytes)
                    scanned.append(_scan_one(view[pos:newline], index))
                    index += 1
                pos = newline + 1
            if scanned:
                yield scanned
    except LineTooLong:
        raise line_too_long(index + 1, max_line_bytes) from None


# The few fields of a response that tell a plain success (``rows.plainly_succeeded``, or an
# embedding with values) and its token counts, decoded typed: every other field, the text and the
# embedding's values are skipped (no dict, no str, no float built). A response of another shape
# fails this decode and takes the general path (``raw_result_from_scan``).


class _Part(msgspec.Struct, gc=False):
    text: msgspec.Raw = msgspec.Raw()
    thought: Any = None


class _Content(msgspec.Struct, gc=False):
    parts: list[_Part] | None = None


class _Candidate(msgspec.Struct, gc=False):
    content: _Content | None = None
    finishReason: Any = None
    finish_reason: Any = msgspec.UNSET


class _Embedding(msgspec.Struct, gc=False):
    values: msgspec.Raw = msgspec.Raw()


class _Response(msgspec.Struct, gc=False):
    candidates: list[_Candidate] | None = None
    embedding: _Embedding | None = None
    embeddings: msgspec.Raw = msgspec.Raw()
    promptFeedback: Any = msgspec.UNSET
    prompt_feedback: Any = msgspec.UNSET
    usageMetadata: Any = msgspec.UNSET
    usage_metadata: Any = msgspec.UNSET
    tokenCount: Any = msgspec.UNSET
    token_count: Any = msgspec.UNSET
    modelVersion: Any = msgspec.UNSET
    model_version: Any = msgspec.UNSET


_decode_response = msgspec.json.Decoder(_Response).decode
_UNSET = msgspec.UNSET
_QUOTE = ord('"')


def _plain_success(response: _Response) -> bool:
    """True only when the full rules (:func:`rows.classify_fully`) call the response succeeded:
    an embedding with values (the rules' first test), or what :func:`rows.plainly_succeeded` accepts
    (the dict version reads ``candidates[0]``, its ``finishReason`` and its parts)."""
    embedding = response.embedding
    if (embedding is not None and _non_empty_list(embedding.values)) or _non_empty_list(response.embeddings):
        return True
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


def _non_empty_list(raw: msgspec.Raw) -> bool:
    """True when ``raw`` is a JSON list with an item right after its ``[`` (False is "not sure")."""
    if len(raw) < 3:
        return False
    view = memoryview(raw)
    return view[0] == _OPEN_BRACKET and view[1] not in _LIST_END_OR_SPACE


_OPEN_BRACKET = ord("[")
_LIST_END_OR_SPACE = frozenset(b"] \t\r\n")


def _usage_of(response: _Response) -> tuple[Any, Any, str | None]:
    """``(usageMetadata, tokenCount, modelVersion)`` as :func:`~._core.models.pick` reads them
    (camelCase first); the model is None unless it is a string."""
    usage = response.usageMetadata
    if usage is _UNSET:
        usage = None if response.usage_metadata is _UNSET else response.usage_metadata
    tokens = response.tokenCount
    if tokens is _UNSET:
        tokens = None if response.token_count is _UNSET else response.token_count
    model = response.modelVersion
    if model is _UNSET:
        model = response.model_version
    return usage, tokens, model if type(model) is str else None


# The usual line has exactly two members, in either order (the live service writes the response
# first, [LIVE] cookbook ``Batch_mode.ipynb`` cell 25 output; the Batch API guide's example
# shows the key first). Cut at the separator, the key is decoded as one JSON
# string and the response as one JSON object (the typed view above): when both decodes take their
# whole piece, the line can only be that two-member object, so the response's bytes are known
# without the scan of the whole line that would otherwise find them. Counted with callgrind
# (1,529 rows of 2.6 kB): 64,383 instructions per row with that scan, 54,311 without.
_RESPONSE_FIRST = b'{"response":'
_THEN_KEY = b',"key":'
_KEY_FIRST = b'{"key":'
_THEN_RESPONSE = b',"response":'
_decode_key = msgspec.json.Decoder(str).decode


def _two_member_spans(block: bytes, start: int, end: int) -> tuple[int, int, int, int] | None:
    """``(key_start, key_end, body_start, body_end)`` of a line ``block[start:end]`` (without
    ``\\n``) written as ``{"response":{...},"key":...}`` or ``{"key":...,"response":{...}}``, the
    body's bytes from its ``{`` to its ``}``; None for any other spelling. The pieces are not yet
    known to be valid JSON: the caller decodes each whole."""
    if end - start < 20 or block[end - 1] != _CLOSE_BRACE:
        return None
    if block.startswith(_RESPONSE_FIRST, start, end):
        split = block.rfind(_THEN_KEY, start, end)
        key_start, key_end, body_start, body_end = split + 7, end - 1, start + 12, split
    elif block.startswith(_KEY_FIRST, start, end):
        split = block.find(_THEN_RESPONSE, start, end)
        key_start, key_end, body_start, body_end = start + 7, split, split + 12, end - 1
    else:
        return None
    if split < 0 or body_end - body_start < 2:
        return None
    if block[body_start] != _OPEN_BRACE or block[body_end - 1] != _CLOSE_BRACE:
        return None
    return key_start, key_end, body_start, body_end


def land_result_blocks(
    blocks: Iterable[bytes],
    tally: ResultsTally,
    *,
    infer_keys: bool = False,
    on_duplicate: Callable[[int, str], None] | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[bytes]:
    """The landed rows of a result file, the rows of each run of whole lines joined; counts in ``tally``.

    Each row is what :func:`row_line` writes for :func:`parse_raw_result_line`'s result (with
    :func:`~._core.jsonl.with_position_key` when ``infer_keys``), and ``tally`` sees each as
    :meth:`ResultsTally.add` would. The usual row (a line of only a string key and a response that
    plainly succeeded) is classified from one typed decode of its response and written from the
    line's own bytes, without a :class:`BatchResult` or any Python object for the response; every
    other row takes the general path (:func:`raw_result_from_scan`).

    :param blocks: the result file's bytes in consecutive blocks (lines may span blocks).
    :param on_duplicate: called with ``(index, key)`` for a row whose key an earlier row had.
    :param max_line_bytes: the longest line accepted (default :data:`DEFAULT_MAX_LINE_BYTES`);
        memory is one block plus one line of at most this size.
    :raises GeminiInvalidInputError: a line that is not a JSON object, is longer than
        ``max_line_bytes`` or holds a value the row cannot carry (a usage counter that is not a
        count), named by its 1-based number among the non-blank lines (and the field).
    """
    middle = _row_middle(rows.SUCCEEDED, None, False, False, "response")
    encode = _encode
    decode_key = _decode_key
    decode_response = _decode_response
    index = 0
    try:
        for block, start, end in line_regions(blocks, max_line_bytes):
            pieces: list[Buffer] = []
            append = pieces.append
            view = memoryview(block)
            find = block.find
            # The typed view skips what it does not read without checking its UTF-8, which the general
            # path's decode of the whole body does: so the run is checked first (0.2 s/GB for ASCII),
            # and a run with bad bytes goes line by line through the general path, which names the line.
            try:
                str(view[start:end], "utf-8")
                utf8 = True
            except UnicodeDecodeError:
                utf8 = False
            pos = start
            while (newline := find(b"\n", pos, end)) >= 0:
                line_start, pos = pos, newline + 1
                if _is_blank(block, line_start, newline):
                    continue
                if newline - line_start > max_line_bytes:
                    raise line_too_long(index + 1, max_line_bytes)
                spans = _two_member_spans(block, line_start, newline) if utf8 else None
                if spans is not None:
                    key_start, key_end, body_start, body_end = spans
                    try:
                        key = decode_key(view[key_start:key_end])
                        typed = decode_response(view[body_start:body_end])
                    except _SCAN_ERRORS:
                        typed = None
                    if typed is not None and _plain_success(typed):
                        append(b'{"key":')
                        append(encode(key))
                        append(middle)
                        append(view[body_start:body_end])
                        append(b"}\n")
                        usage, tokens, model = _usage_of(typed)
                        if tally.add_succeeded(key, usage, tokens, model) and on_duplicate is not None:
                            on_duplicate(index, key)
                        index += 1
                        continue
                result, body, error = raw_result_from_scan(_scan_one(view[line_start:newline], index), index)
                if infer_keys:
                    result = with_position_key(result)
                append(row_line(result, response=body, error=error))
                if tally.add(result) and on_duplicate is not None:
                    on_duplicate(index, result.key or "")
                index += 1
            if pieces:
                yield b"".join(pieces)
    except LineTooLong:
        raise line_too_long(index + 1, max_line_bytes) from None
    except BadCounter as exc:
        raise GeminiInvalidInputError(f"Result line {index + 1}: {exc}") from None
