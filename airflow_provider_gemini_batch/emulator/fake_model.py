"""The emulator's deterministic fake model.

Rule (documented in docs/emulator.md so tests can compute expected outputs):

* The *prompt* of a ``GenerateContentRequest`` is the ``text`` of every part of every entry of
  ``contents``, in order, joined with ``"\\n"``.
* The answer is ``"Emulated answer to: " + prompt`` (see :func:`expected_text`).
* Token counts are whitespace-separated word counts: ``promptTokenCount`` = words in the prompt
  (at least 1), ``candidatesTokenCount`` = words in the answer, ``totalTokenCount`` = their sum.
* An embedding is a unit-length vector of ``outputDimensionality`` floats (default 3072) derived
  from SHA-256 of the content's text (see :func:`expected_embedding`).
* A request without ``contents`` (or with an empty list), or with a part that is not an object
  carrying one known part field, gets a per-request ``{"code": 3, ...}`` error instead.
* ``error_fraction`` f marks the requests at positions ``i`` (0-based) where
  ``floor((i + 1) * f) > floor(i * f)`` as failed (see :func:`injected_error_positions`): exactly
  ``floor(n * f)`` of ``n`` requests, spread evenly.
* Thinking: ``thoughtsTokenCount`` = 3 x ``candidatesTokenCount`` (the field and its place in
  ``totalTokenCount`` as in the cookbook's result lines, Batch_mode.ipynb cell 25 output), omitted
  when ``generationConfig.thinkingConfig.thinkingBudget`` is 0. ``promptTokensDetails`` carries
  one ``{"modality": "TEXT", "tokenCount": n}`` entry (same source).
* Structured output: with ``generationConfig.responseMimeType: application/json`` the answer text
  is JSON; with ``responseSchema`` (OpenAPI subset) or ``responseJsonSchema`` (JSON Schema) it is
  a deterministic instance valid against that schema (see :mod:`.schema_answer`).
* Outcomes on demand, by a marker in the prompt text (see :data:`MARKERS`): ``[[blocked]]``,
  ``[[safety]]``, ``[[max_tokens]]``, ``[[thought_only]]``.
* Embeddings carry ``tokenCount`` (int64 as a string) = words of the content's text (at least 1),
  before ``embedding`` (cookbook Batch_mode.ipynb cell 48 output).
"""

from __future__ import annotations

import hashlib
import math
import struct
from typing import Any

from airflow_provider_gemini_batch.emulator.schema_answer import structured_answer
from airflow_provider_gemini_batch.emulator.wire import field

ANSWER_PREFIX = "Emulated answer to: "
DEFAULT_EMBEDDING_DIMENSIONS = 3072
MODEL_VERSION = "emulator-1"
THOUGHT_TOKENS_PER_ANSWER_TOKEN = 3

#: Prompt markers that pick an outcome other than a normal answer. Shapes:
#: ``blocked``  no candidates, ``promptFeedback.blockReason: SAFETY`` (REST reference
#:              GenerateContentResponse.promptFeedback);
#: ``safety``   one candidate ``{"finishReason": "SAFETY", "index": 0}`` without content, the
#:              row google/langextract issue #527 describes;
#: ``max_tokens`` the answer cut to its first word, ``finishReason: MAX_TOKENS``;
#: ``thought_only`` the only part is a ``"thought": true`` part (REST reference Part.thought).
MARKERS = ("blocked", "safety", "max_tokens", "thought_only")

# Part fields the real API knows; a part carrying none of them is malformed.
_PART_FIELDS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "thought",
    "thoughtSignature",
    "videoMetadata",
)


class RequestError(ValueError):
    """A request the real API would reject with INVALID_ARGUMENT (code 3); message says why."""


def _check_parts(parts: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(parts, list) or not parts:
        raise RequestError(f"{where}.parts must be a non-empty list.")
    for index, part in enumerate(parts):
        if not isinstance(part, dict) or not any(field(part, name) is not None for name in _PART_FIELDS):
            raise RequestError(f"{where}.parts[{index}] is not a valid Part (no data field).")
        text = field(part, "text")
        if text is not None and not isinstance(text, str):
            raise RequestError(f"{where}.parts[{index}].text must be a string.")
    return parts


def prompt_text(request: Any) -> str:
    """The prompt of a GenerateContentRequest: every part's text, in order, joined with newlines.

    :raises RequestError: no ``contents``, or a malformed content/part.
    """
    if not isinstance(request, dict):
        raise RequestError("request must be a JSON object.")
    contents = field(request, "contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise RequestError("* GenerateContentRequest.contents: contents is not specified")
    texts: list[str] = []
    for index, content in enumerate(contents):
        if not isinstance(content, dict):
            raise RequestError(f"contents[{index}] must be an object.")
        for part in _check_parts(field(content, "parts"), f"contents[{index}]"):
            text = field(part, "text")
            if isinstance(text, str):
                texts.append(text)
    return "\n".join(texts)


def expected_text(request: dict[str, Any]) -> str:
    """The answer text the fake model gives for ``request`` (a raw REST GenerateContentRequest).

    :raises RequestError: when the request would get a per-request INVALID_ARGUMENT error.
    """
    return answer_text(request, prompt_text(request))


def _words(text: str) -> int:
    return len(text.split())


def marker_of(prompt: str) -> str | None:
    """The outcome marker (``[[name]]``, see :data:`MARKERS`) in ``prompt``, first one wins."""
    for name in MARKERS:
        if f"[[{name}]]" in prompt:
            return name
    return None


def _thinking_disabled(request: dict[str, Any]) -> bool:
    thinking = field(field(request, "generationConfig"), "thinkingConfig")
    budget = field(thinking, "thinkingBudget")
    return budget is not None and str(budget) == "0"


def answer_text(request: dict[str, Any], prompt: str) -> str:
    """The visible answer: JSON for ``responseMimeType: application/json``, else the echo text."""
    text = structured_answer(field(request, "generationConfig"), prompt)
    return text if text is not None else ANSWER_PREFIX + prompt


def generate(request: dict[str, Any]) -> dict[str, Any]:
    """A full GenerateContentResponse for ``request`` (candidates, usageMetadata, modelVersion, responseId).

    Key set and nesting follow the cookbook's result lines (Batch_mode.ipynb cell 25 output).

    :raises RequestError: see :func:`prompt_text`.
    """
    prompt = prompt_text(request)
    marker = marker_of(prompt)
    answer = answer_text(request, prompt)
    prompt_tokens = max(1, _words(prompt))
    answer_tokens = _words(answer)
    candidate: dict[str, Any] = {
        "content": {"parts": [{"text": answer}], "role": "model"},
        "finishReason": "STOP",
        "index": 0,
    }
    if marker == "max_tokens":
        answer = answer.split()[0] if answer.split() else answer
        answer_tokens = _words(answer)
        candidate = {**candidate, "content": {"parts": [{"text": answer}], "role": "model"}}
        candidate["finishReason"] = "MAX_TOKENS"
    elif marker == "thought_only":
        thought = {"text": "Thinking about: " + prompt, "thought": True}
        candidate["content"] = {"parts": [thought], "role": "model"}
        answer_tokens = 0
    elif marker == "safety":
        candidate = {"finishReason": "SAFETY", "index": 0}
        answer_tokens = 0
    thoughts = 0 if _thinking_disabled(request) else THOUGHT_TOKENS_PER_ANSWER_TOKEN * max(1, answer_tokens)
    usage: dict[str, Any] = {"promptTokenCount": prompt_tokens}
    if answer_tokens:
        usage["candidatesTokenCount"] = answer_tokens
    usage["totalTokenCount"] = prompt_tokens + answer_tokens + thoughts
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt_tokens}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()
    response: dict[str, Any] = {}
    if marker == "blocked":
        usage = {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}
        response["promptFeedback"] = {"blockReason": "SAFETY"}
    else:
        response["candidates"] = [candidate]
    response["usageMetadata"] = usage
    response["modelVersion"] = MODEL_VERSION
    response["responseId"] = digest[:22]
    return response


def embed_text(request: Any) -> tuple[str, int]:
    """The text and dimensionality of an EmbedContentRequest.

    :raises RequestError: no ``content`` or malformed parts, or a non-positive dimensionality.
    """
    if not isinstance(request, dict):
        raise RequestError("request must be a JSON object.")
    content = field(request, "content")
    if not isinstance(content, dict):
        raise RequestError("* EmbedContentRequest.content: content is not specified")
    parts = _check_parts(field(content, "parts"), "content")
    text = "\n".join(p["text"] for p in parts if isinstance(p.get("text"), str))
    dims = field(request, "outputDimensionality", DEFAULT_EMBEDDING_DIMENSIONS)
    try:
        dims = int(dims)
    except (TypeError, ValueError):
        raise RequestError("outputDimensionality must be an integer.") from None
    if dims <= 0:
        raise RequestError("outputDimensionality must be positive.")
    return text, dims


def expected_embedding(request: dict[str, Any]) -> list[float]:
    """The embedding vector (unit length, ``outputDimensionality`` floats, default 3072) for ``request``.

    :raises RequestError: see :func:`embed_text`.
    """
    text, dims = embed_text(request)
    raw: list[float] = []
    seed = text.encode("utf-8")
    counter = 0
    while len(raw) < dims:
        block = hashlib.sha256(seed + struct.pack(">I", counter)).digest()
        counter += 1
        for (value,) in struct.iter_unpack(">I", block):
            raw.append(value / 0xFFFFFFFF * 2.0 - 1.0)
    raw = raw[:dims]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 8) for v in raw]


def embed(request: dict[str, Any]) -> dict[str, Any]:
    """``{"tokenCount": "<n>", "embedding": {"values": [...]}}`` for ``request``.

    ``tokenCount`` (int64 as a string, before ``embedding``) as in the cookbook's embedding result
    lines (Batch_mode.ipynb cell 48 output: ``{"response":{"tokenCount":"1","embedding":...}}``).
    """
    text, _ = embed_text(request)
    return {"tokenCount": str(max(1, _words(text))), "embedding": {"values": expected_embedding(request)}}


def injected_error_positions(count: int, fraction: float) -> set[int]:
    """0-based positions (of ``count`` requests) that ``error_fraction`` turns into errors."""
    if fraction <= 0:
        return set()
    fraction = min(fraction, 1.0)
    return {i for i in range(count) if math.floor((i + 1) * fraction) > math.floor(i * fraction)}


def is_injected_error(position: int, fraction: float) -> bool:
    """Whether the request at 0-based ``position`` fails under ``error_fraction``."""
    if fraction <= 0:
        return False
    fraction = min(fraction, 1.0)
    return math.floor((position + 1) * fraction) > math.floor(position * fraction)


INJECTED_ERROR = {"code": 3, "message": "Request contains an invalid argument. (emulator error_fraction)"}

#: Messages of the injected per-request errors by gRPC code (google/rpc/code.proto names). Which
#: codes the live service writes on failed rows is not captured publicly (docs/real-service/rows.md:
#: "the case is constructed"); 13/14/8/4 are the transient ones a resubmission may cure.
_INJECTED_MESSAGES = {
    3: "Request contains an invalid argument.",
    4: "Deadline exceeded while processing the request.",
    8: "Resource has been exhausted (e.g. check quota).",
    13: "Internal error encountered.",
    14: "The service is currently unavailable.",
}
INJECTED_CODES = frozenset(_INJECTED_MESSAGES)


def injected_error(code: int = 3) -> dict[str, Any]:
    """The per-request error written where ``error_fraction`` strikes: ``{"code", "message"}``."""
    if code == 3:
        return dict(INJECTED_ERROR)
    return {"code": code, "message": f"{_INJECTED_MESSAGES[code]} (emulator error_fraction)"}
