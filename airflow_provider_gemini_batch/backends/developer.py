"""The Gemini Developer API backend (``generativelanguage.googleapis.com``): batches and files.

Paths, bodies and answer shapes are those of the REST reference (https://ai.google.dev/api/batch-api,
https://ai.google.dev/api/files) as recorded in ``docs/`` and checked against real answers in
``tests/real_service``; the request builders themselves live in ``_core.routes`` (shared with the
Files API calls) and this class only chooses among them. A batch answer is a long-running
Operation wrapping a ``GenerateContentBatch`` (``metadata``), states spelled ``BATCH_STATE_*``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.routes import ApiRequest
from airflow_provider_gemini_batch._core.settings import AuthMode
from airflow_provider_gemini_batch.backends.base import Backend
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError
from airflow_provider_gemini_batch.hooks._auth import api_key_headers


class DeveloperBackend(Backend):
    """The Gemini Developer API (``backend`` extra ``"developer"``, the default)."""

    name = "developer"
    list_key = "operations"

    @property
    def api_version(self) -> str:
        return self.settings.api_version

    def static_auth_headers(self) -> dict[str, str] | None:
        """``x-goog-api-key`` for an API-key connection; None (bearer token) for Google credentials."""
        if self.settings.auth_mode is AuthMode.API_KEY:
            return api_key_headers(self.settings)
        return None

    def probe(self) -> ApiRequest:
        """``GET files?pageSize=1``: authenticated, cheap, and allowed to every key."""
        return routes.list_files(self.api_version, page_size=1)

    def connected_message(self, where: str) -> str:
        return f"Connected to the Gemini API at {where} (API {self.api_version})."

    def create_batch(
        self,
        model: str,
        *,
        requests: Sequence[Mapping[str, Any]] | None = None,
        input_file: str | None = None,
        display_name: str | None = None,
        priority: int | None = None,
        webhook_config: Mapping[str, Any] | None = None,
        embeddings: bool = False,
        output_uri: str | None = None,
    ) -> ApiRequest:
        """``POST models/{model}:batchGenerateContent`` (``:asyncBatchEmbedContent`` for embeddings).

        :raises GeminiInvalidInputError: ``output_uri`` given (the service keeps results itself),
            or what :func:`routes.create_batch` refuses.
        """
        if output_uri is not None:
            raise GeminiInvalidInputError(
                "output_uri is for a Vertex AI connection; the Gemini Developer API keeps a batch's "
                "results itself. Leave output_uri out, or use a connection with backend 'vertex'."
            )
        return routes.create_batch(
            self.api_version,
            model,
            requests=requests,
            input_file=input_file,
            display_name=display_name,
            priority=priority,
            embeddings=embeddings,
            webhook_config=webhook_config,
        )

    def get_batch(self, name: str, *, light: bool = False) -> ApiRequest:
        """``GET batches/{id}``; ``light`` asks for :data:`routes.POLL_FIELDS` only."""
        return routes.get_batch(self.api_version, name, fields=routes.POLL_FIELDS if light else None)

    def list_batches(
        self, page_token: str | None = None, page_size: int = routes.LIST_PAGE_SIZE, *, light: bool = False
    ) -> ApiRequest:
        """``GET batches``; ``light`` asks for :data:`routes.LIST_FIELDS` only."""
        return routes.list_batches(
            self.api_version, page_token, page_size, fields=routes.LIST_FIELDS if light else None
        )

    def cancel_batch(self, name: str) -> ApiRequest:
        """``POST batches/{id}:cancel``."""
        return routes.cancel_batch(self.api_version, name)

    def delete_batch(self, name: str) -> ApiRequest:
        """``DELETE batches/{id}``."""
        return routes.delete_batch(self.api_version, name)

    def update_batch_priority(self, name: str, priority: int, *, embeddings: bool = False) -> ApiRequest:
        """``PATCH batches/{id}:updateGenerateContentBatch?updateMask=priority`` (or the embed one)."""
        return routes.update_batch_priority(self.api_version, name, priority, embeddings=embeddings)

    def batch_from_answer(self, obj: Mapping[str, Any]) -> Batch:
        """An Operation (``name``, ``metadata``: the batch, ``done``, ``response``/``error``)."""
        return Batch.from_operation(obj)

    def batch_from_bare(self, obj: Mapping[str, Any], name: str | None) -> Batch:
        """The bare ``GenerateContentBatch`` (the priority update answers it), wrapped as an
        Operation so it reads as :meth:`batch_from_answer` does."""
        return Batch.from_operation({"name": obj.get("name") or name, "metadata": obj})
