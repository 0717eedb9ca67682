"""A status is not a meaning, through the operators in real DAG runs against the emulator.

The emulator answers what the service answers (docs/emulator.md): the Files API's 403
PERMISSION_DENIED "… or it may not exist" for an expired or deleted file (python-genai #1218,
deprecated-generative-ai-python #692, deprecated-generative-ai-js #236), 404 "… is not
supported for batchGenerateContent" for a model without batch support (cookbook #1077), 400 for a
batch output file deleted by name (python-genai #1613), and a deleted batch keeps running
(the operations.delete reference; python-genai #2495).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiClientError, GeminiNotFoundError
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
    GeminiDeleteBatchOperator,
    GeminiDeleteFileOperator,
)
from tests.operators._failures import last_failure as _failure
from tests.operators._failures import plain_dag as _dag
from tests.operators._failures import run_recording as _run
from tests.operators._support import MODEL, inline_requests, sync_hook, uploads_started, write_jsonl

pytestmark = pytest.mark.usefixtures("airflow_db")

#: Past the Files API's 48-hour lifetime.
PAST_EXPIRY = 49 * 3600
AUTH_HINT = "The request of Airflow connection"
NO_BATCH_MODEL = "gemini-2.0-flash-live-001"


def _calls(emulator: EmulatorServer) -> list[tuple[str, str]]:
    return [(e["method"], e["path"]) for e in emulator.control.journal()]


# -- the Files API's 403 for a gone file -------------------------------------------------------------


def test_cleanup_of_an_expired_file_with_ignore_missing_succeeds(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    name = sync_hook().upload_file(write_jsonl(tmp_path / "in.jsonl", 2)).name
    gemini_conn.control.advance_clock(PAST_EXPIRY)
    with _dag("gone_file_cleanup") as dag:
        GeminiDeleteFileOperator(task_id="tolerant", file_name=name, ignore_missing=True)
        GeminiDeleteFileOperator(task_id="strict", file_name=name, ignore_missing=False)

    result, failures = _run(dag)

    assert result.task_states["tolerant"] == "success"
    assert result.task_states["strict"] == "failed"
    kind, message = _failure(failures, "strict")
    assert kind == "GeminiNotFoundError"
    assert "is gone" in message
    assert AUTH_HINT not in message


def test_results_of_an_expired_output_file_say_the_file_is_gone(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 3)
    with _dag("gone_output") as dag:
        GeminiCreateBatchOperator(task_id="create", model=MODEL, input_path=path, poll_interval=0.05)
    first, _ = _run(dag)
    assert first.task_states["create"] == "success"
    batch_name = first.xcom("create", "batch_name")
    gemini_conn.control.advance_clock(PAST_EXPIRY)
    with _dag("gone_output_results") as dag2:
        GeminiBatchResultsOperator(
            task_id="results", batch_name=str(batch_name), destination=str(tmp_path / "out.jsonl")
        )

    result, failures = _run(dag2)

    assert result.task_states["results"] == "failed"
    kind, message = _failure(failures, "results")
    assert kind == "GeminiNotFoundError"
    assert "is gone" in message
    assert AUTH_HINT not in message


def test_create_on_an_expired_input_file_says_upload_again(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    hook = sync_hook()
    name = hook.upload_file(write_jsonl(tmp_path / "in.jsonl", 2)).name
    gemini_conn.control.advance_clock(PAST_EXPIRY)

    with pytest.raises(GeminiNotFoundError) as info:
        hook.create_batch(MODEL, input_file=name)

    assert info.value.http_status == 403
    assert "Upload the input file again" in str(info.value)
    assert AUTH_HINT not in str(info.value)


# -- a model without batch support -------------------------------------------------------------------


def test_model_without_batch_support_fails_before_the_upload(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 3)
    with _dag("no_batch_model") as dag:
        GeminiCreateBatchOperator(task_id="create", model=NO_BATCH_MODEL, input_path=path)

    result, failures = _run(dag)

    assert result.task_states["create"] == "failed"
    kind, message = _failure(failures, "create")
    assert kind == "GeminiInvalidInputError"
    assert "does not support batchGenerateContent" in message
    assert "models/gemini-2.5-flash" in message  # a batch-capable model is named
    assert uploads_started(gemini_conn) == 0


def test_emulator_refuses_a_create_with_a_model_without_batch_support(gemini_conn: EmulatorServer) -> None:
    with pytest.raises(GeminiNotFoundError) as info:
        sync_hook().create_batch(NO_BATCH_MODEL, requests=inline_requests(1))
    assert "is not supported for batchGenerateContent" in info.value.api_message


# -- batch output files cannot be deleted by name -------------------------------------------------------


def test_cleanup_skips_a_batch_output_file_with_a_log_line(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 2)
    with _dag("output_cleanup") as dag:
        GeminiCreateBatchOperator(
            task_id="create", model=MODEL, input_path=path, poll_interval=0.05, wait_for_completion=True
        )
    first, _ = _run(dag)
    batch = sync_hook().get_batch(str(first.xcom("create", "batch_name")))
    output = batch.responses_file
    assert output
    assert output.startswith("files/batch-")
    with pytest.raises(GeminiClientError) as refused:
        sync_hook().delete_file(output)  # the emulator refuses it like the service
    assert "cannot be deleted by name" in str(refused.value)
    gemini_conn.control.clear_journal()
    with _dag("output_cleanup_2") as dag2:
        GeminiDeleteFileOperator(task_id="delete_output", file_name=output, ignore_missing=False)

    result, _ = _run(dag2)

    assert result.task_states["delete_output"] == "success"
    assert [c for c in _calls(gemini_conn) if c[0] == "DELETE"] == []


# -- deleting a batch does not cancel it --------------------------------------------------------------


def test_delete_batch_operator_cancels_a_running_batch_before_deleting_it(
    gemini_conn: EmulatorServer,
) -> None:
    gemini_conn.control.configure(processing_seconds=600)
    batch = sync_hook().create_batch(MODEL, requests=inline_requests(2))
    gemini_conn.control.clear_journal()
    with _dag("delete_running") as dag:
        GeminiDeleteBatchOperator(task_id="delete", batch_name=batch.name, settle_timeout=5)

    result, _ = _run(dag)

    assert result.task_states["delete"] == "success"
    calls = [c for c in _calls(gemini_conn) if c[0] in ("POST", "DELETE")]
    assert calls == [("POST", f"/v1beta/{batch.name}:cancel"), ("DELETE", f"/v1beta/{batch.name}")]
