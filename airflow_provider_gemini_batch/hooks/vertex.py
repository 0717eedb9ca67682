"""The sync hook of the Vertex AI backend: batch prediction jobs and their Cloud Storage files.

:class:`VertexBatchHook` answers the calls the operators and the sensor make of
:class:`~airflow_provider_gemini_batch.hooks.gemini_batch.GeminiBatchHook` (``create_batch``,
``get_batch``, ``list_batches``, ``cancel_batch``, ``delete_batch``, ``iter_file_blocks``,
``iter_results``, ``test_connection``) with the same :class:`Batch` view, so the wait, the
verdicts, the reattach lookup and the results landing are the Developer API's own. It reuses that
hook's transport (timeouts, no redirects, bounded answers, the retry policy, redaction); only the
routes (``_core/vertex.py``) and the storage of inputs and outputs (``hooks/_gcs.py``) differ.

:func:`hook_for` picks the hook a connection needs (one connection read).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow_provider_gemini_batch._core import vertex as vx
from airflow_provider_gemini_batch._core.jsonl import parse_result_line
from airflow_provider_gemini_batch._core.models import Batch, BatchResult
from airflow_provider_gemini_batch._core.result_lines import split_lines
from airflow_provider_gemini_batch.backends.vertex import VertexBackend
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError, GeminiInvalidInputError
from airflow_provider_gemini_batch.hooks._gcs import CloudStorage, is_predictions_file
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

__all__ = ["VertexBatchHook"]


def hook_for(conn_id: str) -> GeminiBatchHook:
    """The sync hook ``conn_id`` needs: :class:`VertexBatchHook` when its extra ``backend`` is
    ``"vertex"``, else :class:`GeminiBatchHook`. Reads the connection once (kept in the hook)."""
    hook = GeminiBatchHook(gemini_conn_id=conn_id)
    settings = hook.settings
    if not settings.is_vertex:
        return hook
    vertex = VertexBatchHook(gemini_conn_id=conn_id)
    vertex.__dict__["settings"] = settings
    return vertex


class VertexBatchHook(GeminiBatchHook):
    """Vertex AI batch prediction jobs through a ``gemini_batch`` connection with
    ``"backend": "vertex"``.

    Batch names are job names, ``projects/{project}/locations/{location}/batchPredictionJobs/{id}``.
    Inputs and outputs live in Cloud Storage (or BigQuery); nothing goes through the Files API.

    :param gemini_conn_id: the Airflow connection id (default ``gemini_batch_default``).
    """

    hook_name = "Google Gemini Batch (Vertex AI)"

    @cached_property
    def vertex(self) -> vx.VertexSettings:
        """The project, location and Cloud Storage host of the connection.

        :raises GeminiConnectionConfigError: the connection is not on the Vertex backend.
        """
        settings = self.settings
        if settings.vertex is None:
            raise GeminiConnectionConfigError(
                f"Connection {self.gemini_conn_id!r} is not a Vertex AI connection: set its extra "
                "'backend' to 'vertex' (with 'project' and 'location')."
            )
        return settings.vertex

    @cached_property
    def storage(self) -> CloudStorage:
        """Cloud Storage through this hook's transport."""
        vertex = self.vertex
        return CloudStorage(self, vertex.storage_url, anonymous=vertex.storage_anonymous)

    # -- jobs ------------------------------------------------------------------------------------

    def check_model_can_batch(self, model: str, *, embeddings: bool = False) -> None:
        """Check the model name's form (Vertex offers no ``supportedGenerationMethods`` to read).

        :raises GeminiInvalidInputError: a malformed model name, or ``embeddings`` (not offered here).
        """
        if embeddings:
            raise GeminiInvalidInputError(
                "Embeddings batches are not offered on the Vertex backend by this provider; use a "
                "'developer' connection for them."
            )
        vx.vertex_model(model)

    def create_batch(
        self,
        model: str,
        *,
        requests: Sequence[Mapping[str, Any]] | None = None,
        input_file: str | None = None,
        display_name: str | None = None,
        priority: int | None = None,
        webhook_config: Mapping[str, Any] | None = None,
        output_uri: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Batch:
        """Create a batch prediction job (``POST .../batchPredictionJobs``).

        :param model: ``gemini-2.5-flash``, ``publishers/google/models/...`` or a tuned model's
            ``projects/.../models/...``.
        :param input_file: the input, ``gs://bucket/requests.jsonl`` or ``bq://project.dataset.table``.
        :param output_uri: where predictions go, ``gs://bucket/prefix/`` or ``bq://project.dataset``.
        :param display_name: kept within Vertex's 128 characters (an identity marker stays whole).
        :param labels: job labels (``{"team": "ml"}``).
        :raises GeminiInvalidInputError: inline ``requests``, ``priority`` or ``webhook_config``
            (Vertex has none of them), a missing or malformed URI.
        :raises GeminiApiError: the service refused it; a 5xx or lost answer may hide a created job
            (never retried: the create operator looks it up by its display name).
        """
        backend = self.backend
        if not isinstance(backend, VertexBackend):
            raise GeminiConnectionConfigError(
                f"Connection {self.gemini_conn_id!r} is not a Vertex AI connection: set its extra "
                "'backend' to 'vertex'."
            )
        req = backend.create_batch(
            model,
            requests=requests,
            input_file=input_file,
            display_name=display_name,
            priority=priority,
            webhook_config=webhook_config,
            output_uri=output_uri,
            labels=labels,
        )
        return self._batch_view(backend, self._json(req))

    def create_embeddings_batch(self, model: str, **kwargs: Any) -> Batch:
        """Not offered on Vertex by this provider. :raises GeminiInvalidInputError: always."""
        self.check_model_can_batch(model, embeddings=True)
        raise AssertionError("unreachable")  # pragma: no cover

    def update_batch_priority(self, name: str, priority: int, *, embeddings: bool = False) -> Batch:
        """Vertex jobs have no priority. :raises GeminiInvalidInputError: always."""
        raise GeminiInvalidInputError("Vertex batch prediction jobs have no priority to change.")

    # -- Cloud Storage ---------------------------------------------------------------------------

    def upload_input(self, path: str | os.PathLike[str], uri: str) -> int:
        """Upload a validated local JSONL to ``uri`` (``gs://bucket/object``); bytes stored."""
        return self.storage.upload(path, uri, content_type="application/jsonl")

    def prediction_files(self, directory: str) -> list[str]:
        """The ``gs://`` URIs of the prediction files in a job's output directory, by name."""
        bucket, prefix = vx.split_gs_uri(directory, what="output directory")
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        found = []
        for item in self.storage.list_objects(bucket, prefix):
            name = str(item["name"])
            if is_predictions_file(name[len(prefix) :]):
                found.append(f"gs://{bucket}/{name}")
        return sorted(found)

    def iter_file_blocks(self, name: str) -> Iterator[bytes]:
        """The bytes of every prediction file under the output directory ``name`` (a ``gs://``
        folder), one file after the other, as they arrive. A file not ending in a newline gets
        one, so no two files' lines run together.

        :raises GeminiApiError: a file could not be read; :raises GeminiTransportError: as the hook.
        """
        if name.startswith("bq://"):
            raise GeminiInvalidInputError(
                f"The predictions are in the BigQuery table {name}; read them with SQL. Only Cloud "
                "Storage prediction files are read by this hook."
            )
        files = self.prediction_files(name)
        if not files:
            self.log.warning("No predictions*.jsonl file under %s.", name)
        for uri in files:
            bucket, obj = vx.split_gs_uri(uri)
            last = b"\n"
            for block in self.storage.iter_object(bucket, obj):
                if block:
                    last = block[-1:]
                    yield block
            if last != b"\n":
                yield b"\n"

    def _iter_file_results(self, name: str, max_line_bytes: int) -> Iterator[BatchResult]:
        for index, line in enumerate(split_lines(self.iter_file_blocks(name), max_line_bytes)):
            yield parse_result_line(line, index)

    # -- the Files API is the Developer API's own ------------------------------------------------

    def _no_files_api(self, what: str) -> GeminiInvalidInputError:
        return GeminiInvalidInputError(
            f"{what} uses the Gemini API's Files API, which a Vertex AI connection "
            f"({self.gemini_conn_id!r}) does not have: inputs and outputs live in Cloud Storage. Pass "
            "input_path or input_uri to GeminiCreateBatchOperator instead of uploading first, and "
            "delete staged objects with the bucket's lifecycle rules."
        )

    def upload_file(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        """Not on Vertex. :raises GeminiInvalidInputError: always, before anything is sent."""
        raise self._no_files_api("Uploading a file")

    def get_file(self, name: str) -> Any:
        """Not on Vertex. :raises GeminiInvalidInputError: always."""
        raise self._no_files_api(f"Reading {name}")

    def list_files(self) -> Any:
        """Not on Vertex. :raises GeminiInvalidInputError: always."""
        raise self._no_files_api("Listing files")

    def delete_file(self, name: str) -> None:
        """Not on Vertex. :raises GeminiInvalidInputError: always."""
        raise self._no_files_api(f"Deleting {name}")
