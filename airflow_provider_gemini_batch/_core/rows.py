"""What one result row really says: a usable answer, or which kind of failure.

A ``response`` object is not proof of success. The service answers HTTP 200 and writes a
``response`` for a prompt it blocked, a candidate it stopped for safety, an answer cut at the token
limit and a thinking model that spent its budget on thoughts. Pure: no I/O, no Airflow.

Outcomes (module constants; ``OUTCOMES`` is their fixed order in manifests):

``succeeded``
    a usable answer: the first candidate has visible (non-``thought``) output and its
    ``finishReason`` is ``STOP``, absent or ``FINISH_REASON_UNSPECIFIED``; or an embedding
    response (``embedding.values`` / ``embeddings``).
``error``
    the row carried ``error`` or ``status`` (a ``google.rpc.Status``: code, message, details).
``blocked``
    ``promptFeedback.blockReason`` is set (the prompt was refused; no candidates). Reason: that value.
``stopped``
    the first candidate's ``finishReason`` is neither STOP nor MAX_TOKENS (SAFETY, RECITATION,
    PROHIBITED_CONTENT, OTHER ...). Reason: the finishReason.
``max_tokens``
    the first candidate's ``finishReason`` is MAX_TOKENS (cut off; possibly only thoughts).
``no_output``
    no visible output: no candidates, no content, only ``thought`` parts, or a row with neither
    a response nor an error.

Wire facts and their sources:

* Text answers carry ``candidates[].content.parts[].text``, ``finishReason: "STOP"`` and
  ``usageMetadata.thoughtsTokenCount`` — [LIVE] cookbook ``quickstarts/Batch_mode.ipynb`` cell 25.
* Embedding rows are ``{"response": {"tokenCount": "1", "embedding": {"values": [...]}}, "key"}``
  — [LIVE] cookbook ``Batch_mode.ipynb`` cell 48.
* A candidate stopped with ``MAX_TOKENS``/``OTHER`` comes without ``content`` —
  google/generative-ai-docs issue #235 (the GenerateContentResponse the batch rows wrap).
* A blocked prompt is ``{"promptFeedback": {"blockReason": ...}, "usageMetadata": ...}`` with no
  ``candidates`` — REST reference ``GenerateContentResponse.promptFeedback``; reported as silently
  "successful" in experientiallabs/experiential PR #783 and tetsuo-ai/agenc-core issue #2106.
* Batch rows that were blocked or refused land as empty successes unless checked —
  google/langextract issue #527 (Gemini batch path).
* A per-row error may come as ``error`` or as ``status`` (``{"status": {"code": 3, "message":
  ...}, "key": ...}``, from a user's report; the Batch API guide calls a failed line a "status
  object"); Vertex batch output lines carry ``status`` as a
  string, empty when the row succeeded — google/langextract PR #537 ("Vertex's top-level status
  error messages").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from airflow_provider_gemini_batch._core.models import snake_name

SUCCEEDED = "succeeded"
ERROR = "error"
BLOCKED = "blocked"
STOPPED = "stopped"
MAX_TOKENS = "max_tokens"
NO_OUTPUT = "no_output"

#: Every outcome, in the order manifests list them.
OUTCOMES: tuple[str, ...] = (SUCCEEDED, ERROR, BLOCKED, STOPPED, MAX_TOKENS, NO_OUTPUT)

# Both numbering schemes, because rows have been seen with either: a ``google.rpc.Status`` carries
# the gRPC canonical code (RESOURCE_EXHAUSTED = 8 ...), while errors relayed from the HTTP layer
# (and the JSON error body's ``code``) use the HTTP status (429 ...). The two ranges do not
# overlap (gRPC codes are 0..16, HTTP statuses 100..599), so one set serves both.
RETRYABLE_HTTP_CODES = frozenset({429, 500, 503, 504})
RETRYABLE_GRPC_CODES = frozenset(
    {4, 8, 13, 14}
)  # DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE
RETRYABLE_CODES = RETRYABLE_HTTP_CODES | RETRYABLE_GRPC_CODES

#: gRPC canonical code names (google/rpc/code.proto), used as the reason of an ``error`` row.
GRPC_CODE_NAMES: dict[int, str] = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
_RETRYABLE_NAMES = frozenset(GRPC_CODE_NAMES[c] for c in RETRYABLE_GRPC_CODES)

# finishReason values that mean "the model ended normally" (absent is treated the same).
NORMAL_FINISH = frozenset({"STOP", "FINISH_REASON_UNSPECIFIED"})
# Part fields that are output a reader can use (besides non-empty ``text``); both spellings.
_PAYLOAD_FIELDS = (
    "inlineData",
    "inline_data",
    "fileData",
    "file_data",
    "functionCall",
    "function_call",
    "functionResponse",
    "function_response",
    "executableCode",
    "executable_code",
    "codeExecutionResult",
    "code_execution_result",
)

#: The key the create operator gives an inline request that has none (CONTRACTS: "request-<0-based
#: position>"); results without a key get the same identity back (see :func:`position_key`).
POSITION_KEY_PREFIX = "request-"


@dataclass(frozen=True)
class Verdict:
    """The classification of one row: ``outcome`` (one of :data:`OUTCOMES`), a short ``reason``
    (finishReason, blockReason or the error's code name; None for a success) and whether a
    resubmission may succeed (``retryable``, only ever true for ``error`` rows)."""

    outcome: str
    reason: str | None = None
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome == SUCCEEDED


def position_key(position: int) -> str:
    """The identity of the request at 0-based ``position``: ``request-<position>``."""
    return f"{POSITION_KEY_PREFIX}{position}"


def _get(obj: Mapping[str, Any], camel: str) -> Any:
    if camel in obj:
        return obj[camel]
    return obj.get(snake_name(camel))


def _is_map(value: Any) -> TypeGuard[Mapping[str, Any]]:
    # Decoded JSON objects are dicts: the exact-type test is many times faster than the ABC
    # check, which stays for other mappings. Runs several times per result row.
    return type(value) is dict or isinstance(value, Mapping)


def row_error(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The per-row error of a result object, from ``error`` or ``status``; None when there is none.

    ``status`` as an object is a ``google.rpc.Status`` and is kept whole (code, message, details).
    ``status`` as a non-empty string (Vertex output lines) becomes ``{"message": <string>}``,
    unless the string is itself a JSON error (``"{\"error\": {\"code\": 5, ...}}"`` or a bare
    Status): then that error's code, status and details are read from it (:func:`_embedded_error`).
    An empty string means the row succeeded.
    """
    for name in ("error", "status"):
        value = obj.get(name)
        if _is_map(value) and value:
            return value
        if name == "status" and isinstance(value, str) and value.strip():
            return _embedded_error(value) or {"message": value}
    return None


def _embedded_error(text: str) -> Mapping[str, Any] | None:
    """The ``google.rpc.Status`` a status string wraps as JSON, or None when it wraps none.

    Vertex-style result lines carry the row's error as a string; when the service fails a row
    with an API error, the string is that error's JSON envelope (``{"error": {"code": 5,
    "message": ..., "status": "NOT_FOUND"}}``), so its code and reason are in the text, not in
    fields. Only strings that start with ``{``, or with a reason phrase and ``: {`` (Vertex's
    ``"Bad Request: {...}"``), are parsed (a failed row is rare; this costs nothing for the others).
    """
    stripped = text.strip()
    if not stripped.startswith("{"):
        # Vertex AI writes the error after the HTTP reason phrase: "Bad Request: {\"error\": ...}"
        # (Batch prediction from Cloud Storage, "Retrieve batch output"; GoogleCloudPlatform/
        # generative-ai intro_batch_prediction.ipynb). Only a short alphabetic phrase is skipped.
        phrase, sep, rest = stripped.partition(": {")
        if not sep or len(phrase) > 40 or not phrase.replace(" ", "").isalpha():
            return None
        stripped = "{" + rest
    try:
        data = json.loads(stripped)
    except ValueError:
        return None
    if _is_map(data) and _is_map(data.get("error")):
        data = data["error"]
    if not _is_map(data) or not ("code" in data or "status" in data or "message" in data):
        return None
    return data


def _code(error: Mapping[str, Any]) -> int | None:
    code = error.get("code")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str):
        # ASCII digits only, and a short number: str.isdigit() also accepts "²" (which int()
        # refuses), and int() refuses 4,300 digits and more. A code that is not a number is no code.
        text = code.strip()
        if text.isascii() and text.isdigit() and len(text) <= 9:
            return int(text)
    return None


def is_retryable(error: Mapping[str, Any]) -> bool:
    """True when the error's code (HTTP or gRPC numbering) or status name says "try again"."""
    code = _code(error)
    if code is not None and code in RETRYABLE_CODES:
        return True
    status = error.get("status")
    return isinstance(status, str) and status in _RETRYABLE_NAMES


def error_reason(error: Mapping[str, Any]) -> str | None:
    """A short name for an error: its ``status`` string, the gRPC code name, or ``HTTP <code>``."""
    status = error.get("status")
    if isinstance(status, str) and status:
        return status
    code = _code(error)
    if code is None:
        return None
    if code in GRPC_CODE_NAMES:
        return GRPC_CODE_NAMES[code]
    return f"HTTP {code}"


def _is_embedding(response: Mapping[str, Any]) -> bool:
    embedding = response.get("embedding")
    if _is_map(embedding) and embedding.get("values"):
        return True
    embeddings = response.get("embeddings")
    return isinstance(embeddings, list) and bool(embeddings)


def has_visible_output(candidate: Mapping[str, Any]) -> bool:
    """True when the candidate holds a part a reader can use: not ``thought: true``, and either
    non-empty ``text`` or a payload (inline/file data, function call/response, code)."""
    content = candidate.get("content")
    if not _is_map(content):
        return False
    parts = content.get("parts")
    if not isinstance(parts, list):
        return False
    for part in parts:
        if not _is_map(part) or part.get("thought") is True:
            continue
        text = part.get("text")
        if isinstance(text, str) and text:
            return True
        if any(part.get(name) for name in _PAYLOAD_FIELDS):
            return True
    return False


def classify(response: Mapping[str, Any] | None, error: Mapping[str, Any] | None) -> Verdict:
    """Classify one row from its ``response`` and its per-row ``error`` (see :func:`row_error`).

    The first candidate decides (it is the one ``response.text`` reads in the SDKs); a request
    asking for several candidates is usable when the first is.
    """
    if error is None and type(response) is dict and plainly_succeeded(response):
        return _SUCCESS
    return classify_fully(response, error)


def classify_fully(response: Mapping[str, Any] | None, error: Mapping[str, Any] | None) -> Verdict:
    """:func:`classify` by the full rules alone (without its fast path for the common answer)."""
    if error is not None:
        return Verdict(ERROR, error_reason(error), is_retryable(error))
    if response is None:
        return Verdict(NO_OUTPUT, "NO_RESPONSE")
    if _is_embedding(response):
        return Verdict(SUCCEEDED)
    feedback = _get(response, "promptFeedback")
    if _is_map(feedback):
        block = _get(feedback, "blockReason")
        if block and block != "BLOCK_REASON_UNSPECIFIED":
            return Verdict(BLOCKED, str(block))
    candidates = response.get("candidates")
    first = candidates[0] if isinstance(candidates, list) and candidates else None
    if not _is_map(first):
        return Verdict(NO_OUTPUT, "NO_CANDIDATES")
    finish = _get(first, "finishReason")
    finish = str(finish) if finish else None
    if finish == "MAX_TOKENS":
        return Verdict(MAX_TOKENS, finish)
    if finish is not None and finish not in NORMAL_FINISH:
        return Verdict(STOPPED, finish)
    if not has_visible_output(first):
        return Verdict(NO_OUTPUT, "ONLY_THOUGHTS" if _has_thoughts(first) else "NO_CONTENT")
    return Verdict(SUCCEEDED)


#: The verdict of every usable answer (one object: most rows of a batch are this).
_SUCCESS = Verdict(SUCCEEDED)


def plainly_succeeded(response: dict[str, Any]) -> bool:
    """True for the common answer, checked in a few dict reads: no prompt feedback, a first
    candidate with a normal (or no) camelCase ``finishReason`` and a non-empty, non-thought text
    part. Every response this accepts, the full rules (:func:`classify_fully`) also call
    ``succeeded``; anything else (snake_case fields, payload parts, feedback, a finishReason that is
    not a string) is left to them. It runs once per landed row.
    """
    if "promptFeedback" in response or "prompt_feedback" in response:
        return False
    candidates = response.get("candidates")
    if type(candidates) is not list or not candidates:
        return False
    first = candidates[0]
    if type(first) is not dict or "finish_reason" in first:
        return False
    finish = first.get("finishReason")
    if finish and (type(finish) is not str or finish not in NORMAL_FINISH):
        return False
    content = first.get("content")
    parts = content.get("parts") if type(content) is dict else None
    if type(parts) is not list:
        return False
    for part in parts:
        if type(part) is dict and part.get("thought") is not True:
            text = part.get("text")
            if text and type(text) is str:
                return True
    return False


def _has_thoughts(candidate: Mapping[str, Any]) -> bool:
    content = candidate.get("content")
    parts = content.get("parts") if _is_map(content) else None
    return isinstance(parts, list) and any(_is_map(p) and p.get("thought") is True for p in parts)
