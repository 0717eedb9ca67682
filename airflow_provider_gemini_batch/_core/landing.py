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
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import msgspec

from airflow_provider_gemini_batch._core import rows
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


# -- the landing fast path: classify from the few fields the verdict reads ----------------------
#
# The results operator needs, per row, the verdict (``rows.classify``), the usage counters and the
# body's bytes; decoding the whole response into dicts and strings is most of the cost of a row.
# A typed decode reads only the fields the verdict and the tally read (the first candidate's
# finishReason and parts, promptFeedback.blockReason, usageMetadata, tokenCount) and skips the
# rest in C. The verdict is then computed by ``rows.classify`` itself, on a small dict holding just
# those fields, so the two paths cannot disagree. Anything the typed decode is not sure of (a
# field of an unexpected type, an embedding row) goes through parse_raw_result_line as before.

_Any = Any
_UNSET: Any = msgspec.UNSET
_PAYLOADS = rows._PAYLOAD_FIELDS


class _Part(msgspec.Struct, gc=False):
    thought: _Any = _UNSET
    text: _Any = _UNSET
    inlineData: _Any = _UNSET
    inline_data: _Any = _UNSET
    fileData: _Any = _UNSET
    file_data: _Any = _UNSET
    functionCall: _Any = _UNSET
    function_call: _Any = _UNSET
    functionResponse: _Any = _UNSET
    function_response: _Any = _UNSET
    executableCode: _Any = _UNSET
    executable_code: _Any = _UNSET
    codeExecutionResult: _Any = _UNSET
    code_execution_result: _Any = _UNSET


class _Content(msgspec.Struct, gc=False):
    parts: list[_Part] | None = None


class _Candidate(msgspec.Struct, gc=False):
    content: _Content | None = None
    finishReason: _Any = _UNSET
    finish_reason: _Any = _UNSET


class _Feedback(msgspec.Struct, gc=False):
    blockReason: _Any = _UNSET
    block_reason: _Any = _UNSET


class _Response(msgspec.Struct, gc=False):
    candidates: list[_Candidate] | None = None
    promptFeedback: _Feedback | msgspec.UnsetType | None = _UNSET
    prompt_feedback: _Feedback | msgspec.UnsetType | None = _UNSET
    usageMetadata: _Any = _UNSET
    usage_metadata: _Any = _UNSET
    tokenCount: _Any = _UNSET
    token_count: _Any = _UNSET
    embedding: msgspec.Raw = msgspec.Raw()
    embeddings: msgspec.Raw = msgspec.Raw()


class _LightLine(msgspec.Struct, gc=False):
    key: Any = None
    metadata: Any = None
    response: _Response | None = None
    error: msgspec.Raw = msgspec.Raw()
    status: msgspec.Raw = msgspec.Raw()


_light_line = msgspec.json.Decoder(_LightLine).decode
_light_response = msgspec.json.Decoder(_Response).decode

#: The ``response`` of a landing result whose body is spliced from the line's bytes: an empty
#: stand-in (the row takes the raw bytes; the usage comes with the :class:`LandingLine`).
SPLICED: Mapping[str, Any] = MappingProxyType({})


class LandingLine(NamedTuple):
    """A result ready to land: ``response``/``error`` bytes as :class:`RawResult`; ``usage`` and
    ``token_count`` are the response's ``usageMetadata`` and ``tokenCount`` when ``result.response``
    is :data:`SPLICED` (the tally takes them from here), else None (the tally reads the response)."""

    result: BatchResult
    response: bytes | None = None
    error: bytes | None = None
    usage: Any = None
    token_count: Any = None


def _pick(struct: Any, camel: str, snake: str) -> Any:
    """``rows._get`` on a struct: the camelCase field when given, else its snake_case twin."""
    value = getattr(struct, camel)
    return getattr(struct, snake) if value is _UNSET else value


def _part_dict(part: _Part) -> dict[str, Any]:
    out = {
        name: value
        for name in ("thought", "text", *_PAYLOADS)
        if (value := getattr(part, name)) is not _UNSET
    }
    return out


def _verdict_input(response: _Response) -> dict[str, Any]:
    """The fields of ``response`` that ``rows.classify`` reads, as the dict it would have read."""
    out: dict[str, Any] = {}
    feedback = _pick(response, "promptFeedback", "prompt_feedback")
    if feedback is not _UNSET:
        block = None if feedback is None else _pick(feedback, "blockReason", "block_reason")
        out["promptFeedback"] = (
            None if feedback is None else {} if block is _UNSET else {"blockReason": block}
        )
    candidates = response.candidates
    if candidates is not None:
        first: dict[str, Any] = {}
        if candidates:
            head = candidates[0]
            finish = _pick(head, "finishReason", "finish_reason")
            if finish is not _UNSET:
                first["finishReason"] = finish
            if head.content is not None:
                parts = head.content.parts
                first["content"] = {} if parts is None else {"parts": [_part_dict(p) for p in parts]}
            out["candidates"] = [first]
        else:
            out["candidates"] = []
    return out


def parse_landing_line(line: bytes, index: int) -> LandingLine:
    """Parse one result-file line for landing: verdict, key and body bytes, without building the body.

    Rows whose shape the typed decode does not cover (fields of unexpected types, embedding rows,
    an ``error``/``status`` row) take :func:`parse_raw_result_line` and come back with the full
    response (``usage`` None).

    :raises GeminiInvalidInputError: as :func:`parse_raw_result_line`.
    """
    try:
        scanned = _scan_line(line)
        light = None
        if len(scanned.response) and not len(scanned.error) and not len(scanned.status):
            light = _light_response(scanned.response)
    except (msgspec.ValidationError, msgspec.DecodeError):
        light = None
    if (
        light is None
        or len(light.embedding)
        or len(light.embeddings)
        or type(scanned.key) not in (str, type(None))
    ):
        return LandingLine(*parse_raw_result_line(line, index))
    key = scanned.key
    if key is None:
        metadata = scanned.metadata
        if type(metadata) is dict:
            key = metadata.get("key")
            key = None if key is None else str(key)
    verdict = rows.classify(_verdict_input(light), None)
    result = BatchResult(
        key=key,
        index=index,
        response=SPLICED,
        error=None,
        outcome=verdict.outcome,
        reason=verdict.reason,
        retryable=verdict.retryable,
    )
    usage = _pick(light, "usageMetadata", "usage_metadata")
    token_count = _pick(light, "tokenCount", "token_count")
    return LandingLine(
        result,
        bytes(scanned.response),
        None,
        None if usage is _UNSET else usage,
        None if token_count is _UNSET else token_count,
    )
