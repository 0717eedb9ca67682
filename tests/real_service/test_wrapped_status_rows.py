"""Result rows whose ``status`` string wraps an API error, and a key-less row among keyed ones.

Vertex-style result lines carry a row's error in a top-level ``status`` string (google/langextract
PR #537, "Vertex's top-level status error messages"); when the row failed with an API error that
string is the error's JSON envelope, ``"{\\"error\\": {\\"code\\": 5, \\"message\\": ...,
\\"status\\": \\"NOT_FOUND\\"}}"``, so its code and reason are in the text. A key-less row in a file
whose other rows carry keys must not get a positional key: the keyed rows prove nothing about the
order of the key-less one. The results operator runs in ``dag.test()`` against a stand-in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.real_service import captures_rows as cr
from tests.real_service.standin import Reply, ScriptedServer
from tests.real_service.test_result_rows import CONN_ID, connection, rows_of

BATCH_ID = "wrappedstatus000000000000000000000000"
RESULTS_FILE = f"files/batch-{BATCH_ID}"
WRAPPED = json.dumps(
    {"error": {"code": 5, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
)
LINES = (
    cr.line({"key": "ok-1", "response": cr.COOKBOOK_TEXT_RESPONSE_1})
    + cr.line({"key": "gone-2", "status": WRAPPED})
    + cr.line({"response": cr.COOKBOOK_TEXT_RESPONSE_1})  # no key, among keyed rows
)
OPERATION = cr.finished_operation(BATCH_ID, request_count=3, responses_file=RESULTS_FILE)


@pytest.fixture(scope="module")
def landed(airflow_db: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Any]:
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiBatchResultsOperator

    out: Path = tmp_path_factory.mktemp("wrapped") / "rows.jsonl"
    script = [
        Reply("GET", rf"/{cr.API}/batches/{BATCH_ID}", body=OPERATION),
        Reply(
            "GET",
            rf"/{cr.API}/{RESULTS_FILE}:download",
            body=LINES,
            headers={"Content-Type": "application/octet-stream"},
        ),
    ]
    with ScriptedServer(script) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection(server))
        with DAG(unique_dag_id("wrapped_status"), schedule=None) as dag:
            GeminiBatchResultsOperator(
                task_id="results",
                batch_name=f"batches/{BATCH_ID}",
                destination=str(out),
                max_failed_ratio=1.0,
                gemini_conn_id=CONN_ID,
            )
        result = run_dag(dag)
    assert result.task_states["results"] == "success"
    return rows_of(out), result.xcom("results")


def test_wrapped_status_string_gives_the_embedded_code_and_reason(
    landed: tuple[list[dict[str, Any]], Any],
) -> None:
    rows, _ = landed
    row = next(r for r in rows if r["key"] == "gone-2")
    assert row["outcome"] == "error"
    assert row["error"]["code"] == 5
    assert row["error"]["status"] == "NOT_FOUND"
    assert row["reason"] == "NOT_FOUND"


def test_keyless_row_among_keyed_rows_gets_no_positional_key(
    landed: tuple[list[dict[str, Any]], Any],
) -> None:
    rows, manifest = landed
    keys = [r["key"] for r in rows]
    assert keys == ["ok-1", "gone-2", None]
    assert not any(r.get("key_inferred") for r in rows)
    assert any("other rows carry theirs" in w for w in manifest["warnings"])
