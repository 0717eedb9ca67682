"""The Vertex AI backend's pure wire: connection extras, routes, create body, job view.

The job bodies below follow the REST reference of ``projects.locations.batchPredictionJobs``
(https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.batchPredictionJobs)
and the job printed in GoogleCloudPlatform/generative-ai
``gemini/batch-prediction/intro_batch_prediction.ipynb``: int64 counters as decimal strings,
``outputInfo.gcsOutputDirectory`` a ``prediction-model-<time>`` folder under the output prefix.
"""

from __future__ import annotations

import pytest

from airflow_provider_gemini_batch._core import vertex as vx
from airflow_provider_gemini_batch._core.settings import AuthMode, ConnectionSettings
from airflow_provider_gemini_batch._core.states import BatchState
from airflow_provider_gemini_batch._core.waiting import OutcomeKind, interpret
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError, GeminiInvalidInputError

KEY = {
    "type": "service_account",
    "project_id": "key-project",
    "private_key": "-----BEGIN PRIVATE KEY-----abc",
    "client_email": "sa@key-project.iam.gserviceaccount.com",
    "token_uri": "http://127.0.0.1:1/token",
}
VS = vx.VertexSettings(
    project="my-project", location="us-central1", storage_url="https://storage.googleapis.com"
)
NAME = "projects/my-project/locations/us-central1/batchPredictionJobs/1234567890123456789"


def _parse(**kw: object) -> ConnectionSettings:
    args: dict[str, object] = {
        "conn_id": "v",
        "conn_type": "gemini_batch",
        "host": None,
        "password": None,
        "extra": {"backend": "vertex", "keyfile_dict": KEY},
    }
    args.update(kw)
    return ConnectionSettings.from_connection(**args)  # type: ignore[arg-type]


# -- connection ----------------------------------------------------------------------------------


def test_a_connection_without_backend_stays_on_the_developer_api() -> None:
    s = _parse(password="k", extra={})
    assert (s.backend, s.vertex, s.is_vertex) == ("developer", None, False)
    assert s.base_url == "https://generativelanguage.googleapis.com"


def test_vertex_defaults_region_host_and_project_from_the_key() -> None:
    s = _parse()
    assert s.is_vertex
    assert s.auth_mode is AuthMode.SERVICE_ACCOUNT
    assert s.vertex == vx.VertexSettings("key-project", "us-central1", "https://storage.googleapis.com")
    assert s.base_url == "https://us-central1-aiplatform.googleapis.com"


def test_vertex_extras_and_storage_emulator_host() -> None:
    s = _parse(
        host="http://127.0.0.1:9000",
        extra={"backend": "Vertex", "keyfile_dict": KEY, "project": "p-1", "location": "europe-west4"},
        environ={"STORAGE_EMULATOR_HOST": "127.0.0.1:9100"},
    )
    # A host from STORAGE_EMULATOR_HOST gets no token (as google-cloud-storage does there).
    assert s.vertex == vx.VertexSettings(
        "p-1", "europe-west4", "http://127.0.0.1:9100", storage_anonymous=True
    )
    assert s.base_url == "http://127.0.0.1:9000"
    # The connection's own storage_host wins over the environment.
    s2 = _parse(
        extra={"backend": "vertex", "keyfile_dict": KEY, "storage_host": "http://gcs:4443/"},
        environ={"STORAGE_EMULATOR_HOST": "127.0.0.1:9100"},
    )
    assert s2.vertex is not None
    assert s2.vertex.storage_url == "http://gcs:4443"
    assert not s2.vertex.storage_anonymous
    assert s2.base_url == "https://us-central1-aiplatform.googleapis.com"


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"password": "AIza-key"}, "not an API key"),
        ({"extra": {"backend": "vertex", "use_adc": True}}, "names no project"),
        ({"extra": {"backend": "vertex", "keyfile_dict": KEY, "project": "Bad Project"}}, "project id"),
        ({"extra": {"backend": "vertex", "keyfile_dict": KEY, "location": "us/central"}}, "region"),
        ({"extra": {"backend": "bedrock", "keyfile_dict": KEY}}, "'developer'"),
    ],
)
def test_bad_vertex_connections_are_refused_with_the_fix(kw: dict[str, object], needle: str) -> None:
    with pytest.raises(GeminiConnectionConfigError, match=needle) as info:
        _parse(**kw)
    assert "BEGIN PRIVATE KEY" not in str(info.value)
    assert "AIza-key" not in str(info.value)


# -- requests ------------------------------------------------------------------------------------


def test_create_body_from_cloud_storage_to_cloud_storage() -> None:
    body = vx.create_body(
        "gemini-2.5-flash",
        input_uri="gs://bucket/in/requests.jsonl",
        output_uri="gs://bucket/out/",
        display_name="daily",
        labels={"team": "ml"},
    )
    assert body == {
        "displayName": "daily",
        "model": "publishers/google/models/gemini-2.5-flash",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://bucket/in/requests.jsonl"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://bucket/out/"},
        },
        "labels": {"team": "ml"},
    }
    req = vx.create_job(VS, body)
    assert (req.method, req.path, req.idempotent) == (
        "POST",
        "/v1/projects/my-project/locations/us-central1/batchPredictionJobs",
        False,
    )


def test_create_body_from_bigquery_to_bigquery() -> None:
    body = vx.create_body(
        "models/gemini-2.5-flash",
        input_uri="bq://proj.dataset.table",
        output_uri="bq://proj.dataset",
        display_name="x",
    )
    assert body["inputConfig"] == {
        "instancesFormat": "bigquery",
        "bigquerySource": {"inputUri": "bq://proj.dataset.table"},
    }
    assert body["outputConfig"] == {
        "predictionsFormat": "bigquery",
        "bigqueryDestination": {"outputUri": "bq://proj.dataset"},
    }
    assert body["model"] == "publishers/google/models/gemini-2.5-flash"


def test_a_long_display_name_keeps_its_identity_marker_whole() -> None:
    marker = "[af:0123456789abcdef:fedcba9876543210]"
    name = vx.fit_display_name("x" * 300 + " " + marker)
    assert len(name) == vx.MAX_VERTEX_DISPLAY_NAME
    assert name.endswith(" " + marker)


@pytest.mark.parametrize(
    "uri", ["s3://b/x.jsonl", "gs://b/", "gs://B!/x.jsonl", "gs://bucket/../x", "bq://only", "files/abc"]
)
def test_bad_input_uris_are_refused(uri: str) -> None:
    with pytest.raises(GeminiInvalidInputError):
        vx.check_input_uri(uri)


def test_job_routes_and_names() -> None:
    assert vx.get_job(VS, NAME).path == f"/v1/{NAME}"
    assert vx.get_job(VS, "1234567890123456789").path == f"/v1/{NAME}"
    assert vx.cancel_job(VS, NAME).path == f"/v1/{NAME}:cancel"
    assert vx.delete_job(VS, NAME).method == "DELETE"
    listing = vx.list_jobs(VS, "tok", 5)
    assert listing.params == {"pageSize": "5", "pageToken": "tok"}
    with pytest.raises(GeminiInvalidInputError, match="'developer'"):
        vx.get_job(VS, "batches/abc")
    with pytest.raises(GeminiInvalidInputError):
        vx.get_job(VS, "projects/p/locations/l/batchPredictionJobs/../../x")


def test_staged_input_lands_under_the_output_prefix() -> None:
    assert vx.staged_input_uri("gs://bkt/run/", "t.jsonl") == "gs://bkt/run/inputs/t.jsonl"
    assert vx.staged_input_uri("gs://bkt", "t.jsonl") == "gs://bkt/inputs/t.jsonl"
    with pytest.raises(GeminiInvalidInputError, match="gs://bucket/prefix/"):
        vx.staged_input_uri("bq://p.d", "t.jsonl")


# -- the job view --------------------------------------------------------------------------------


def _job(state: str, **more: object) -> dict[str, object]:
    job: dict[str, object] = {
        "name": NAME,
        "displayName": "daily [af:0123456789abcdef:fedcba9876543210]",
        "model": "publishers/google/models/gemini-2.5-flash",
        "state": state,
        "createTime": "2026-09-02T20:06:30.166279Z",
        "updateTime": "2026-09-02T20:16:30.166279Z",
    }
    job.update(more)
    return job


def test_a_succeeded_job_maps_to_the_shared_batch_view() -> None:
    batch = vx.batch_from_job(
        _job(
            "JOB_STATE_SUCCEEDED",
            completionStats={"successfulCount": "3", "failedCount": "1"},
            outputInfo={"gcsOutputDirectory": "gs://b/out/prediction-model-2026-09-02T20:06:30.166279Z"},
        )
    )
    assert batch.state is BatchState.SUCCEEDED
    assert batch.done
    assert batch.has_results
    assert batch.responses_file == "gs://b/out/prediction-model-2026-09-02T20:06:30.166279Z"
    assert (
        batch.stats.request_count,
        batch.stats.successful_request_count,
        batch.stats.failed_request_count,
    ) == (
        4,
        3,
        1,
    )
    assert batch.model == "models/gemini-2.5-flash"
    assert interpret(batch).kind is OutcomeKind.SUCCESS


@pytest.mark.parametrize(
    "state", ["JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED", "JOB_STATE_CANCELLED"]
)
def test_expired_and_partial_jobs_end_the_wait(state: str) -> None:
    # The Google provider's deferrable batch-prediction wait keeps polling these two (read in its
    # 22.8.0 source); here every JOB_STATE_* end is terminal.
    batch = vx.batch_from_job(_job(state))
    assert batch.done
    assert interpret(batch).kind is not OutcomeKind.WAIT


def test_running_job_reports_progress_and_an_unknown_state_never_succeeds() -> None:
    running = vx.batch_from_job(
        _job("JOB_STATE_RUNNING", completionStats={"successfulCount": "2", "incompleteCount": "5"})
    )
    assert not running.done
    assert running.stats.pending_request_count == 5
    odd = vx.batch_from_job(_job("JOB_STATE_SOMETHING_NEW"))
    assert odd.state is BatchState.UNKNOWN
    assert not odd.done


def test_failed_job_carries_its_error_and_bigquery_output_is_named() -> None:
    failed = vx.batch_from_job(
        _job("JOB_STATE_FAILED", error={"code": 3, "message": "Failed to import data."})
    )
    assert failed.error is not None
    assert failed.error.code == 3
    bq = _job(
        "JOB_STATE_SUCCEEDED",
        outputInfo={"bigqueryOutputDataset": "bq://p.d", "bigqueryOutputTable": "predictions_2026"},
    )
    assert vx.bigquery_output(bq) == "bq://p.d.predictions_2026"
    # The table names the output: a wait sees a finished job, the results task explains it.
    assert vx.batch_from_job(bq).responses_file == "bq://p.d.predictions_2026"


def test_a_vertex_row_error_is_read_from_after_its_reason_phrase() -> None:
    # A failed prediction line's status, as the Vertex Cloud Storage guide shows it.
    from airflow_provider_gemini_batch._core import rows

    status = (
        'Bad Request: {"error": {"code": 400, "message": "Please use a valid role: user, model.", '
        '"status": "INVALID_ARGUMENT"}}'
    )
    error = rows.row_error({"status": status})
    assert error is not None
    assert error.get("code") == 400
    assert error.get("status") == "INVALID_ARGUMENT"
    # Text that only looks alike is kept whole as the message.
    odd = "a very long sentence that is not a reason phrase at all, really: {not json"
    assert rows.row_error({"status": odd}) == {"message": odd}
