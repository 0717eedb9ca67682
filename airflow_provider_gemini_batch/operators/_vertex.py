"""What the operators do differently on a Vertex AI connection (``"backend": "vertex"``).

Two steps called by :class:`~airflow_provider_gemini_batch.operators.create.GeminiCreateBatchOperator`:
:func:`check_backend_arguments` before anything is read or sent, and :func:`stage_vertex_input`
in place of the Files API upload. The rest of the create (fingerprint, reattach, create, wait)
is shared. One check called by
:class:`~airflow_provider_gemini_batch.operators.results.GeminiBatchResultsOperator`:
:func:`refuse_bigquery_output` for a job whose predictions went to BigQuery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from airflow_provider_gemini_batch._core import vertex as vx
from airflow_provider_gemini_batch._core.identity import TaskIdentity
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch.exceptions import GeminiBatchError, GeminiInvalidInputError
from airflow_provider_gemini_batch.operators._common import TaskLog


class _CreateArgs(Protocol):
    task_id: str
    requests: Any
    input_file: str | None
    input_path: str | None
    input_uri: str | None
    output_uri: str | None
    embeddings: bool
    priority: int | None
    webhook_config: Any

    @property
    def log(self) -> TaskLog: ...


def check_backend_arguments(op: _CreateArgs, hook: Any) -> bool:
    """Check the create arguments against the connection's backend; True on Vertex.

    On Vertex: inline ``requests``, a Files API ``input_file``, ``embeddings``, ``priority`` and
    ``webhook_config`` are refused, ``output_uri`` is required and both URIs are checked. On the
    Developer API: ``input_uri`` is refused (it cannot read Cloud Storage or BigQuery) and
    ``output_uri`` is ignored with a log line, so the same DAG file runs on either backend.

    :raises GeminiInvalidInputError: as above, before any request (the connection is only read).
    """
    settings = hook.settings
    if not getattr(settings, "is_vertex", False):
        if op.input_uri:
            raise GeminiInvalidInputError(
                f"{op.task_id}: input_uri ({op.input_uri!r}) is for Vertex AI connections (extra "
                "'backend': 'vertex'); the Gemini API reads its input from input_path, input_file or "
                "requests."
            )
        if op.output_uri:
            op.log.info(
                "output_uri %s is ignored on a Gemini API connection: results are fetched by "
                "GeminiBatchResultsOperator.",
                op.output_uri,
            )
        return False
    from airflow_provider_gemini_batch.backends.vertex import INLINE_REFUSED

    if op.requests:
        raise GeminiInvalidInputError(f"{op.task_id}: {INLINE_REFUSED}")
    if op.input_file:
        raise GeminiInvalidInputError(
            f"{op.task_id}: input_file ({op.input_file!r}) names a Gemini API file, which Vertex AI "
            "cannot read; pass input_uri (gs://... or bq://...) or input_path."
        )
    if op.embeddings or op.priority is not None or op.webhook_config:
        raise GeminiInvalidInputError(
            f"{op.task_id}: embeddings, priority and webhook_config are Gemini API batch options; "
            "Vertex batch prediction jobs do not take them. Remove them on a 'vertex' connection."
        )
    if not op.output_uri:
        raise GeminiInvalidInputError(
            f"{op.task_id}: a Vertex batch prediction job needs output_uri (gs://bucket/prefix/ or "
            "bq://project.dataset): where the job writes its predictions."
        )
    vx.check_output_uri(str(op.output_uri))
    if op.input_uri:
        vx.check_input_uri(str(op.input_uri))
    else:
        # Fails now (not after validating a large file) when there is no bucket to upload to.
        vx.staged_input_uri(str(op.output_uri), "check.jsonl")
    return True


def stage_vertex_input(
    op: _CreateArgs, hook: Any, identity: TaskIdentity, described: Mapping[str, Any]
) -> str:
    """The ``gs://``/``bq://`` input of the job: ``input_uri`` as given, or ``input_path`` (validated
    already) uploaded to ``<output_uri>/inputs/<task tag>-<content digest>.jsonl``.

    The object name depends only on the task instance and the file's content, so a retry writes
    the same object again (never a second copy).
    """
    if op.input_uri:
        return str(op.input_uri)
    sha = str(described["file_sha256"])
    target = vx.staged_input_uri(str(op.output_uri), f"{identity.tag}-{sha[:16]}.jsonl")
    size = hook.upload_input(str(op.input_path), target)
    op.log.info("Uploaded %s (%d bytes) to %s.", op.input_path, size, target)
    return target


def create_vertex_job(
    hook: Any, model: str, input_uri: str | None, display_name: str, output_uri: str | None
) -> Any:
    """Create the job (``VertexBatchHook.create_batch``); returns its :class:`Batch`."""
    return hook.create_batch(model, input_file=input_uri, display_name=display_name, output_uri=output_uri)


def refuse_bigquery_output(batch: Batch) -> None:
    """Fail plainly for a Vertex job that wrote its predictions to BigQuery: they are already
    in a table, where SQL reads them; this operator lands Cloud Storage prediction files only.

    :raises GeminiBatchError: the job's ``outputInfo`` names a BigQuery output.
    """
    from airflow_provider_gemini_batch._core.vertex import bigquery_output

    table = bigquery_output(batch.raw)
    if table and str(batch.responses_file or "").startswith("bq://"):
        raise GeminiBatchError(
            f"{batch.name} wrote its predictions to BigQuery ({table}); GeminiBatchResultsOperator lands "
            "Cloud Storage prediction files only. Read the table with SQL (e.g. "
            "SQLExecuteQueryOperator or BigQueryInsertJobOperator), or create the job with a gs:// "
            "output_uri to have its rows landed and classified here."
        )
