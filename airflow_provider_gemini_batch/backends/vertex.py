"""The Vertex AI backend: Gemini batch prediction jobs (``projects.locations.batchPredictionJobs``).

Chosen by the connection extra ``"backend": "vertex"`` (with ``project`` and ``location``).
Requests and the job view come from :mod:`airflow_provider_gemini_batch._core.vertex`, where
every wire fact names its source. Authentication is always a Google bearer token (service-account
key or ADC): Vertex batch prediction takes no API key here. Inputs and outputs live in Cloud
Storage or BigQuery; staging an ``input_path`` and reading prediction files is
``hooks/vertex.py``'s (with ``hooks/_gcs.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_gemini_batch._core import vertex as vx
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.routes import ApiRequest
from airflow_provider_gemini_batch.backends.base import Backend
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError, GeminiInvalidInputError

#: Why inline requests are refused on Vertex (the operators and ``docs/vertex.md`` say the same).
INLINE_REFUSED = (
    "Vertex AI batch prediction reads its requests from Cloud Storage or BigQuery only: inline "
    "requests are not accepted on a connection whose backend is 'vertex'. Write them to a JSONL file "
    "and pass input_path (validated and uploaded under output_uri) or input_uri (gs://... or bq://...)."
)


class VertexBackend(Backend):
    """Request building and job reading for Vertex AI batch prediction (pure: no I/O)."""

    name = vx.VERTEX
    list_key = "batchPredictionJobs"

    @property
    def vertex(self) -> vx.VertexSettings:
        """The connection's project, location and Cloud Storage host.

        :raises GeminiConnectionConfigError: the settings carry none (not parsed as a Vertex connection).
        """
        vertex = getattr(self.settings, "vertex", None)
        if vertex is None:
            raise GeminiConnectionConfigError(
                f"Connection {self.settings.conn_id!r} names the Vertex backend but no project/location."
            )
        return vertex

    def static_auth_headers(self) -> dict[str, str] | None:
        """None: always a Google bearer token (the connection parser refuses an API key here)."""
        return None

    def probe(self) -> ApiRequest:
        """``GET .../batchPredictionJobs?pageSize=1``: checks endpoint, project, location and token."""
        return vx.list_jobs(self.vertex, None, 1)

    def connected_message(self, where: str) -> str:
        vertex = self.vertex
        return f"Connected to Vertex AI at {where} (project {vertex.project}, {vertex.location})."

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
        labels: Mapping[str, str] | None = None,
    ) -> ApiRequest:
        """``POST .../batchPredictionJobs`` from ``input_file`` (a ``gs://``/``bq://`` input URI)
        to ``output_uri`` (``gs://`` prefix or ``bq://`` dataset).

        :raises GeminiInvalidInputError: inline requests, embeddings, priority or webhook config
            (Vertex jobs have none of them), a missing or malformed URI or model.
        """
        if requests:
            raise GeminiInvalidInputError(INLINE_REFUSED)
        if embeddings or priority is not None or webhook_config:
            raise GeminiInvalidInputError(
                "embeddings, priority and webhook_config are Gemini API batch options; Vertex batch "
                "prediction jobs do not take them. Remove them on a 'vertex' connection."
            )
        if not input_file or not output_uri:
            raise GeminiInvalidInputError(
                "A Vertex batch prediction job needs input_uri (gs://... or bq://...) and output_uri "
                "(gs://bucket/prefix/ or bq://project.dataset)."
            )
        body = vx.create_body(
            model,
            input_uri=input_file,
            output_uri=output_uri,
            display_name=display_name or "airflow-gemini-batch",
            labels=labels,
        )
        return vx.create_job(self.vertex, body)

    def get_batch(self, name: str, *, light: bool = False) -> ApiRequest:
        """``GET`` the job (a job answer holds no bulky results: ``light`` changes nothing)."""
        return vx.get_job(self.vertex, name)

    def list_batches(
        self, page_token: str | None = None, page_size: int = 100, *, light: bool = False
    ) -> ApiRequest:
        return vx.list_jobs(self.vertex, page_token, page_size)

    def cancel_batch(self, name: str) -> ApiRequest:
        return vx.cancel_job(self.vertex, name)

    def delete_batch(self, name: str) -> ApiRequest:
        return vx.delete_job(self.vertex, name)

    def batch_from_answer(self, obj: Mapping[str, Any]) -> Batch:
        """The shared view of a ``BatchPredictionJob`` (:func:`~._core.vertex.batch_from_job`)."""
        return vx.batch_from_job(obj)
