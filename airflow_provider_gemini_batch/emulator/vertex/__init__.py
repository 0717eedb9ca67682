"""Vertex AI batch prediction in the emulator: ``batchPredictionJobs``, Cloud Storage and a token server.

How to use it (one emulator serves the Developer API, Vertex and Cloud Storage on one port)::

    python -m airflow_provider_gemini_batch.emulator --port 8089 --processing-seconds 5

* Vertex base URL: ``http://127.0.0.1:8089`` in place of ``https://{location}-aiplatform.googleapis.com``;
  jobs live under ``/v1/`` and ``/v1beta1/`` ``projects/{project}/locations/{location}/batchPredictionJobs``.
  Any project and location are accepted (e.g. ``emulator-project`` / ``us-central1``). Job names
  come back with a 12-digit project *number* in place of the project id, as on the service; a path
  with either reaches the job.
* Credentials: a service-account key whose ``token_uri`` is ``http://127.0.0.1:8089/token``
  (:func:`fake_service_account_info` writes one). Vertex routes need ``Authorization: Bearer``
  with a token that endpoint issued (or ``EmulatorControl.vertex_token()``); 401 otherwise.
* Cloud Storage: ``STORAGE_EMULATOR_HOST=http://127.0.0.1:8089`` makes google-cloud-storage (and
  gcsfs) use the emulator's JSON API subset; buckets are implicit, anonymous requests accepted.
  Job inputs are read from, and predictions written to, these objects:
  ``<outputUriPrefix>/prediction-model-<create time>/predictions.jsonl``.
* google-genai: ``genai.Client(vertexai=True, project=..., location=..., credentials=<key creds>,
  http_options=HttpOptions(base_url="http://127.0.0.1:8089"))``.
* Test knobs: ``EmulatorControl.vertex_configure(next_outcome=...)``, ``vertex_jobs()`` (every job,
  deleted ones too), ``load_bigquery_table()`` / ``read_bigquery_table()`` for ``bq://``.

Wire facts and their sources: docs/vertex-wire.md.
"""

from __future__ import annotations

from airflow_provider_gemini_batch.emulator.vertex.keys import DEFAULT_PROJECT, fake_service_account_info

__all__ = ["DEFAULT_PROJECT", "fake_service_account_info"]
