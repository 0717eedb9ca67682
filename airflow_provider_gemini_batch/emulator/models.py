"""The Models API as far as batches need it: ``models.get``/``models.list`` with
``supportedGenerationMethods``, and the create's refusal of a model without batch support.

Shapes from the REST reference (https://ai.google.dev/api/models#Model) and public models.list
outputs: a Gemini text model lists ``generateContent``, ``countTokens``, ``createCachedContent``
and ``batchGenerateContent``; ``gemini-embedding-001`` lists ``embedContent``,
``countTextTokens``, ``countTokens`` and ``asyncBatchEmbedContent``. The catalogue below is a
small sample, not the service's list; a model it does not know is still accepted by create (the
emulator cannot know every model), while ``models.get`` answers 404 for it as the service does.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_gemini_batch.emulator.wire import ApiError

_TEXT = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
_EMBED = ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"]

#: id -> (displayName, supportedGenerationMethods, inputTokenLimit, outputTokenLimit)
CATALOGUE: dict[str, tuple[str, list[str], int, int]] = {
    "gemini-2.5-flash": ("Gemini 2.5 Flash", _TEXT, 1048576, 65536),
    "gemini-2.5-pro": ("Gemini 2.5 Pro", _TEXT, 1048576, 65536),
    "gemini-2.5-flash-lite": ("Gemini 2.5 Flash-Lite", _TEXT, 1048576, 65536),
    "gemini-2.0-flash": ("Gemini 2.0 Flash", _TEXT, 1048576, 8192),
    "gemini-3-pro-preview": ("Gemini 3 Pro Preview", _TEXT, 1048576, 65536),
    "gemini-3.5-flash-lite": ("Gemini 3.5 Flash-Lite", _TEXT, 1048576, 65536),
    "gemini-embedding-001": ("Gemini Embedding 001", _EMBED, 2048, 1),
    # Models without batch support: live (bidirectional streaming) and attributed QA.
    "gemini-2.0-flash-live-001": (
        "Gemini 2.0 Flash 001",
        ["bidiGenerateContent", "countTokens"],
        131072,
        8192,
    ),
    "aqa": ("Model that performs Attributed Question Answering.", ["generateAnswer"], 7168, 1024),
}


def render(model_id: str) -> dict[str, Any]:
    """The ``Model`` resource of a catalogue model."""
    display, methods, limit_in, limit_out = CATALOGUE[model_id]
    return {
        "name": f"models/{model_id}",
        "version": "001",
        "displayName": display,
        "inputTokenLimit": limit_in,
        "outputTokenLimit": limit_out,
        "supportedGenerationMethods": list(methods),
    }


def get(model_id: str, version: str) -> dict[str, Any]:
    """``models.get``; 404 NOT_FOUND for a model the catalogue does not hold."""
    if model_id not in CATALOGUE:
        raise ApiError(404, f"models/{model_id} is not found for API version {version}.")
    return render(model_id)


def page(page_size: int, token: str | None) -> dict[str, Any]:
    """One page of ``models.list`` (the token is the next index)."""
    ids = list(CATALOGUE)
    start = int(token) if token and token.isdigit() else 0
    data: dict[str, Any] = {"models": [render(i) for i in ids[start : start + page_size]]}
    if start + page_size < len(ids):
        data["nextPageToken"] = str(start + page_size)
    return data


def refuse_unless_batchable(model_id: str, verb: str, version: str) -> None:
    """The create's answer for a catalogue model whose methods lack ``verb``: 404 NOT_FOUND
    "… is not supported for batchGenerateContent" [OBS: google-gemini/cookbook #1077], worded as
    the interactive API's "not found … or is not supported for generateContent" answer."""
    entry = CATALOGUE.get(model_id)
    if entry is not None and verb not in entry[1]:
        raise ApiError(
            404,
            f"models/{model_id} is not found for API version {version}, or is not supported for "
            f"{verb}. Call ListModels to see the list of available models and their supported methods.",
        )
