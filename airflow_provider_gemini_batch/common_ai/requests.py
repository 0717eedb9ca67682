"""Turn common.ai batch requests into Gemini ``InlinedRequest`` lines, and results back. Pure.

common.ai hands an adapter a list of ``BatchRequest`` dicts (``prompt`` plus optional ``model``,
``system_prompt``, ``max_tokens``, ``params``) and batch-level defaults; this module builds the
``{"key", "request": GenerateContentRequest}`` line the hook sends inline or uploads as JSONL, and
reads the visible text, usage and stop reason out of a ``GenerateContentResponse``.

Wire facts and their sources:

* ``GenerateContentRequest``: ``contents[{role, parts[{text}]}]``, ``systemInstruction``,
  ``generationConfig`` (``maxOutputTokens``, ``temperature`` ...); ``safetySettings``, ``tools``,
  ``toolConfig``, ``cachedContent``, ``labels``, ``serviceTier``, ``store`` sit at the top level
  and every other generation setting inside ``generationConfig`` — python-genai 3.4.0's
  ``GenerateContentConfig`` mapping (``batches.py`` ``_InlinedRequest_to_mldev``), REST reference
  ``GenerationConfig``.
* Structured output: ``generationConfig.responseMimeType = "application/json"`` with
  ``responseJsonSchema`` (JSON Schema, ``$ref``/``$defs`` allowed) — REST reference
  ``GenerationConfig.responseJsonSchema``; the emulator honours it (``emulator/schema_answer.py``).
* ``usageMetadata.promptTokenCount`` / ``candidatesTokenCount`` / ``thoughtsTokenCount`` and
  ``modelVersion`` on a response — [LIVE] cookbook ``quickstarts/Batch_mode.ipynb`` cell 25.
* The whole inline create request must stay under 20 MB, a file under 2 GB —
  ai.google.dev/gemini-api/docs/batch-api.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

#: The key of every request: ``<key16>-<index>``, the custom_id common.ai's result layer rejoins
#: on (``index`` after the last ``-``).
KEY_SEPARATOR = "-"

#: GenerateContentRequest fields that live at the top level of the request (both spellings); any
#: other ``request_params``/``params`` key is a generation setting (the SDK's config mapping, python-genai
#: ``_InlinedRequest_to_mldev``).
TOP_LEVEL_FIELDS = frozenset(
    {
        "safetySettings",
        "safety_settings",
        "tools",
        "toolConfig",
        "tool_config",
        "cachedContent",
        "cached_content",
        "labels",
        "serviceTier",
        "service_tier",
        "store",
    }
)
#: Keys this adapter manages; a ``params`` entry with one of these names is ignored so it can
#: neither replace the prompt nor bypass the model check.
MANAGED_FIELDS = frozenset({"contents", "model", "systemInstruction", "system_instruction"})


def request_key(prefix: str, index: int) -> str:
    """The key of the request at 0-based ``index``: ``<prefix>-<index>``."""
    return f"{prefix}{KEY_SEPARATOR}{index}"


def index_of_key(key: str | None, prefix: str) -> int | None:
    """The index in a key this module wrote (``<prefix>-<index>``); None for any other key."""
    if not key or not key.startswith(prefix + KEY_SEPARATOR):
        return None
    tail = key[len(prefix) + 1 :]
    return int(tail) if tail.isdigit() else None


def output_directive(json_schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``generationConfig`` fields asking for JSON matching ``json_schema`` (``{}`` for text)."""
    if not json_schema:
        return {}
    return {"responseMimeType": "application/json", "responseJsonSchema": dict(json_schema)}


def build_line(
    *,
    key: str,
    prompt: str,
    system_prompt: str | None,
    max_tokens: int,
    params: Mapping[str, Any] | None,
    directive: Mapping[str, Any],
) -> dict[str, Any]:
    """One ``{"key", "request"}`` line for one prompt.

    ``params`` (batch ``request_params`` merged with the request's own ``params``) are split into
    top-level fields and ``generationConfig`` entries; a ``generationConfig`` given as such is
    merged too. The token cap (``maxOutputTokens``) and the structured-output directive are applied
    last, so they cannot be overridden from ``params``.
    """
    request: dict[str, Any] = {}
    generation: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if name in MANAGED_FIELDS:
            continue
        if name in ("generationConfig", "generation_config") and isinstance(value, Mapping):
            generation.update(value)
        elif name in TOP_LEVEL_FIELDS:
            request[name] = value
        else:
            generation[name] = value
    generation.pop("max_output_tokens", None)
    generation["maxOutputTokens"] = int(max_tokens)
    generation.update(directive)
    request["contents"] = [{"role": "user", "parts": [{"text": prompt}]}]
    if system_prompt:
        request["systemInstruction"] = {"parts": [{"text": system_prompt}]}
    request["generationConfig"] = generation
    return {"key": key, "request": request}


def encoded_size(lines: Iterable[Mapping[str, Any]]) -> int:
    """Bytes of ``lines`` as JSONL (one ``\\n`` per line)."""
    return sum(len(json.dumps(line, separators=(",", ":")).encode("utf-8")) + 1 for line in lines)


def first_candidate(response: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The first candidate of a GenerateContentResponse (the one the SDKs' ``.text`` reads)."""
    if not isinstance(response, Mapping):
        return None
    candidates = response.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], Mapping):
        return candidates[0]
    return None


def visible_text(response: Mapping[str, Any] | None) -> str | None:
    """The concatenated non-thought ``text`` parts of the first candidate; None when there are none."""
    candidate = first_candidate(response)
    content = candidate.get("content") if candidate else None
    parts = content.get("parts") if isinstance(content, Mapping) else None
    if not isinstance(parts, list):
        return None
    texts = [
        part["text"]
        for part in parts
        if isinstance(part, Mapping) and part.get("thought") is not True and isinstance(part.get("text"), str)
    ]
    return "".join(texts) or None


def usage_of(response: Mapping[str, Any] | None) -> dict[str, int] | None:
    """``{"input_tokens", "output_tokens"}`` from ``usageMetadata`` (thought tokens count as output,
    they are billed as such); None when the response has no usage."""
    usage = response.get("usageMetadata") if isinstance(response, Mapping) else None
    if not isinstance(usage, Mapping):
        return None

    def count(name: str) -> int:
        try:
            return int(usage.get(name) or 0)
        except (TypeError, ValueError):
            return 0

    return {
        "input_tokens": count("promptTokenCount"),
        "output_tokens": count("candidatesTokenCount") + count("thoughtsTokenCount"),
    }


def iter_encoded(lines: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """``lines`` as JSONL bytes, one line at a time."""
    for line in lines:
        yield json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
