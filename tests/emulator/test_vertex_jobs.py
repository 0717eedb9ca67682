"""The emulator's Vertex AI ``batchPredictionJobs`` surface over raw HTTP (docs/vertex-wire.md)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.emulator.conftest import VERTEX_LOCATION, VERTEX_PROJECT

LINES = (
    b'{"key": "a", "request": {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}}\n'
    b'{"key": "b", "request": {"contents": [{"role": "user", "parts": [{"text": "two words"}]}]}}\n'
    b'{"key": "c", "request": {"contents": [{"role": "user", "parts": [{"text": "three more words"}]}]}}\n'
    b'{"key": "d", "request": {"contents": [{"role": "user", "parts": [{"text": "four"}]}]}}\n'
)


def put_object(emulator: EmulatorServer, bucket: str, name: str, data: bytes) -> None:
    response = httpx.post(
        f"{emulator.base_url}/upload/storage/v1/b/{bucket}/o",
        params={"uploadType": "media", "name": name},
        content=data,
        headers={"content-type": "application/jsonl"},
    )
    response.raise_for_status()


def job_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "displayName": "nightly",
        "model": "publishers/google/models/gemini-2.5-flash",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://bkt/in/requests.jsonl"]}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://bkt/out"}},
        "labels": {"dag": "d1"},
    }
    body.update(overrides)
    return body


def wait_for(vertex: httpx.Client, name: str, states: set[str], timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = vertex.get(f"/batchPredictionJobs/{name.rsplit('/', 1)[1]}").json()
        if job["state"] in states or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def read_predictions(emulator: EmulatorServer, directory: str) -> list[dict[str, Any]]:
    bucket, _, prefix = directory.removeprefix("gs://").partition("/")
    listing = httpx.get(
        f"{emulator.base_url}/storage/v1/b/{bucket}/o", params={"prefix": prefix + "/"}
    ).json()
    names = [item["name"] for item in listing.get("items", [])]
    assert names == [f"{prefix}/predictions.jsonl"]
    body = httpx.get(
        f"{emulator.base_url}/download/storage/v1/b/{bucket}/o/{names[0]}", params={"alt": "media"}
    )
    return [json.loads(line) for line in body.text.splitlines()]


@pytest.fixture
def requests_object(emulator: EmulatorServer) -> None:
    put_object(emulator, "bkt", "in/requests.jsonl", LINES)


@pytest.mark.usefixtures("requests_object")
def test_create_answers_a_pending_job_named_by_project_number(vertex: httpx.Client) -> None:
    created = vertex.post("/batchPredictionJobs", json=job_body())
    assert created.status_code == 200, created.text
    job = created.json()
    assert re.fullmatch(
        rf"projects/\d{{12}}/locations/{VERTEX_LOCATION}/batchPredictionJobs/\d{{19}}", job["name"]
    )
    assert job["state"] == "JOB_STATE_PENDING"
    assert job["model"] == "publishers/google/models/gemini-2.5-flash"
    assert job["inputConfig"] == job_body()["inputConfig"]
    assert job["outputConfig"] == job_body()["outputConfig"]
    assert job["labels"] == {"dag": "d1"}
    assert "completionStats" not in job
    assert "outputInfo" not in job


@pytest.mark.usefixtures("requests_object")
def test_job_succeeds_and_writes_keyed_prediction_lines_under_the_prefix(
    emulator: EmulatorServer, vertex: httpx.Client
) -> None:
    job = vertex.post("/batchPredictionJobs", json=job_body()).json()
    done = wait_for(vertex, job["name"], {"JOB_STATE_SUCCEEDED"})
    assert done["state"] == "JOB_STATE_SUCCEEDED"
    assert done["completionStats"] == {"successfulCount": "4"}
    directory = done["outputInfo"]["gcsOutputDirectory"]
    assert re.fullmatch(r"gs://bkt/out/prediction-model-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", directory)
    for stamp in ("createTime", "startTime", "endTime", "updateTime"):
        assert done[stamp].endswith("Z")
    rows = read_predictions(emulator, directory)
    assert [row["key"] for row in rows] == ["a", "b", "c", "d"]
    first = rows[0]
    assert first["status"] == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["processed_time"])
    assert first["request"] == {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    assert first["response"]["candidates"][0]["content"]["parts"][0]["text"] == "Emulated answer to: hello"


@pytest.mark.usefixtures("requests_object")
def test_v1beta1_and_the_project_number_reach_the_same_job(
    emulator: EmulatorServer, vertex: httpx.Client
) -> None:
    job = vertex.post("/batchPredictionJobs", json=job_body()).json()
    headers = {"authorization": vertex.headers["authorization"]}
    by_name = httpx.get(f"{emulator.base_url}/v1beta1/{job['name']}", headers=headers)
    by_id = httpx.get(
        f"{emulator.base_url}/v1beta1/projects/{VERTEX_PROJECT}/locations/{VERTEX_LOCATION}/"
        f"batchPredictionJobs/{job['name'].rsplit('/', 1)[1]}",
        headers=headers,
    )
    assert by_name.status_code == by_id.status_code == 200
    assert by_name.json()["name"] == by_id.json()["name"] == job["name"]
    other_location = httpx.get(
        f"{emulator.base_url}/v1/projects/{VERTEX_PROJECT}/locations/europe-west4/"
        f"batchPredictionJobs/{job['name'].rsplit('/', 1)[1]}",
        headers=headers,
    )
    assert other_location.status_code == 404


@pytest.mark.usefixtures("requests_object")
def test_cancel_reads_cancelling_then_cancelled_with_the_rows_finished_by_then(
    emulator: EmulatorServer, vertex: httpx.Client
) -> None:
    emulator.control.configure(processing_seconds=100)
    job = vertex.post("/batchPredictionJobs", json=job_body()).json()
    job_id = job["name"].rsplit("/", 1)[1]
    emulator.control.advance_clock(10 + 45)  # pending 10 s, then half of the 90 s run
    running = vertex.get(f"/batchPredictionJobs/{job_id}").json()
    assert running["state"] == "JOB_STATE_RUNNING"
    assert running["completionStats"] == {"successfulCount": "2", "incompleteCount": "2"}
    assert vertex.post(f"/batchPredictionJobs/{job_id}:cancel").json() == {}
    assert vertex.get(f"/batchPredictionJobs/{job_id}").json()["state"] == "JOB_STATE_CANCELLING"
    emulator.control.advance_clock(1)
    cancelled = vertex.get(f"/batchPredictionJobs/{job_id}").json()
    assert cancelled["state"] == "JOB_STATE_CANCELLED"
    assert cancelled["error"] == {"code": 1, "message": "CANCELED"}
    assert cancelled["completionStats"] == {"successfulCount": "2", "incompleteCount": "2"}
    rows = read_predictions(emulator, cancelled["outputInfo"]["gcsOutputDirectory"])
    assert [row["key"] for row in rows] == ["a", "b"]


@pytest.mark.usefixtures("requests_object")
def test_a_pending_job_cancels_at_once_without_stats(emulator: EmulatorServer, vertex: httpx.Client) -> None:
    emulator.control.configure(processing_seconds=100)
    job_id = vertex.post("/batchPredictionJobs", json=job_body()).json()["name"].rsplit("/", 1)[1]
    vertex.post(f"/batchPredictionJobs/{job_id}:cancel").raise_for_status()
    job = vertex.get(f"/batchPredictionJobs/{job_id}").json()
    assert job["state"] == "JOB_STATE_CANCELLED"
    assert "completionStats" not in job
    assert "outputInfo" not in job


@pytest.mark.usefixtures("requests_object")
def test_cancel_of_an_ended_job_and_delete_of_a_running_one_are_failed_precondition(
    emulator: EmulatorServer, vertex: httpx.Client
) -> None:
    emulator.control.configure(processing_seconds=100)
    job_id = vertex.post("/batchPredictionJobs", json=job_body()).json()["name"].rsplit("/", 1)[1]
    refused = vertex.delete(f"/batchPredictionJobs/{job_id}")
    assert refused.status_code == 400
    assert refused.json()["error"]["status"] == "FAILED_PRECONDITION"
    emulator.control.advance_clock(101)
    assert vertex.get(f"/batchPredictionJobs/{job_id}").json()["state"] == "JOB_STATE_SUCCEEDED"
    late_cancel = vertex.post(f"/batchPredictionJobs/{job_id}:cancel")
    assert late_cancel.status_code == 400
    assert late_cancel.json()["error"]["status"] == "FAILED_PRECONDITION"
    deleted = vertex.delete(f"/batchPredictionJobs/{job_id}")
    assert deleted.status_code == 200
    assert deleted.json()["done"] is True
    assert vertex.get(f"/batchPredictionJobs/{job_id}").status_code == 404


@pytest.mark.usefixtures("requests_object")
def test_list_pages_newest_first_and_filters_by_label_and_state(vertex: httpx.Client) -> None:
    names = [
        vertex.post("/batchPredictionJobs", json=job_body(labels={"dag": f"d{i % 2}"})).json()["name"]
        for i in range(3)
    ]
    first = vertex.get("/batchPredictionJobs", params={"pageSize": 2}).json()
    second = vertex.get(
        "/batchPredictionJobs", params={"pageSize": 2, "pageToken": first["nextPageToken"]}
    ).json()
    listed = [j["name"] for j in first["batchPredictionJobs"] + second["batchPredictionJobs"]]
    assert listed == names[::-1]
    assert "nextPageToken" not in second
    filtered = vertex.get(
        "/batchPredictionJobs", params={"filter": 'labels.dag="d0" AND display_name="nightly"'}
    )
    assert [j["name"] for j in filtered.json()["batchPredictionJobs"]] == [names[2], names[0]]
    bad = vertex.get("/batchPredictionJobs", params={"filter": "create_time>0"})
    assert bad.status_code == 400


def test_a_missing_input_object_fails_the_job_not_the_create(vertex: httpx.Client) -> None:
    created = vertex.post("/batchPredictionJobs", json=job_body())
    assert created.status_code == 200
    failed = wait_for(vertex, created.json()["name"], {"JOB_STATE_FAILED"})
    assert failed["state"] == "JOB_STATE_FAILED"
    assert failed["error"]["code"] == 3
    assert failed["error"]["message"].startswith("Failed to import data.")
    assert "gs://bkt/in/requests.jsonl" in failed["error"]["message"]


@pytest.mark.usefixtures("requests_object")
def test_partially_succeeded_outcome_writes_failed_rows_with_a_status_string(
    emulator: EmulatorServer, vertex: httpx.Client
) -> None:
    emulator.control.vertex_configure(next_outcome="PARTIALLY_SUCCEEDED")
    job = vertex.post("/batchPredictionJobs", json=job_body()).json()
    done = wait_for(vertex, job["name"], {"JOB_STATE_PARTIALLY_SUCCEEDED"})
    assert done["state"] == "JOB_STATE_PARTIALLY_SUCCEEDED"
    assert done["completionStats"] == {"successfulCount": "2", "failedCount": "2"}
    rows = read_predictions(emulator, done["outputInfo"]["gcsOutputDirectory"])
    failed = [row for row in rows if row["status"]]
    assert len(failed) == 2
    assert all("response" not in row and row["status"].startswith("Bad Request: {") for row in failed)
    assert json.loads(failed[0]["status"].split(": ", 1)[1])["error"]["status"] == "INVALID_ARGUMENT"
    assert {row["key"] for row in rows} == {"a", "b", "c", "d"}


def test_create_refuses_a_body_without_a_source_naming_the_field(vertex: httpx.Client) -> None:
    body = job_body(inputConfig={"instancesFormat": "jsonl"})
    refused = vertex.post("/batchPredictionJobs", json=body)
    assert refused.status_code == 400
    assert "gcsSource.uris" in refused.json()["error"]["message"]


def test_vertex_routes_need_a_token_the_emulator_issued(emulator: EmulatorServer) -> None:
    url = f"{emulator.base_url}/v1/projects/p/locations/us-central1/batchPredictionJobs"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": "Bearer made-up"}).status_code == 401
    assert httpx.get(url, headers={"x-goog-api-key": "test-key"}).status_code == 401
    issued = emulator.control.vertex_token()
    assert httpx.get(url, headers={"authorization": f"Bearer {issued}"}).status_code == 200


@pytest.mark.usefixtures("requests_object")
def test_journal_marks_the_token_and_control_lists_every_job_deleted_ones_too(
    emulator: EmulatorServer, vertex: httpx.Client
) -> None:
    token = vertex.headers["authorization"].split(" ", 1)[1]
    job = vertex.post("/batchPredictionJobs", json=job_body()).json()
    wait_for(vertex, job["name"], {"JOB_STATE_SUCCEEDED"})
    vertex.delete(f"/batchPredictionJobs/{job['name'].rsplit('/', 1)[1]}").raise_for_status()
    journal = json.dumps(emulator.control.journal())
    assert token not in journal
    creates = [e for e in emulator.control.journal() if e["method"] == "POST" and e["path"].endswith("Jobs")]
    assert creates[0]["json"]["displayName"] == "nightly"
    jobs = emulator.control.vertex_jobs()
    assert [(j["name"], j["deleted"], j["labels"]) for j in jobs] == [(job["name"], True, {"dag": "d1"})]
    assert jobs[0]["predictions"].endswith("/predictions.jsonl")


def test_bigquery_table_in_and_predictions_table_out(emulator: EmulatorServer, vertex: httpx.Client) -> None:
    emulator.control.load_bigquery_table("proj.ds.requests", LINES)
    body = job_body(
        inputConfig={"instancesFormat": "bigquery", "bigquerySource": {"inputUri": "bq://proj.ds.requests"}},
        outputConfig={"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": "bq://proj.out"}},
    )
    job = vertex.post("/batchPredictionJobs", json=body).json()
    done = wait_for(vertex, job["name"], {"JOB_STATE_SUCCEEDED"})
    info = done["outputInfo"]
    assert info["bigqueryOutputDataset"] == "bq://proj.out"
    assert re.fullmatch(r"predictions_\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d_\d{6}Z", info["bigqueryOutputTable"])
    rows = emulator.control.read_bigquery_table(f"proj.out.{info['bigqueryOutputTable']}").splitlines()
    assert [json.loads(r)["key"] for r in rows] == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    "output",
    ["bq://proj.ds/../../escape.t", "bq://proj", "gs:/missing-slash", "bq://proj.ds.t.extra"],
)
def test_create_refuses_a_malformed_destination(vertex: httpx.Client, output: str) -> None:
    key = "bigqueryDestination" if output.startswith("bq") else "gcsDestination"
    field = "outputUri" if key == "bigqueryDestination" else "outputUriPrefix"
    refused = vertex.post("/batchPredictionJobs", json=job_body(outputConfig={key: {field: output}}))
    assert refused.status_code == 400
    assert "output_config" in refused.json()["error"]["message"]
