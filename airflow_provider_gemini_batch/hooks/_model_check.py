"""The sync hook's model check: can this model run a batch? (one ``models.get``, cached).

Split from ``gemini_batch.py`` to keep that module about transport; the decisions are in
``_core.model_check``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_gemini_batch._core import model_check as mc
from airflow_provider_gemini_batch._core import names
from airflow_provider_gemini_batch._core.error_hints import is_auth_failure
from airflow_provider_gemini_batch.exceptions import (
    GeminiApiError,
    GeminiClientError,
    GeminiInvalidInputError,
    GeminiNotFoundError,
    GeminiTransportError,
)

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

log = logging.getLogger(__name__)


def check_model_can_batch(hook: GeminiBatchHook, model: str, *, embeddings: bool = False) -> None:
    """Raise before anything is uploaded if ``model`` cannot run this kind of batch.

    One ``GET models/{id}`` per process, API root and model (positive answers are remembered in
    :data:`_core.model_check.VERDICTS`), sent once without retries: a check that cannot be made
    (a 5xx, no answer, an answer without ``supportedGenerationMethods``) is logged and the
    create decides. Tuned models (``tunedModels/…``) are not checked.

    :raises GeminiInvalidInputError: the Models API does not know the model (its 404 NOT_FOUND
        naming the model), or its ``supportedGenerationMethods`` lack ``batchGenerateContent``
        (``asyncBatchEmbedContent`` for embeddings); the message lists batch-capable models from
        ``models.list``. Any other failure of the check (a bare 404 of a gateway without the
        route, another 4xx, a 5xx, no answer) is logged and the create decides.
    :raises GeminiClientError: a refused key or credentials, as the create would raise.
    """
    name = names.normalize_model(model)
    if not name.startswith("models/"):
        return
    method = mc.batch_method(embeddings)
    root = f"{hook.settings.base_url}/{hook.settings.api_version}"
    if mc.VERDICTS.known_ok(root, name, method):
        return
    try:
        req = mc.get_model(hook.settings.api_version, name)
        body = hook._json_object(req, 200, hook._send_once(req).content)
    except GeminiNotFoundError as exc:
        if not mc.says_model_unknown(exc.status, exc.api_message, name):
            # A 404 that is not the Models API's (a gateway without that route): no verdict.
            log.warning("Could not check whether %s can run batches (%s); the create will tell.", name, exc)
            return
        raise GeminiInvalidInputError(
            mc.cannot_batch_message(name, method, _capable(hook, method), unknown=True)
        ) from None
    except GeminiClientError as exc:
        if is_auth_failure(exc.http_status, exc.status, exc.reason, exc.api_message):
            raise  # the create would be refused the same way; say it now, naming the connection
        log.warning("Could not check whether %s can run batches (%s); the create will tell.", name, exc)
        return
    except (GeminiApiError, GeminiTransportError) as exc:
        log.warning("Could not check whether %s can run batches (%s); the create will tell.", name, exc)
        return
    methods = mc.supported_methods(body)
    if methods is None:
        log.info("The Models API did not list the methods of %s; not checked before the create.", name)
        return
    if method not in methods:
        capable = _capable(hook, method)
        raise GeminiInvalidInputError(mc.cannot_batch_message(name, method, capable, unknown=False))
    mc.VERDICTS.remember_ok(root, name, method)


def _capable(hook: GeminiBatchHook, method: str) -> list[str] | None:
    """Batch-capable model names from at most :data:`MAX_LIST_PAGES` pages; None if unreadable."""
    found: list[str] = []
    token: str | None = None
    try:
        for _ in range(mc.MAX_LIST_PAGES):
            req = mc.list_models(hook.settings.api_version, token)
            data: dict[str, Any] = hook._json_object(req, 200, hook._send_once(req).content)
            items = data.get("models")
            found += mc.capable_models(items if isinstance(items, list) else [], method)
            token = data.get("nextPageToken") or None
            if not token:
                break
    except (GeminiApiError, GeminiTransportError) as exc:
        log.info("Could not list the models (%s).", exc)
        return None
    return found
