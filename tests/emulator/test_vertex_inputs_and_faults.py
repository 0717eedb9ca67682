"""Vertex jobs read every object their sources name (several URIs, wildcards) and pass the
emulator's one request gate, so scripted faults hit them like the Developer API's."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.emulator.test_vertex_jobs import LINES, job_body, put_object, read_predictions, wait_for


def test_several_uris_and_a_wildcard_feed_one_job(emulator: EmulatorServer, vertex: httpx.Client) -> None:
    put_object(emulator, "multi", "in/part-1.jsonl", LINES)
    put_object(emulator, "multi", "in/part-2.jsonl", LINES.rstrip(b"\n"))  # no final newline
    put_object(emulator, "multi", "in/other.txt", b"not requests\n")
    put_object(emulator, "multi", "single.jsonl", LINES[: LINES.index(b"\n") + 1])
    uris = ["gs://multi/in/part-*.jsonl", "gs://multi/single.jsonl"]
    body = job_body(inputConfig={"instancesFormat": "jsonl", "gcsSource": {"uris": uris}})
    body["outputConfig"]["gcsDestination"]["outputUriPrefix"] = "gs://multi/out/"
    job = vertex.post("/batchPredictionJobs", json=body).json()
    done = wait_for(vertex, job["name"], {"JOB_STATE_SUCCEEDED"})
    assert done["completionStats"] == {"successfulCount": "9"}
    rows = read_predictions(emulator, done["outputInfo"]["gcsOutputDirectory"])
    assert [row["key"] for row in rows] == ["a", "b", "c", "d", "a", "b", "c", "d", "a"]


def test_a_lost_create_answer_still_created_one_job(emulator: EmulatorServer, vertex: httpx.Client) -> None:
    put_object(emulator, "bkt", "in/requests.jsonl", LINES)
    emulator.control.inject_fault(method="POST", path="batchPredictionJobs$", lose_answer=True)
    with pytest.raises(httpx.TransportError):
        vertex.post("/batchPredictionJobs", json=job_body())
    jobs = emulator.control.vertex_jobs()
    assert len(jobs) == 1
    listed = vertex.get("/batchPredictionJobs", params={"filter": 'labels.dag="d1"'}).json()
    assert [j["name"] for j in listed["batchPredictionJobs"]] == [jobs[0]["name"]]


def test_a_scripted_503_on_get_carries_retry_after(emulator: EmulatorServer, vertex: httpx.Client) -> None:
    emulator.control.inject_fault(method="GET", path="batchPredictionJobs", status=503, retry_after=2)
    answer = vertex.get("/batchPredictionJobs")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert answer.json()["error"]["status"] == "UNAVAILABLE"
    assert vertex.get("/batchPredictionJobs").status_code == 200


@pytest.mark.parametrize(
    ("outcome", "error_code"),
    [("FAILED", 13), ("EXPIRED", None)],
)
def test_failed_and_expired_jobs_write_no_predictions(
    emulator: EmulatorServer, vertex: httpx.Client, outcome: str, error_code: int | None
) -> None:
    put_object(emulator, "bkt", "in/requests.jsonl", LINES)
    emulator.control.vertex_configure(next_outcome=outcome)
    job = vertex.post("/batchPredictionJobs", json=job_body()).json()
    done = wait_for(vertex, job["name"], {f"JOB_STATE_{outcome}"})
    assert done["state"] == f"JOB_STATE_{outcome}"
    assert done["completionStats"] == {"incompleteCount": "4"}
    assert done.get("error", {}).get("code") == error_code
    listing = httpx.get(f"{emulator.base_url}/storage/v1/b/bkt/o", params={"prefix": "out/"}).json()
    assert "items" not in listing
    assert emulator.control.vertex_jobs()[0]["predictions"] is None
