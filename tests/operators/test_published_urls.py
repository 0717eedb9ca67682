"""Userinfo in a URL (``https://user:pass@gateway``, ``s3://KEY:SECRET@bucket``) is never published.

A connection host may carry basic-auth userinfo for a gateway, an object-store URI may carry keys.
The client uses them; what the provider publishes for others to read must not contain them: the
batch's API-URL XCom and page link (``dag.test()`` against the emulator reached through a host with
userinfo), the OpenLineage datasets of the operators, the results' outlet asset, and the batch page.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from airflow.sdk import DAG

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
    GeminiUploadFileOperator,
)
from airflow_provider_gemini_batch.plugins.page import render_batch
from airflow_provider_gemini_batch.plugins.records import BatchRecord, TaskRef
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.operators._support import MODEL, write_jsonl

USER = "gateway-user"
SECRET = "gateway-pass-0123456789"
S3_SECRET = "AKIAEXAMPLE:wJalrXUtnFEMIbPxRfiCYEXAMPLEKEY"


@pytest.fixture
def userinfo_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """``gemini_batch_default`` pointing at the emulator through a host that carries userinfo."""
    host = emulator.base_url.replace("http://", f"http://{USER}:{SECRET}@")
    conn = {"conn_type": "gemini_batch", "host": host, "password": emulator.api_key}
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_BATCH_DEFAULT", json.dumps(conn))
    return emulator


def test_api_url_xcom_and_link_of_a_run_carry_no_userinfo(
    airflow_db: str, userinfo_conn: EmulatorServer, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", 2)
    with DAG(unique_dag_id("published_urls"), start_date=datetime(2026, 1, 1), schedule=None) as dag:
        GeminiCreateBatchOperator(
            task_id="create_batch", model=MODEL, input_path=source, wait_for_completion=False
        )
    result = run_dag(dag)
    assert result.state == "success", result.task_states
    api_url = result.xcom("create_batch", "gemini_batch_api_url")
    assert isinstance(api_url, str)
    assert "/v1beta/batches/" in api_url
    assert api_url.startswith(f"http://127.0.0.1:{userinfo_conn.base_url.rsplit(':', 1)[1]}/")
    everything = json.dumps(result.xcoms)
    assert SECRET not in everything
    assert USER not in everything


def test_lineage_datasets_carry_no_userinfo(userinfo_conn: EmulatorServer, tmp_path: Path) -> None:
    netloc = userinfo_conn.base_url.split("://", 1)[1]
    results = GeminiBatchResultsOperator(
        task_id="fetch_results",
        batch_name="batches/b1",
        destination=f"s3://{S3_SECRET}@bucket/out/results.jsonl",
    )
    upload = GeminiUploadFileOperator(task_id="upload", path=f"gs://{S3_SECRET}@bucket/in.jsonl")
    lineage = [results.get_openlineage_facets_on_start(), upload.get_openlineage_facets_on_start()]
    datasets = [(d.namespace, d.name) for ol in lineage for d in [*ol.inputs, *ol.outputs]]
    assert datasets == [
        (f"gemini://{netloc}", "batches/b1"),
        ("s3://bucket", "out/results.jsonl"),
        ("gs://bucket", "in.jsonl"),
    ]


def test_results_outlet_asset_carries_no_userinfo() -> None:
    results = GeminiBatchResultsOperator(
        task_id="fetch_results",
        batch_name="batches/b1",
        destination=f"s3://{S3_SECRET}@bucket/out/results.jsonl",
    )
    uris = [getattr(asset, "uri", "") for asset in results.outlets]
    assert uris == ["s3://bucket/out/results.jsonl"]


def test_page_shows_recorded_urls_without_userinfo() -> None:
    record = BatchRecord(
        batch_name="batches/b1",
        api_url=f"https://{USER}:{SECRET}@gateway.example/v1beta/batches/b1",
        manifest={
            "batch_name": "batches/b1",
            "state": "SUCCEEDED",
            "destination": f"s3://{S3_SECRET}@bucket/out/results.jsonl",
            "counts": {"total": 1},
        },
    )
    html = render_batch(TaskRef("d", "r", "create_batch"), record, None, nonce="n")
    assert "https://gateway.example/v1beta/batches/b1" in html
    assert "s3://bucket/out/results.jsonl" in html
    for secret in (SECRET, USER, S3_SECRET.split(":")[0], S3_SECRET.split(":")[1]):
        assert secret not in html
