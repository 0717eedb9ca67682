"""google-genai in Vertex mode against the emulator: create from a gs:// source to a gs://
destination, get, list, cancel and delete must all parse, the job must end SUCCEEDED and its
predictions must be readable with google-cloud-storage (STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from google import genai
from google.cloud import storage
from google.genai import types

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.emulator.conftest import VERTEX_LOCATION, VERTEX_PROJECT

REQUESTS = "".join(
    json.dumps(
        {"key": f"k{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"prompt {i}"}]}]}}
    )
    + "\n"
    for i in range(3)
)


@pytest.fixture
def gcs(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[storage.Client]:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.base_url)
    client = storage.Client(project=VERTEX_PROJECT)
    client.bucket("sdk").blob("in/requests.jsonl").upload_from_string(REQUESTS)
    yield client
    client.close()


@pytest.fixture
def client(emulator: EmulatorServer, sa_credentials: object) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project=VERTEX_PROJECT,
        location=VERTEX_LOCATION,
        credentials=sa_credentials,  # type: ignore[arg-type]
        http_options=types.HttpOptions(base_url=emulator.base_url),
    )


def wait_until_done(client: genai.Client, name: str) -> types.BatchJob:
    deadline = time.monotonic() + 15
    job = client.batches.get(name=name)
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.batches.get(name=name)
    return job


def test_create_get_list_delete_and_read_the_predictions(client: genai.Client, gcs: storage.Client) -> None:
    created = client.batches.create(
        model="gemini-2.5-flash",
        src="gs://sdk/in/requests.jsonl",
        config=types.CreateBatchJobConfig(dest="gs://sdk/out", display_name="sdk-run"),
    )
    assert created.name is not None
    assert created.name.startswith("projects/")
    assert created.state == types.JobState.JOB_STATE_PENDING
    assert created.model == "publishers/google/models/gemini-2.5-flash"
    assert created.src is not None
    assert created.src.gcs_uri == ["gs://sdk/in/requests.jsonl"]
    assert created.dest is not None
    assert created.dest.gcs_uri == "gs://sdk/out"
    done = wait_until_done(client, created.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.completion_stats is not None
    assert done.completion_stats.successful_count == 3
    assert done.end_time is not None
    assert done.create_time is not None
    directory = done.output_info.gcs_output_directory if done.output_info else None
    assert directory is not None
    assert directory.startswith("gs://sdk/out/prediction-model-")
    assert created.name in [job.name for job in client.batches.list()]
    prefix = directory.removeprefix("gs://sdk/") + "/"
    blobs = list(gcs.list_blobs("sdk", prefix=prefix))
    assert [b.name for b in blobs] == [prefix + "predictions.jsonl"]
    rows = [json.loads(line) for line in blobs[0].download_as_text().splitlines()]
    assert sorted(row["key"] for row in rows) == ["k0", "k1", "k2"]
    assert all(row["status"] == "" and "candidates" in row["response"] for row in rows)
    deleted = client.batches.delete(name=created.name)
    assert deleted.done is True
    assert created.name not in [job.name for job in client.batches.list()]


def test_cancel_parses_and_the_job_ends_cancelled(
    emulator: EmulatorServer, client: genai.Client, gcs: storage.Client
) -> None:
    emulator.control.configure(processing_seconds=100)
    # Without dest, google-genai derives it from the source: gs://sdk/in/requests/dest.
    created = client.batches.create(model="gemini-2.5-flash", src="gs://sdk/in/requests.jsonl")
    assert created.name is not None
    assert created.dest is not None
    assert created.dest.gcs_uri == "gs://sdk/in/requests/dest"
    client.batches.cancel(name=created.name)
    job = client.batches.get(name=created.name.rsplit("/", 1)[1])  # a bare numeric id works too
    assert job.state == types.JobState.JOB_STATE_CANCELLED
    assert job.error is not None
    assert job.error.code == 1
    client.batches.delete(name=created.name)
