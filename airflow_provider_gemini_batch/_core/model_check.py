"""Whether a model can run batches, asked of the Models API before anything is uploaded (pure).

A model without batch support is refused only at create, with 404 NOT_FOUND "… is not supported
for batchGenerateContent" [OBS: google-gemini/cookbook #1077], after a 2 GB upload may already
have been made. The Models API says it up front: ``models.get`` answers a ``Model`` whose
``supportedGenerationMethods`` lists the methods it serves (REST reference
https://ai.google.dev/api/models#Model; e.g. ``["generateContent", "countTokens",
"createCachedContent", "batchGenerateContent"]`` for a Gemini text model and ``["embedContent",
"countTextTokens", "countTokens", "asyncBatchEmbedContent"]`` for an embedding model).

This module builds the two requests and reads their answers; the hooks send them and keep the
verdict per process (:class:`ModelVerdicts`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_gemini_batch._core import names
from airflow_provider_gemini_batch._core.routes import ApiRequest

#: The method a batch of each kind needs in ``supportedGenerationMethods``.
GENERATE_METHOD = "batchGenerateContent"
EMBED_METHOD = "asyncBatchEmbedContent"
#: Pages of ``models.list`` read at most to name batch-capable models in an error (the list is
#: short: about 50 models on two pages of the default size in 2026).
MAX_LIST_PAGES = 5
#: Models named in an error at most.
MAX_NAMED = 20


def batch_method(embeddings: bool) -> str:
    """``asyncBatchEmbedContent`` for an embeddings batch, else ``batchGenerateContent``."""
    return EMBED_METHOD if embeddings else GENERATE_METHOD


def get_model(api_version: str, model: str) -> ApiRequest:
    """``GET models/{id}`` (only ``models/…``: tuned models are not in the Models API's get)."""
    name = names.normalize_model(model)
    return ApiRequest("GET", f"/{api_version}/{name}", resource=name, what=f"Getting {name}")


def list_models(api_version: str, page_token: str | None = None, page_size: int = 1000) -> ApiRequest:
    """``GET models`` (one page; ``pageSize`` up to 1000 per the REST reference)."""
    params = {"pageSize": str(page_size)}
    if page_token:
        params["pageToken"] = page_token
    path = f"/{api_version}/models"
    return ApiRequest("GET", path, params=params, resource="models", what="Listing models")


def says_model_unknown(status: str | None, message: str | None, name: str) -> bool:
    """Whether a 404 is the Models API saying it does not know ``name`` (Google's NOT_FOUND with
    the model named, e.g. "models/x is not found for API version v1beta ..."), not a bare 404 of
    something in between (a gateway without the route)."""
    return status == "NOT_FOUND" and bool(message) and name.removeprefix("models/") in str(message)


def supported_methods(model_json: Mapping[str, Any]) -> frozenset[str] | None:
    """The ``supportedGenerationMethods`` of a ``Model``; None when the answer has none (then
    nothing can be concluded and the create decides)."""
    methods = model_json.get("supportedGenerationMethods")
    if not isinstance(methods, list):
        return None
    return frozenset(str(m) for m in methods)


def capable_models(models: Iterable[Mapping[str, Any]], method: str) -> list[str]:
    """Names of the models that list ``method``, in the order given."""
    found = []
    for item in models:
        methods = supported_methods(item)
        if methods is not None and method in methods and isinstance(item.get("name"), str):
            found.append(item["name"])
    return found


def cannot_batch_message(model: str, method: str, capable: list[str] | None, *, unknown: bool) -> str:
    """The error text for a model that cannot run ``method`` (``unknown``: the Models API does not
    know it at all)."""
    name = names.normalize_model(model)
    what = "is not a model of the Models API" if unknown else f"does not support {method}"
    text = f"{name} {what}, so no batch can be created with it; nothing was uploaded or created."
    if capable:
        shown = ", ".join(capable[:MAX_NAMED]) + (", …" if len(capable) > MAX_NAMED else "")
        text += f" Models that can run this kind of batch: {shown}."
    else:
        text += f" Pick a model whose supportedGenerationMethods include {method} (GET /v1beta/models)."
    return text


class ModelVerdicts:
    """Per-process memory of checked models: ``(api root, model, method) -> True`` once a model
    was seen to support the method, so the Models API is asked once per process, not per task.

    Only positive answers are kept: a refusal raises, and a model may gain batch support later.
    """

    def __init__(self) -> None:
        self._ok: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def known_ok(self, root: str, model: str, method: str) -> bool:
        with self._lock:
            return (root, model, method) in self._ok

    def remember_ok(self, root: str, model: str, method: str) -> None:
        with self._lock:
            self._ok.add((root, model, method))

    def clear(self) -> None:
        with self._lock:
            self._ok.clear()


#: The process-wide verdicts shared by every hook.
VERDICTS = ModelVerdicts()
