"""The Vertex AI backend's wire, as data (sans-I/O): settings, routes, create body, job view.

A ``gemini_batch`` connection with the extra ``"backend": "vertex"`` runs batches as Vertex AI
batch prediction jobs (``projects.locations.batchPredictionJobs``) instead of Gemini API batches.
Everything here is pure: the sync hook (``hooks/vertex.py``) only sends what these functions
build and reads answers through :func:`batch_from_job`, which maps a job onto the same
:class:`~airflow_provider_gemini_batch._core.models.Batch` view the Developer API path uses, so
the wait, the verdicts, the sensor and the results landing are shared.

Wire facts and their sources (see ``docs/vertex.md`` for the full list):

- paths ``/v1/projects/{project}/locations/{location}/batchPredictionJobs[/{id}][:cancel]`` and
  the host ``https://{location}-aiplatform.googleapis.com``: REST reference of
  ``projects.locations.batchPredictionJobs``
  (https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.batchPredictionJobs)
  and the Gemini batch API page
  (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/batch-prediction-api);
- create body ``displayName``, ``model: publishers/google/models/{model}``,
  ``inputConfig {instancesFormat: "jsonl", gcsSource {uris}}`` or ``{instancesFormat:
  "bigquery", bigquerySource {inputUri}}``, ``outputConfig {predictionsFormat: "jsonl",
  gcsDestination {outputUriPrefix}}`` or ``{predictionsFormat: "bigquery", bigqueryDestination
  {outputUri}}``: the same page, and python-genai ``google/genai/batches.py`` (Vertex path of
  ``_BatchJobSource_to_vertex`` / ``_BatchJobDestination_to_vertex``), which maps ``gs://`` and
  ``bq://`` URIs the same way;
- states ``JOB_STATE_*`` (``QUEUED``, ``PENDING``, ``RUNNING``, ``SUCCEEDED``, ``FAILED``,
  ``CANCELLING``, ``CANCELLED``, ``PAUSED``, ``EXPIRED``, ``UPDATING``,
  ``PARTIALLY_SUCCEEDED``): REST reference ``JobState``; parsed by the shared
  :class:`~airflow_provider_gemini_batch._core.states.BatchState`, where EXPIRED and
  PARTIALLY_SUCCEEDED are terminal;
- ``completionStats {successfulCount, failedCount, incompleteCount}`` (int64 as decimal
  strings) and ``outputInfo {gcsOutputDirectory | bigqueryOutputDataset, bigqueryOutputTable}``:
  REST reference ``CompletionStats`` and ``OutputInfo``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_provider_gemini_batch._core.models import ApiStatus, Batch, BatchStats, parse_time, pick, to_int
from airflow_provider_gemini_batch._core.routes import ApiRequest
from airflow_provider_gemini_batch._core.states import BatchState
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError, GeminiInvalidInputError

#: The connection extra naming the backend, and its values.
BACKEND_EXTRA = "backend"
DEVELOPER = "developer"
VERTEX = "vertex"
BACKENDS = (DEVELOPER, VERTEX)
DEFAULT_LOCATION = "us-central1"
#: The Vertex REST version used (``v1beta1`` serves the same resource).
VERTEX_API_VERSION = "v1"
#: The public Cloud Storage JSON API host.
DEFAULT_STORAGE_HOST = "https://storage.googleapis.com"
#: Largest Cloud Storage input file of a Gemini batch job on Vertex: 1 GB, and most requests in
#: one job: 200,000 ("Batch inference with Gemini", quotas and limits: docs.cloud.google.com/
#: vertex-ai/generative-ai/docs/multimodal/batch-prediction-gemini; docs/vertex.md, Limits).
MAX_VERTEX_INPUT_BYTES = 1_000_000_000
MAX_VERTEX_REQUESTS = 200_000
#: Vertex caps ``displayName`` at 128 UTF-8 characters (REST reference, ``BatchPredictionJob``).
MAX_VERTEX_DISPLAY_NAME = 128
#: Page size of ``batchPredictionJobs.list``.
LIST_PAGE_SIZE = 100

_PROJECT = re.compile(r"[a-z][a-z0-9.:-]{1,100}[a-z0-9]|[0-9]{1,20}")
_LOCATION = re.compile(r"[a-z][a-z0-9-]{1,40}")
_JOB_ID = re.compile(r"[0-9]{1,30}")
_JOB_NAME = re.compile(r"projects/([^/]+)/locations/([^/]+)/batchPredictionJobs/([^/:?#]+)")
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_BQ = re.compile(r"bq://[A-Za-z0-9._:-]+(\.[A-Za-z0-9_$-]+){1,2}")


def backend_of(conn_id: str, extra: Mapping[str, Any] | None) -> str:
    """``"developer"`` (default) or ``"vertex"``, from the connection extra ``backend``.

    :raises GeminiConnectionConfigError: any other value.
    """
    value = str((extra or {}).get(BACKEND_EXTRA) or DEVELOPER).strip().lower()
    if value not in BACKENDS:
        raise GeminiConnectionConfigError(
            f"Connection {conn_id!r}: extra 'backend' is {value!r}; use 'developer' (the Gemini API, "
            "default) or 'vertex' (Vertex AI batch prediction)."
        )
    return value


@dataclass(frozen=True)
class VertexSettings:
    """What the Vertex backend adds to a connection.

    :param project: the Google Cloud project id (extra ``project``; else the service account's).
    :param location: the region (extra ``location``, default ``us-central1``).
    :param storage_url: the Cloud Storage JSON API root (extra ``storage_host``, else the
        ``STORAGE_EMULATOR_HOST`` environment variable, else ``https://storage.googleapis.com``).
    :param storage_anonymous: True when the host came from ``STORAGE_EMULATOR_HOST``: storage
        requests then carry no bearer token (google-cloud-storage talks to an emulator named by
        that variable with anonymous credentials too), so a variable left set on a worker can
        never receive the connection's token. A ``storage_host`` written in the connection gets
        the token: its owner chose that host.
    """

    project: str
    location: str
    storage_url: str
    storage_anonymous: bool = False

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @classmethod
    def from_extra(
        cls,
        conn_id: str,
        extra: Mapping[str, Any] | None,
        *,
        keyfile_project: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> VertexSettings:
        """Parse the Vertex extras.

        :param keyfile_project: the ``project_id`` of the service-account key, used when the extra
            ``project`` is not set.
        :param environ: the process environment (for ``STORAGE_EMULATOR_HOST``).
        :raises GeminiConnectionConfigError: no project, or a project/location/storage host that
            is not of its form.
        """
        extra = extra or {}
        project = str(extra.get("project") or keyfile_project or "").strip()
        if not project:
            raise GeminiConnectionConfigError(
                f"Connection {conn_id!r} uses the Vertex backend but names no project: set the extra "
                "'project' (e.g. \"my-project\")."
            )
        if not _PROJECT.fullmatch(project):
            raise GeminiConnectionConfigError(
                f"Connection {conn_id!r}: extra 'project' {project!r} is not a Google Cloud project id "
                "(lower-case letters, digits and '-')."
            )
        location = str(extra.get("location") or DEFAULT_LOCATION).strip()
        if not _LOCATION.fullmatch(location):
            raise GeminiConnectionConfigError(
                f"Connection {conn_id!r}: extra 'location' {location!r} is not a region such as "
                f"{DEFAULT_LOCATION!r}."
            )
        env = environ or {}
        from_env = not extra.get("storage_host") and bool(env.get("STORAGE_EMULATOR_HOST"))
        storage = str(extra.get("storage_host") or env.get("STORAGE_EMULATOR_HOST") or DEFAULT_STORAGE_HOST)
        storage = storage.strip().rstrip("/")
        if "://" not in storage:
            # STORAGE_EMULATOR_HOST is often given as host:port (gcsfs and google-cloud-storage accept it).
            storage = "http://" + storage
        if not storage.startswith(("http://", "https://")):
            raise GeminiConnectionConfigError(
                f"Connection {conn_id!r}: the Cloud Storage host {storage!r} must be an http(s) URL."
            )
        return cls(project=project, location=location, storage_url=storage, storage_anonymous=from_env)


def default_host(location: str) -> str:
    """The regional Vertex AI endpoint (``global`` has no region prefix)."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


# -- names and URIs ------------------------------------------------------------------------------


def normalize_job_name(vs: VertexSettings, name: str) -> str:
    """The full job name ``projects/{p}/locations/{l}/batchPredictionJobs/{id}``.

    A bare numeric id gets the connection's project and location.

    :raises GeminiInvalidInputError: anything else (a Gemini API ``batches/...`` name included:
        it belongs to the other backend).
    """
    text = str(name or "").strip()
    if _JOB_ID.fullmatch(text):
        return f"{vs.parent}/batchPredictionJobs/{text}"
    match = _JOB_NAME.fullmatch(text)
    if match is None or not _JOB_ID.fullmatch(match.group(3)):
        hint = (
            " It is a Gemini API batch: read it with a connection whose backend is 'developer'."
            if text.startswith("batches/")
            else ""
        )
        raise GeminiInvalidInputError(
            f"Invalid Vertex batch prediction job name {name!r}: expected "
            f"'projects/<project>/locations/<location>/batchPredictionJobs/<numeric id>'.{hint}"
        )
    return text


def vertex_model(model: str) -> str:
    """``publishers/google/models/{id}`` for a bare id or ``models/{id}``; a full
    ``publishers/.../models/...`` or ``projects/.../models/...`` (tuned) name is kept.

    :raises GeminiInvalidInputError: an empty name or one with characters that could change the path.
    """
    text = str(model or "").strip()
    if text.startswith(("publishers/", "projects/")):
        if ".." in text or any(c in text for c in "?&#% "):
            raise GeminiInvalidInputError(f"Invalid model name {model!r}.")
        return text
    ident = text.removeprefix("models/")
    if not ident or ".." in ident or not _MODEL_ID.fullmatch(ident):
        raise GeminiInvalidInputError(
            f"Invalid model name {model!r}: use an id such as 'gemini-2.5-flash' or "
            "'publishers/google/models/gemini-2.5-flash'."
        )
    return f"publishers/google/models/{ident}"


def split_gs_uri(uri: str, *, what: str = "Cloud Storage URI") -> tuple[str, str]:
    """``gs://bucket/path`` -> ``("bucket", "path")`` (path may be empty).

    :raises GeminiInvalidInputError: not a ``gs://`` URI with a valid bucket name.
    """
    text = str(uri or "").strip()
    if not text.startswith("gs://"):
        raise GeminiInvalidInputError(f"The {what} {uri!r} must start with 'gs://'.")
    bucket, _, path = text[5:].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in path or any(c in path for c in "\r\n#?"):
        raise GeminiInvalidInputError(
            f"The {what} {uri!r} is not of the form 'gs://<bucket>/<path>' (bucket: lower-case letters, "
            "digits, '-', '_' and '.')."
        )
    return bucket, path


def check_input_uri(uri: str) -> str:
    """A ``gs://bucket/file.jsonl`` or ``bq://project.dataset.table`` input, checked.

    :raises GeminiInvalidInputError: neither form.
    """
    text = str(uri or "").strip()
    if text.startswith("bq://"):
        if not _BQ.fullmatch(text):
            raise GeminiInvalidInputError(f"input_uri {uri!r} is not 'bq://<project>.<dataset>.<table>'.")
        return text
    bucket, path = split_gs_uri(text, what="input_uri")
    if not path or path.endswith("/"):
        raise GeminiInvalidInputError(
            f"input_uri {uri!r} names a folder; name the JSONL file (gs://{bucket}/requests.jsonl)."
        )
    return text


def check_output_uri(uri: str) -> str:
    """A ``gs://bucket/prefix/`` or ``bq://project.dataset[.table]`` output, checked.

    :raises GeminiInvalidInputError: neither form.
    """
    text = str(uri or "").strip()
    if text.startswith("bq://"):
        if not _BQ.fullmatch(text):
            raise GeminiInvalidInputError(f"output_uri {uri!r} is not 'bq://<project>.<dataset>'.")
        return text
    split_gs_uri(text, what="output_uri")
    return text


def staged_input_uri(output_uri: str, object_name: str) -> str:
    """Where an ``input_path`` is uploaded: ``<output_uri>/inputs/<object_name>``.

    :raises GeminiInvalidInputError: ``output_uri`` is not a ``gs://`` prefix (a BigQuery output
        leaves no bucket to upload to).
    """
    if not str(output_uri).startswith("gs://"):
        raise GeminiInvalidInputError(
            f"input_path on Vertex is uploaded to Cloud Storage under output_uri, but output_uri is "
            f"{output_uri!r}; give a gs://bucket/prefix/ output_uri, or upload the file yourself and "
            "pass input_uri."
        )
    bucket, prefix = split_gs_uri(output_uri, what="output_uri")
    prefix = prefix.rstrip("/")
    return f"gs://{bucket}/{prefix + '/' if prefix else ''}inputs/{object_name}"


# -- requests ------------------------------------------------------------------------------------

_JSON = {"Content-Type": "application/json"}


def _jobs_path(vs: VertexSettings) -> str:
    return f"/{VERTEX_API_VERSION}/{vs.parent}/batchPredictionJobs"


def _job_path(name: str) -> str:
    return f"/{VERTEX_API_VERSION}/" + "/".join(quote(part, safe="-_.") for part in name.split("/"))


def create_body(
    model: str,
    *,
    input_uri: str,
    output_uri: str,
    display_name: str,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``BatchPredictionJob`` to create (see the module's sources).

    :raises GeminiInvalidInputError: a bad model, URI or display name.
    """
    source = check_input_uri(input_uri)
    dest = check_output_uri(output_uri)
    if source.startswith("bq://"):
        input_config: dict[str, Any] = {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": source}}
    else:
        input_config = {"instancesFormat": "jsonl", "gcsSource": {"uris": [source]}}
    if dest.startswith("bq://"):
        output_config: dict[str, Any] = {
            "predictionsFormat": "bigquery",
            "bigqueryDestination": {"outputUri": dest},
        }
    else:
        output_config = {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": dest}}
    body: dict[str, Any] = {
        "displayName": fit_display_name(display_name),
        "model": vertex_model(model),
        "inputConfig": input_config,
        "outputConfig": output_config,
    }
    if labels:
        body["labels"] = dict(labels)
    return body


def fit_display_name(name: str) -> str:
    """``name`` within Vertex's 128 characters, keeping a trailing ``[af:...]`` identity marker
    whole (the reattach lookup finds the job by it): the text before it is shortened instead."""
    if len(name) <= MAX_VERTEX_DISPLAY_NAME:
        return name
    base, sep, marker = name.rpartition(" [af:")
    if sep:
        tail = "[af:" + marker
        room = MAX_VERTEX_DISPLAY_NAME - len(tail) - 1
        if room >= 0:
            return f"{base[:room]} {tail}" if room else tail
    return name[:MAX_VERTEX_DISPLAY_NAME]


def create_job(vs: VertexSettings, body: Mapping[str, Any]) -> ApiRequest:
    """``POST .../batchPredictionJobs`` (not idempotent: never repeated blindly)."""
    return ApiRequest(
        "POST",
        _jobs_path(vs),
        headers=_JSON,
        json=body,
        resource=f"{vs.parent}/batchPredictionJobs",
        idempotent=False,
        what="Creating a Vertex batch prediction job",
    )


def get_job(vs: VertexSettings, name: str) -> ApiRequest:
    name = normalize_job_name(vs, name)
    return ApiRequest("GET", _job_path(name), resource=name, what=f"Getting {name}")


def list_jobs(
    vs: VertexSettings, page_token: str | None = None, page_size: int = LIST_PAGE_SIZE
) -> ApiRequest:
    params = {"pageSize": str(page_size)}
    if page_token:
        params["pageToken"] = page_token
    return ApiRequest(
        "GET",
        _jobs_path(vs),
        params=params,
        resource=f"{vs.parent}/batchPredictionJobs",
        what="Listing Vertex batch prediction jobs",
    )


def cancel_job(vs: VertexSettings, name: str) -> ApiRequest:
    name = normalize_job_name(vs, name)
    return ApiRequest(
        "POST", _job_path(name) + ":cancel", headers=_JSON, json={}, resource=name, what=f"Cancelling {name}"
    )


def delete_job(vs: VertexSettings, name: str) -> ApiRequest:
    name = normalize_job_name(vs, name)
    return ApiRequest("DELETE", _job_path(name), resource=name, what=f"Deleting {name}")


# -- the job view --------------------------------------------------------------------------------


def stats_of(job: Mapping[str, Any]) -> BatchStats:
    """``completionStats`` as :class:`BatchStats`: successful, failed, and ``incompleteCount`` as
    pending; the request count is their sum (Vertex reports no total of its own)."""
    stats = pick(job, "completionStats") or {}
    ok = to_int(pick(stats, "successfulCount"))
    failed = to_int(pick(stats, "failedCount"))
    incomplete = to_int(pick(stats, "incompleteCount"))
    return BatchStats(
        request_count=ok + failed + incomplete,
        successful_request_count=ok,
        failed_request_count=failed,
        pending_request_count=incomplete,
    )


def output_directory(job: Mapping[str, Any]) -> str | None:
    """``outputInfo.gcsOutputDirectory`` (a ``gs://`` folder), or None (BigQuery output, or not yet)."""
    info = pick(job, "outputInfo") or {}
    value = pick(info, "gcsOutputDirectory")
    return str(value) if value else None


def bigquery_output(job: Mapping[str, Any]) -> str | None:
    """The BigQuery output (``bq://project.dataset`` and table), or None."""
    info = pick(job, "outputInfo") or {}
    dataset = pick(info, "bigqueryOutputDataset")
    if not dataset:
        return None
    table = pick(info, "bigqueryOutputTable")
    return f"{dataset}.{table}" if table else str(dataset)


def batch_from_job(job: Mapping[str, Any]) -> Batch:
    """The shared :class:`Batch` view of a ``BatchPredictionJob`` (never raises for an unknown state).

    ``responses_file`` names where the job's output is: its ``gcsOutputDirectory`` (the folder
    whose ``predictions*.jsonl`` files ``hooks/vertex.py`` reads), or for a BigQuery output the
    ``bq://`` table (which the results operator explains it does not land). A wait needs it to
    tell a finished job from one whose output is not reported yet. ``model`` is the job's
    ``model``, ``publishers/google/models/<id>`` shortened to ``models/<id>``.
    """
    raw_state = job.get("state")
    state = BatchState.parse_lenient(raw_state)
    return Batch(
        name=str(job.get("name") or ""),
        state=state,
        display_name=pick(job, "displayName"),
        model=_short_model(job.get("model")),
        stats=stats_of(job),
        create_time=parse_time(pick(job, "createTime")),
        update_time=parse_time(pick(job, "updateTime")),
        end_time=parse_time(pick(job, "endTime")),
        responses_file=output_directory(job) or bigquery_output(job),
        inlined_response_count=0,
        error=ApiStatus.from_json(job.get("error")),
        raw=job,
        state_raw=str(raw_state) if raw_state else None,
        operation_done=state.terminal,
    )


def _short_model(model: Any) -> str | None:
    """``publishers/google/models/gemini-2.5-flash`` -> ``models/gemini-2.5-flash`` (the spelling the
    price tables and the Developer API use); other names unchanged."""
    if not model:
        return None
    text = str(model)
    if text.startswith("publishers/google/models/"):
        return "models/" + text.rsplit("/", 1)[1]
    return text
