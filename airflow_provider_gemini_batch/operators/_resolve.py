"""Find the batch this task instance already made, or make it: :func:`resolve_or_create`.

The reattach ladder of :class:`~airflow_provider_gemini_batch.operators.create.GeminiCreateBatchOperator`,
in one place and for both backends (the Gemini Developer API and Vertex AI):

1. the task state store (Airflow 3.3+): the name an earlier try recorded, checked with one GET
   (same marker, same input, not FAILED/CANCELLED/EXPIRED);
2. the display-name lookup: a bounded listing for this task instance's marker, which also applies
   ``on_input_change`` (see :mod:`._idempotency`);
3. create: the model is checked, ``input_path`` uploaded once per task instance and content (a
   recorded upload is reused after one GET), then the batch created; an ambiguous failure (5xx, or
   a connection lost after the request was sent) looks once more by marker before failing, and a
   refusal at the project's concurrent-batch limit waits for a slot (:mod:`._capacity`).

Whatever was found or made is recorded in the task state store before the caller pushes XComs or
waits, so a worker dying from then on leaves a retry the name to check with one GET. The XComs
(``batch_name``, ``gemini_conn_id``) are written by the operator, after this returns; no rung
reads them, since a retry of the same task instance has the store or the marker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_provider_gemini_batch._core import jsonl
from airflow_provider_gemini_batch._core import vertex as vx
from airflow_provider_gemini_batch._core.capacity import is_capacity_refusal
from airflow_provider_gemini_batch._core.estimate import BatchEstimator
from airflow_provider_gemini_batch._core.identity import TaskIdentity, tagged_display_name
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch.exceptions import (
    GeminiClientError,
    GeminiRateLimitError,
    GeminiServerError,
    GeminiTransportError,
)
from airflow_provider_gemini_batch.operators._capacity import wait_for_capacity
from airflow_provider_gemini_batch.operators._idempotency import (
    Reattach,
    find_reattachable_batch,
    why_batch_not_reusable,
    why_file_not_reusable,
)
from airflow_provider_gemini_batch.operators._input import check_input_size, validate_and_hash
from airflow_provider_gemini_batch.operators._state_store import FoundBy, Recorded, read_record, write_record
from airflow_provider_gemini_batch.operators._vertex import create_vertex_job, stage_vertex_input
from airflow_provider_gemini_batch.operators.upload import upload_idempotent

#: How the caps of a Vertex connection name the service in their errors.
_VERTEX = "Vertex AI batch prediction"

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_gemini_batch.operators.create import GeminiCreateBatchOperator

#: XCom key of the ``files/...`` a create task uploaded (or reused) for its ``input_path``.
INPUT_FILE_XCOM_KEY = "input_file"


def resolve_or_create(
    op: GeminiCreateBatchOperator,
    context: Context,
    identity: TaskIdentity,
    described: Mapping[str, Any],
    input_fp: str,
) -> Recorded:
    """The batch of this task instance for this input: reattached, or created now.

    :param op: the create operator (its hook, log, backend and arguments).
    :param identity: the task instance (its tag is the display-name marker).
    :param described: the input as described for the fingerprint (``{"file_sha256": ...}`` for
        ``input_path``; see :func:`describe_input`).
    :param input_fp: the input fingerprint (12 hex characters, as in the marker).
    :returns: the record, with ``batch`` set and ``found_by`` saying which rung found it; the
        task state store (if any) already holds it.
    :raises GeminiInvalidInputError: a batch of this task instance exists for another input and
        ``on_input_change`` is ``"fail"``.
    :raises GeminiServerError, GeminiTransportError: the create failed and no batch of this task
        instance exists.
    :raises TaskDeferred: (deferrable) the project is at its concurrent-batch limit.
    """
    recorded = read_record(context, op.log)
    batch = _recorded_batch(op, recorded, identity, input_fp)
    if batch is not None:
        return replace(recorded or Recorded(), batch=batch, found_by="state_store")
    batch = _reattach_lookup(op, identity, input_fp)
    if batch is not None:
        return _record(op, context, recorded, batch, input_fp, "display_name")
    # Before any upload: a model without batch support is refused only at create.
    op.hook.check_model_can_batch(str(op.model), embeddings=bool(op.embeddings))
    input_file = None if op._vertex else _recorded_file(op, recorded, identity, described)
    if input_file is None:
        input_file = _upload_if_needed(op, identity, described)
        recorded = _record_upload(op, context, recorded, described, input_file)
    # Pushed before the create: a cleanup task (a teardown, runs after all_done) can delete the
    # upload even when the create below fails.
    _push_uploaded_file(op, context, input_file)
    _wait_for_file_active(op, input_file)
    batch, found_by = _create_or_find(op, identity, input_fp, input_file)
    # Recorded before the XComs, the wait and any deferral: a worker dying from here on
    # leaves a retry the name to check with one GET.
    return _record(op, context, recorded, batch, input_fp, found_by)


# -- the input, described for the fingerprint -----------------------------------------------------


def describe_input(op: GeminiCreateBatchOperator, estimator: BatchEstimator | None = None) -> dict[str, Any]:
    """Check the input locally and describe it for the fingerprint (no request is sent).

    ``estimator`` (the cost estimate) is fed the blocks of ``input_path`` in the same read.

    :returns: ``{"requests": [...]}``, ``{"file_sha256": "<hex>"}`` (for ``input_path``: the
        content, not the uploaded name, since a re-upload gets a new name) or ``{"file": "files/..."}``.
    :raises GeminiInvalidInputError: a request is not of its REST type (key and field named).
    :raises GeminiInputFileError: ``input_path`` is missing, over 2 GB or invalid JSONL.
    """
    if op.requests is not None:
        # Refuse bad requests before any call (even the reattach lookup); the hook checks
        # them again when it builds the body, which is cheap next to the create itself.
        jsonl.inline_request_items(op.requests, embeddings=op.embeddings)
        return {"requests": op.requests}
    if op.input_uri:
        return {"uri": str(op.input_uri), "output_uri": str(op.output_uri)}
    if op.input_path:
        path = str(op.input_path)
        # Vertex AI caps a job's Cloud Storage input lower than the Files API (docs/vertex.md).
        size_cap = (vx.MAX_VERTEX_INPUT_BYTES, "1 GB", _VERTEX) if op._vertex else None
        count_cap = (vx.MAX_VERTEX_REQUESTS, _VERTEX) if op._vertex else None
        # Refuse bad input before any request (even the reattach lookup) is sent.
        check_input_size(path, size_cap)
        # One read validates and hashes; the upload (if the lookup finds nothing) is the second.
        described: dict[str, Any] = {
            "file_sha256": validate_and_hash(
                path, embeddings=op.embeddings, log=op.log, also=estimator, max_requests=count_cap
            )
        }
        if op._vertex:
            # Another output place is another job (the fingerprint tells them apart).
            described["output_uri"] = str(op.output_uri)
        return described
    return {"file": op.input_file}


# -- the rungs, in order ---------------------------------------------------------------------------


def _recorded_batch(
    op: GeminiCreateBatchOperator, recorded: Recorded | None, identity: TaskIdentity, input_fp: str
) -> Batch | None:
    """The batch an earlier try recorded in the task state store, if it may be reattached.

    One light GET; the reuse rules of the display-name lookup (see ``_idempotency``). A batch
    that is gone (404), unreadable with this connection (4xx), of another input or ended
    badly is not reused, and None sends the caller to the display-name lookup, which applies
    ``on_input_change`` and decides whether to create.
    """
    if recorded is None or not recorded.batch_name:
        return None
    try:
        batch = op.hook.get_batch(recorded.batch_name, light=True)
    except GeminiClientError as exc:
        op.log.info(
            "The task state store names %s, which cannot be read (%s); looking the batch up by "
            "its display-name marker.",
            recorded.batch_name,
            type(exc).__name__,
        )
        return None
    unusable = why_batch_not_reusable(batch, identity, input_fp)
    if unusable is not None:
        op.log.info(
            "The task state store names %s, not reused: %s; looking the batch up by its display-name marker.",
            recorded.batch_name,
            unusable,
        )
        return None
    op.log.info(
        "Idempotency check: reattaching to %s (%s), recorded in the task state store by an earlier try.",
        batch.name,
        batch.state.short,
    )
    return batch


def _lookup(op: GeminiCreateBatchOperator, identity: TaskIdentity, input_fp: str) -> Reattach:
    """Whether this task instance already created its batch (see ``_idempotency``)."""
    return find_reattachable_batch(
        op.hook,
        identity,
        input_fp,
        on_input_change=op.on_input_change,
        limit=op.reattach_scan_limit,
        log=op.log,
    )


def _reattach_lookup(op: GeminiCreateBatchOperator, identity: TaskIdentity, input_fp: str) -> Batch | None:
    """The batch an earlier try of this task instance created for this input, or None."""
    decision = _lookup(op, identity, input_fp)
    if decision.batch is not None:
        op.log.info("Idempotency check: %s, found by its display-name marker.", decision.reason)
    else:
        op.log.info("Idempotency check: %s.", decision.reason)
    return decision.batch


def _recorded_file(
    op: GeminiCreateBatchOperator,
    recorded: Recorded | None,
    identity: TaskIdentity,
    described: Mapping[str, Any],
) -> str | None:
    """The file an earlier try uploaded for this same ``input_path`` content, if still usable.

    One GET instead of listing the project's files; None (upload as usual, which still reuses
    a file found by its marker) when nothing usable was recorded.
    """
    sha = described.get("file_sha256")
    if recorded is None or not recorded.input_file or not sha or recorded.input_sha256 != sha:
        return None
    try:
        info = op.hook.get_file(recorded.input_file)
    except GeminiClientError as exc:
        op.log.info(
            "The task state store names %s, which cannot be read (%s); uploading as usual.",
            recorded.input_file,
            type(exc).__name__,
        )
        return None
    unusable = why_file_not_reusable(info, identity, str(sha))
    if unusable is not None:
        op.log.info("The task state store names %s, not reused: %s.", recorded.input_file, unusable)
        return None
    op.log.info("Reusing %s, recorded in the task state store by an earlier try.", info.name)
    return info.name


def _upload_if_needed(
    op: GeminiCreateBatchOperator, identity: TaskIdentity, described: Mapping[str, Any]
) -> str | None:
    """The input to create from: ``input_path`` uploaded (once per task instance and content;
    on Vertex, staged in Cloud Storage), else ``input_file`` (None for inline requests)."""
    if op._vertex:
        return stage_vertex_input(op, op.hook, identity, described)
    if not op.input_path:
        return op.input_file
    return upload_idempotent(
        op.hook,
        path=str(op.input_path),
        identity=identity,
        display_name=op.display_name,
        mime_type=str(op.input_mime_type or "application/jsonl"),
        validate=False,  # validated by describe_input, before the lookup
        scan_limit=op.reattach_scan_limit,
        log=op.log,
        content_sha256=described["file_sha256"],
    )


def _push_uploaded_file(op: GeminiCreateBatchOperator, context: Context, input_file: str | None) -> None:
    """Push the ``files/...`` uploaded (or reused) for ``input_path`` under
    :data:`INPUT_FILE_XCOM_KEY`; nothing for ``requests`` or ``input_file``.

    The file outlives the batch: the Files API deletes uploads only 48 h after creation
    (ai.google.dev/gemini-api/docs/files), and they count against the
    project's 20 GB meanwhile.
    """
    if not op.input_path or not input_file:
        return
    context["ti"].xcom_push(key=INPUT_FILE_XCOM_KEY, value=input_file)
    if op._vertex:
        op.log.info(
            "Input uploaded to %s (XCom key %r); it stays in the bucket until you delete it "
            "(or a lifecycle rule of the bucket does).",
            input_file,
            INPUT_FILE_XCOM_KEY,
        )
        return
    op.log.info(
        "Input file %s pushed under XCom key %r: delete it with GeminiDeleteFileOperator "
        "(a teardown task: it runs whatever happened upstream) once the batch ended; otherwise "
        "the Files API deletes it 48 h after the upload.",
        input_file,
        INPUT_FILE_XCOM_KEY,
    )


def _wait_for_file_active(op: GeminiCreateBatchOperator, input_file: str | None) -> None:
    """A file is PROCESSING for a while after upload; a batch on it is refused."""
    if input_file and not op._vertex:
        op.hook.wait_for_file_active(str(input_file), timeout=float(op.file_active_timeout))


def _create_or_find(
    op: GeminiCreateBatchOperator, identity: TaskIdentity, input_fp: str, input_file: str | None
) -> tuple[Batch, FoundBy]:
    """Create the batch; after an ambiguous failure, reattach if the service made it anyway;
    at the project's concurrent-batch limit, wait for a slot (``_capacity``) and create again."""
    while True:
        try:
            batch = _create(op, tagged_display_name(op.display_name, identity, input_fp), input_file)
        except (GeminiServerError, GeminiTransportError) as exc:
            return _find_after_ambiguous_failure(op, identity, input_fp, exc), "created_despite_error"
        except GeminiRateLimitError as exc:
            if not is_capacity_refusal(exc):
                raise
            # Defers (TaskDeferred), or returns once the worker saw a free slot.
            wait_for_capacity(op, exc)
            continue
        op.log.info("Created %s (%s).", batch.name, batch.state.short)
        return batch, "created"


def _create(op: GeminiCreateBatchOperator, display_name: str, input_file: str | None) -> Batch:
    """One create request on the connection's backend (no retry of its own: see the hook)."""
    if op._vertex:
        return create_vertex_job(op.hook, op.model, input_file, display_name, op.output_uri)
    create = op.hook.create_embeddings_batch if op.embeddings else op.hook.create_batch
    return create(
        op.model,
        requests=op.requests,
        input_file=input_file,
        display_name=display_name,
        priority=op.priority,
        webhook_config=op.webhook_config,
    )


def _find_after_ambiguous_failure(
    op: GeminiCreateBatchOperator,
    identity: TaskIdentity,
    input_fp: str,
    exc: GeminiServerError | GeminiTransportError,
) -> Batch:
    """Look once for the batch a failed create may have made anyway, before failing the task.

    A 5xx or a connection lost after the request was sent does not prove the service did not
    create the batch (the hook never repeats a create for that reason). If the batch of this
    task instance exists now, reattach; otherwise re-raise, and a retry of the task will look
    again before creating.

    :raises GeminiServerError, GeminiTransportError: ``exc``, when no such batch exists.
    """
    if isinstance(exc, GeminiTransportError) and not exc.sent:
        raise exc  # the request never left this machine: nothing can exist
    decision = _lookup(op, identity, input_fp)
    if decision.batch is None:
        op.log.warning(
            "Creating the batch failed and no batch of this task instance exists (%s); a retry of "
            "this task looks again before creating.",
            exc,
        )
        raise exc
    op.log.warning(
        "Creating the batch failed (%s), but the service had created it: %s.", exc, decision.reason
    )
    return decision.batch


# -- the record ------------------------------------------------------------------------------------


def _record_upload(
    op: GeminiCreateBatchOperator,
    context: Context,
    recorded: Recorded | None,
    described: Mapping[str, Any],
    input_file: str | None,
) -> Recorded | None:
    """Record the file uploaded for ``input_path`` (before the create, so a worker dying
    between the two does not make the retry list files); returns what is now recorded."""
    sha = described.get("file_sha256")
    if not input_file or not sha:
        return recorded
    record = Recorded(
        input_file=input_file, input_sha256=str(sha), attempts=recorded.attempts if recorded else ()
    )
    return record if write_record(context, record, op.log) else recorded


def _record(
    op: GeminiCreateBatchOperator,
    context: Context,
    recorded: Recorded | None,
    batch: Batch,
    input_fp: str,
    found_by: FoundBy,
) -> Recorded:
    """Record the batch (and keep a recorded upload) in the task state store, if any; returns
    the record with ``batch`` and ``found_by`` set."""
    record = replace(
        recorded or Recorded(),
        batch_name=batch.name,
        input_fingerprint=input_fp,
        batch=batch,
        found_by=found_by,
    )
    if write_record(context, record, op.log):
        op.log.info("Recorded %s in the task state store.", batch.name)
    return record
