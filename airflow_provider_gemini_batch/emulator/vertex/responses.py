"""Request parsing and JSON rendering of ``projects.locations.batchPredictionJobs``.

Field names and nesting from the REST reference of the BatchPredictionJob resource
(https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.batchPredictionJobs)
and from what google-genai's Vertex path sends and reads (google/genai/batches.py:
``_BatchJobSource_to_vertex`` writes ``inputConfig.instancesFormat`` plus ``gcsSource.uris`` or
``bigquerySource.inputUri``; ``_BatchJobDestination_to_vertex`` writes
``outputConfig.predictionsFormat`` plus ``gcsDestination.outputUriPrefix`` or
``bigqueryDestination.outputUri``; ``_BatchJob_from_vertex`` reads ``name``, ``displayName``,
``state``, ``error``, ``createTime``, ``startTime``, ``endTime``, ``updateTime``, ``model``,
``inputConfig``, ``outputConfig``, ``completionStats``, ``outputInfo``).

Both spellings of a field are accepted on input (``inputConfig`` / ``input_config``), as the
service's JSON mapping does.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from airflow_provider_gemini_batch.emulator.batches import Phase
from airflow_provider_gemini_batch.emulator.vertex.models import (
    CANCELLED_ERROR,
    FAILED_ERROR,
    TERMINAL,
    JobSpec,
    VertexJob,
    VertexStore,
)
from airflow_provider_gemini_batch.emulator.wire import field, invalid

_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_MODEL = re.compile(
    r"^(publishers/[^/]+/models/[^/]+|projects/[^/]+/locations/[^/]+/(models|endpoints)/[^/]+)$"
)
# BigQuery ids: letters, digits, _ and - (a domain-scoped project also has ":"); no "/" or ".." parts.
_BQ_DATASET = re.compile(r"^bq://[A-Za-z0-9_:-]+\.[A-Za-z0-9_-]+$")
_BQ_TABLE = re.compile(r"^bq://[A-Za-z0-9_:-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_KNOWN = {"displayName", "model", "inputConfig", "outputConfig", "labels", "name", "state"}


def timestamp(epoch: float) -> str:
    """RFC 3339 UTC with microseconds (``2026-09-02T20:06:30.166279Z``)."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _model(raw: Any) -> str:
    """``publishers/google/models/<id>`` (what google-genai's ``t_model`` sends on Vertex), a tuned
    model or endpoint path; a bare id (``gemini-2.5-flash``) is accepted and read as a Google model."""
    if not isinstance(raw, str) or not raw.strip():
        raise invalid("BatchPredictionJob.model is required, e.g. publishers/google/models/gemini-2.5-flash.")
    model = raw.strip()
    if "/" not in model:
        return f"publishers/google/models/{model}"
    if not _MODEL.match(model):
        raise invalid(
            f"BatchPredictionJob.model {model!r} is not a model resource name "
            "(publishers/google/models/<id> or projects/<p>/locations/<l>/models/<id>)."
        )
    return model


def _labels(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid("BatchPredictionJob.labels must be an object of string keys and values.")
    for key, value in raw.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise invalid(
                f"Invalid label key {key!r}: lowercase letters, digits, - and _, starting with a letter."
            )
        if not isinstance(value, str) or not _LABEL_VALUE.match(value):
            raise invalid(f"Invalid label value {value!r} for {key!r}: up to 63 of [a-z0-9_-].")
    if len(raw) > 64:
        raise invalid("BatchPredictionJob.labels holds at most 64 labels.")
    return dict(raw)


def parse_create(body: Any) -> JobSpec:
    """A create body -> :class:`JobSpec`. :raises ApiError: 400 naming the field and the fix."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a BatchPredictionJob object.")
    display = field(body, "displayName")
    if not isinstance(display, str) or not display.strip():
        raise invalid("BatchPredictionJob.display_name is required (a name you choose for the job).")
    if len(display) > 128:
        raise invalid("BatchPredictionJob.display_name is longer than 128 characters.")
    model = _model(field(body, "model"))
    source = field(body, "inputConfig")
    if not isinstance(source, dict):
        raise invalid("BatchPredictionJob.input_config is required (gcsSource or bigquerySource).")
    input_format = field(source, "instancesFormat")
    uris = field(field(source, "gcsSource"), "uris")
    bq_in = field(field(source, "bigquerySource"), "inputUri")
    if (uris is None) == (bq_in is None):
        raise invalid("input_config must set exactly one of gcsSource.uris or bigquerySource.inputUri.")
    if uris is not None:
        if isinstance(uris, str):
            uris = [uris]
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
            raise invalid("input_config.gcs_source.uris must be a non-empty list of gs:// URIs.")
        bad = [u for u in uris if not u.startswith("gs://") or "/" not in u[5:]]
        if bad:
            raise invalid(f"input_config.gcs_source.uris must be gs://bucket/object URIs, got {bad}.")
        if input_format not in ("jsonl", None):
            raise invalid(
                f"input_config.instances_format {input_format!r}: use jsonl for Cloud Storage input."
            )
    elif not isinstance(bq_in, str) or not _BQ_TABLE.match(bq_in):
        raise invalid(f"input_config.bigquery_source.input_uri {bq_in!r}: use bq://project.dataset.table.")
    elif input_format not in ("bigquery", None):
        raise invalid(f"input_config.instances_format {input_format!r}: use bigquery for BigQuery input.")
    sink = field(body, "outputConfig")
    if not isinstance(sink, dict):
        raise invalid("BatchPredictionJob.output_config is required (gcsDestination or bigqueryDestination).")
    output_format = field(sink, "predictionsFormat")
    prefix = field(field(sink, "gcsDestination"), "outputUriPrefix")
    bq_out = field(field(sink, "bigqueryDestination"), "outputUri")
    if (prefix is None) == (bq_out is None):
        raise invalid(
            "output_config must set exactly one of gcsDestination.outputUriPrefix or "
            "bigqueryDestination.outputUri."
        )
    if prefix is not None:
        if not isinstance(prefix, str) or not prefix.startswith("gs://") or len(prefix) <= 5:
            raise invalid(
                f"output_config.gcs_destination.output_uri_prefix {prefix!r}: use gs://bucket/prefix."
            )
        if output_format not in ("jsonl", None):
            raise invalid(f"output_config.predictions_format {output_format!r}: use jsonl for Cloud Storage.")
    elif not isinstance(bq_out, str) or not (_BQ_TABLE.match(bq_out) or _BQ_DATASET.match(bq_out)):
        raise invalid(
            f"output_config.bigquery_destination.output_uri {bq_out!r}: use bq://project.dataset or "
            "bq://project.dataset.table."
        )
    elif output_format not in ("bigquery", None):
        raise invalid(f"output_config.predictions_format {output_format!r}: use bigquery for BigQuery.")
    extra = {
        k: v
        for k, v in body.items()
        if k not in _KNOWN and k not in ("display_name", "input_config", "output_config")
    }
    return JobSpec(
        display_name=display,
        model=model,
        input_format=input_format or ("jsonl" if uris is not None else "bigquery"),
        gcs_uris=uris,
        bigquery_input=bq_in,
        output_format=output_format or ("jsonl" if prefix is not None else "bigquery"),
        gcs_prefix=prefix,
        bigquery_output=bq_out,
        labels=_labels(field(body, "labels")),
        extra=extra,
    )


def _stats(job: VertexJob, phase: Phase, state: str) -> dict[str, str] | None:
    """``completionStats`` (int64 as strings, zero counts left out as proto3 JSON does; absent on a
    job that never ran: pending and cancelled-before-start jobs showed none in the captures)."""
    record = job.record
    total = record.request_count
    short = state.removeprefix("JOB_STATE_")
    if short in ("PENDING", "QUEUED") or (short == "CANCELLED" and phase.progress == 0):
        return None
    if short in ("RUNNING", "CANCELLING"):
        done = record.completed_count(phase)
        counts = {"successfulCount": done, "incompleteCount": total - done}
    elif record.materialised and short in ("SUCCEEDED", "PARTIALLY_SUCCEEDED", "CANCELLED"):
        counts = {
            "successfulCount": record.successful,
            "failedCount": record.failed,
            "incompleteCount": total - record.successful - record.failed,
        }
    else:  # FAILED or EXPIRED: nothing written
        counts = {"incompleteCount": total}
    shown = {key: str(value) for key, value in counts.items() if value}
    return shown or None


def render_job(store: VertexStore, job: VertexJob, now: float, finishing: bool = False) -> dict[str, Any]:
    """The BatchPredictionJob resource at emulator time ``now``.

    :param finishing: predictions are still being written; an ended job reads RUNNING.
    """
    record = job.record
    phase = record.phase(now)
    state = store.short_state(job, now)
    if finishing and state.removeprefix("JOB_STATE_") in TERMINAL:
        state = "JOB_STATE_CANCELLING" if job.cancel_requested is not None else "JOB_STATE_RUNNING"
        phase = Phase("RUNNING", phase.since, phase.progress)
    spec = job.spec
    data: dict[str, Any] = {"name": job.name, "displayName": spec.display_name, "model": spec.model}
    source: dict[str, Any] = {"instancesFormat": spec.input_format}
    if spec.gcs_uris is not None:
        source["gcsSource"] = {"uris": list(spec.gcs_uris)}
    else:
        source["bigquerySource"] = {"inputUri": spec.bigquery_input}
    sink: dict[str, Any] = {"predictionsFormat": spec.output_format}
    if spec.gcs_prefix is not None:
        sink["gcsDestination"] = {"outputUriPrefix": spec.gcs_prefix}
    else:
        sink["bigqueryDestination"] = {"outputUri": spec.bigquery_output}
    data["inputConfig"] = source
    data["outputConfig"] = sink
    data.update(spec.extra)
    data["state"] = state
    short = state.removeprefix("JOB_STATE_")
    started = short not in ("PENDING", "QUEUED") and not (short == "CANCELLED" and phase.progress == 0)
    if short == "FAILED":
        data["error"] = dict(job.failure or FAILED_ERROR)
    elif short == "CANCELLED":
        data["error"] = dict(CANCELLED_ERROR)
    if started or short == "FAILED":
        # Present on a failed job too (captured: an unwritable-output job that ended FAILED).
        if spec.gcs_prefix is not None:
            data["outputInfo"] = {"gcsOutputDirectory": store.output_directory(job)}
        else:
            table = store.bigquery_output_table(job)
            project, dataset, name = table.split(".", 2)
            data["outputInfo"] = {
                "bigqueryOutputDataset": f"bq://{project}.{dataset}",
                "bigqueryOutputTable": name,
            }
    stats = _stats(job, phase, state)
    if stats is not None:
        data["completionStats"] = stats
    data["createTime"] = timestamp(record.create_time)
    if started and record.start is not None:
        data["startTime"] = timestamp(record.start + 0.1 * record.processing_seconds)
    if short in TERMINAL:
        data["endTime"] = timestamp(phase.since)
    data["updateTime"] = timestamp(max(phase.since, job.cancel_requested or 0.0))
    if spec.labels:
        data["labels"] = dict(spec.labels)
    return data


def delete_operation(job: VertexJob, now: float) -> dict[str, Any]:
    """The long-running Operation a delete answers (``DeleteOperationMetadata``), already done;
    google-genai's ``_DeleteResourceJob_from_vertex`` reads its ``name``, ``done`` and ``error``."""
    stamp = timestamp(now)
    parent = job.name.rsplit("/batchPredictionJobs/", 1)[0]
    return {
        "name": f"{parent}/operations/{job.job_id[-10:]}{job.job_id[:9]}",
        "metadata": {
            "@type": "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata",
            "genericMetadata": {"createTime": stamp, "updateTime": stamp},
        },
        "done": True,
        "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
    }


_CLAUSE = re.compile(r'^\s*(?P<field>[A-Za-z_.]+)\s*(?P<op>=|!=)\s*(?P<value>"[^"]*"|[^\s"]+)\s*$')


def parse_filter(text: str | None) -> list[tuple[str, str, str]]:
    """The list ``filter`` (AIP-160 subset): clauses ``field=value`` / ``field!=value`` joined by
    ``AND``, over ``display_name``, ``state``, ``model`` and ``labels.<key>``.

    :raises ApiError: 400 for anything else, naming the supported subset.
    """
    if not text or not text.strip():
        return []
    clauses = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        found = _CLAUSE.match(part)
        name = found.group("field") if found else ""
        known = name in ("display_name", "displayName", "state", "model") or name.startswith("labels.")
        if not found or not known:
            raise invalid(
                f"Unsupported filter {part!r}: the emulator understands display_name, state, model and "
                'labels.<key> with = or !=, joined by AND (e.g. labels.dag="x" AND state=JOB_STATE_RUNNING).'
            )
        value = found.group("value").strip('"')
        clauses.append(("display_name" if name == "displayName" else name, found.group("op"), value))
    return clauses


def matches(store: VertexStore, job: VertexJob, clauses: list[tuple[str, str, str]], now: float) -> bool:
    """Whether ``job`` passes every clause of :func:`parse_filter`."""
    for name, op, value in clauses:
        if name == "display_name":
            actual: str | None = job.spec.display_name
        elif name == "state":
            actual = store.short_state(job, now)
        elif name == "model":
            actual = job.spec.model
        else:
            actual = job.spec.labels.get(name.removeprefix("labels."))
        if (actual == value) != (op == "="):
            return False
    return True
