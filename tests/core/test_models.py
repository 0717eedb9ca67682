"""Parsing the API's JSON into the typed views (docs/real-service/wire-format.md: Conventions, The batch as
returned)."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_provider_gemini_batch._core.models import (
    Batch,
    BatchResult,
    BatchStats,
    FileInfo,
    parse_time,
)
from airflow_provider_gemini_batch._core.states import BatchState

# A completed Operation shaped like the live capture in IF-Solucoes/lupa tests/test_gemini.py.
LIVE_DONE = {
    "name": "batches/3a96ht58d9rd",
    "metadata": {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "name": "batches/3a96ht58d9rd",
        "model": "models/gemini-3.5-flash-lite",
        "displayName": "lupa-batch",
        "inputConfig": {"fileName": "files/voe5u4gdj968"},
        "output": {"responsesFile": "files/batch-3a96ht58d9rd"},
        "createTime": "2026-08-20T20:08:31.015405218Z",
        "endTime": "2026-08-20T20:10:25.852081585Z",
        "batchStats": {"requestCount": "9", "successfulRequestCount": "9"},
        "state": "BATCH_STATE_SUCCEEDED",
    },
    "done": True,
    "response": {"@type": "x.GenerateContentBatchOutput", "responsesFile": "files/batch-3a96ht58d9rd"},
}


def test_completed_operation_reads_fields_from_metadata() -> None:
    batch = Batch.from_operation(LIVE_DONE)
    assert batch.name == "batches/3a96ht58d9rd"
    assert batch.batch_id == "3a96ht58d9rd"
    assert batch.state is BatchState.SUCCEEDED
    assert batch.done
    assert batch.model == "models/gemini-3.5-flash-lite"
    assert batch.display_name == "lupa-batch"
    assert batch.responses_file == "files/batch-3a96ht58d9rd"
    assert batch.has_results
    # int64 strings, omitted zeros
    assert batch.stats == BatchStats(request_count=9, successful_request_count=9)
    assert batch.end_time == datetime(2026, 8, 20, 20, 10, 25, 852081, tzinfo=timezone.utc)


def test_output_only_in_top_level_response_is_still_found() -> None:
    op = {
        "name": "batches/b",
        "metadata": {"state": "BATCH_STATE_SUCCEEDED"},
        "response": {"inlinedResponses": {"inlinedResponses": [{"response": {}}, {"error": {"code": 3}}]}},
    }
    batch = Batch.from_operation(op)
    assert batch.inlined_response_count == 2
    assert batch.responses_file is None


def test_snake_case_fields_are_accepted() -> None:
    op = {
        "name": "batches/c",
        "metadata": {
            "state": "JOB_STATE_RUNNING",
            "display_name": "snake",
            "batch_stats": {"request_count": 3, "pending_request_count": "3"},
            "output": {"responses_file": "files/batch-c"},
        },
    }
    batch = Batch.from_operation(op)
    assert batch.display_name == "snake"
    assert batch.stats.request_count == 3
    assert batch.stats.pending_request_count == 3
    assert batch.responses_file == "files/batch-c"
    assert not batch.done


def test_summary_is_small_and_json_native() -> None:
    summary = Batch.from_operation({**LIVE_DONE, "error": {"code": 13, "message": "x"}}).summary()
    assert summary["state"] == "SUCCEEDED"
    assert summary["stats"]["request_count"] == 9
    assert summary["error"] == {"code": 13, "message": "x"}
    assert all(isinstance(v, (str, int, dict, type(None))) for v in summary.values())


def test_pending_batch_without_stats_has_zero_counts_and_no_results() -> None:
    batch = Batch.from_operation({"name": "batches/d", "metadata": {"state": "BATCH_STATE_PENDING"}})
    assert batch.stats == BatchStats()
    assert not batch.has_results
    assert batch.error is None


def test_timestamps_with_0_to_9_fraction_digits() -> None:
    assert parse_time("2026-08-20T20:08:31Z") == datetime(2026, 8, 20, 20, 8, 31, tzinfo=timezone.utc)
    assert parse_time("2026-08-20T20:08:31.5Z") == datetime(
        2026, 8, 20, 20, 8, 31, 500000, tzinfo=timezone.utc
    )
    assert parse_time("2026-08-20T20:08:31.015405218Z") == datetime(
        2026, 8, 20, 20, 8, 31, 15405, tzinfo=timezone.utc
    )
    assert parse_time(None) is None


def test_file_resource_parses_sizes_and_times() -> None:
    info = FileInfo.from_json(
        {
            "name": "files/abc",
            "displayName": "in",
            "mimeType": "application/jsonl",
            "sizeBytes": "71",
            "state": "ACTIVE",
            "expirationTime": "2026-08-22T20:00:00.000000Z",
        }
    )
    assert info.size_bytes == 71
    assert info.mime_type == "application/jsonl"
    assert info.expiration_time == datetime(2026, 8, 22, 20, 0, tzinfo=timezone.utc)


def test_result_rows_carry_status_outcome_and_one_of_response_or_error() -> None:
    ok = BatchResult(key="k1", index=0, response={"candidates": []}, error=None, outcome="succeeded")
    bad = BatchResult(
        key="k2",
        index=1,
        response=None,
        error={"code": 3, "message": "bad"},
        outcome="error",
        reason="INVALID_ARGUMENT",
    )
    stopped = BatchResult(
        key="k3", index=2, response={"c": 1}, error=None, outcome="stopped", reason="SAFETY"
    )
    empty = BatchResult(key=None, index=3, response=None, error=None, outcome="no_output")
    inferred = BatchResult(
        key="request-4", index=4, response={"c": 2}, error=None, outcome="succeeded", key_inferred=True
    )
    assert ok.to_row() == {
        "key": "k1",
        "status": "succeeded",
        "outcome": "succeeded",
        "response": {"candidates": []},
    }
    assert bad.to_row() == {
        "key": "k2",
        "status": "failed",
        "outcome": "error",
        "reason": "INVALID_ARGUMENT",
        "retryable": False,
        "error": {"code": 3, "message": "bad"},
    }
    assert stopped.to_row() == {
        "key": "k3",
        "status": "failed",
        "outcome": "stopped",
        "reason": "SAFETY",
        "retryable": False,
        "response": {"c": 1},
    }
    assert empty.to_row()["status"] == "failed"
    assert empty.to_row()["error"]["code"] == 2
    assert inferred.to_row()["key_inferred"] is True
    assert "key_inferred" not in ok.to_row()
