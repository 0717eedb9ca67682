"""Result rows as the real service writes them, landed by the real results operator.

Four kinds of fault users met: a response is not proof of success; per-row errors under ``error``
or ``status``, retryable codes; keys (duplicates, count cross-check, key-less rows); usage of
every request type. Every payload lives in ``captures_rows.py`` with its public source; a
scripted stand-in answers the batch GET with a finished Operation and the download with the
captured JSONL bytes, and ``GeminiBatchResultsOperator`` runs in real Airflow via ``dag.test()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.manifest import ResultsTally
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.fixtures.airflow_env import DagRunResult, run_dag, unique_dag_id
from tests.real_service import captures_rows as cr
from tests.real_service.standin import Reply, ScriptedServer

CONN_ID = "gemini_rows_real"

#: batch id -> (Operation, result-file bytes or None for inline output)
BATCHES: dict[str, tuple[dict[str, Any], bytes | None]] = {
    cr.COOKBOOK_TEXT_BATCH_ID: (cr.COOKBOOK_TEXT_BATCH_DONE, cr.COOKBOOK_TEXT_RESULT_LINES),
    cr.COOKBOOK_EMBED_BATCH_ID: (cr.COOKBOOK_EMBED_BATCH_DONE, cr.COOKBOOK_EMBED_RESULT_LINES),
    cr.REPORTED_BATCH_ID: (cr.REPORTED_BATCH_DONE, cr.REPORTED_RESULT_LINES),
    cr.KEYLESS_BATCH_ID: (cr.KEYLESS_BATCH_DONE, None),
    cr.KEYLESS_SHORT_BATCH_ID: (cr.KEYLESS_SHORT_BATCH_DONE, None),
    cr.DUPLICATE_BATCH_ID: (cr.DUPLICATE_BATCH_DONE, cr.DUPLICATE_RESULT_LINES),
}


def script() -> list[Reply]:
    replies: list[Reply] = []
    for batch_id, (operation, lines) in BATCHES.items():
        replies.append(Reply("GET", rf"/{cr.API}/batches/{batch_id}", body=operation))
        if lines is not None:
            file_id = operation["metadata"]["output"]["responsesFile"].removeprefix("files/")
            replies.append(
                Reply(
                    "GET",
                    rf"/{cr.API}/files/{file_id}:download",
                    body=lines,
                    headers={"Content-Type": "application/octet-stream"},
                )
            )
    return replies


def connection(server: ScriptedServer) -> str:
    return json.dumps(
        {
            "conn_type": "gemini_batch",
            "host": server.base_url,
            "password": "rows-real-key",
            "extra": json.dumps({"max_retries": 0, "api_version": cr.API}),
        }
    )


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------------------ the hook + tally


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[GeminiBatchHook]:
    with ScriptedServer(script()) as server:
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection(server))
        yield GeminiBatchHook(gemini_conn_id=CONN_ID)
        assert server.unmatched == []


@pytest.mark.parametrize("key", sorted(cr.REPORTED_EXPECTED))
def test_each_reported_row_is_classified_with_its_reason(hook: GeminiBatchHook, key: str) -> None:
    """Sources per row in ``captures_rows``: cookbook cell 25 (success), USER_REPORT (SAFETY, ``status``),
    google/generative-ai-docs #235 (MAX_TOKENS, OTHER without content), experientiallabs PR #783 /
    simonw/llm-gemini PR #144 (blockReason), hermes-agent PR #87209 (thoughts only),
    google/langextract PR #537 (Vertex ``status`` string). Before: every ``response`` row counted
    ``succeeded`` and ``status`` rows lost their code and message."""
    results = {r.key: r for r in hook.iter_results(f"batches/{cr.REPORTED_BATCH_ID}")}
    status, outcome, reason, retryable = cr.REPORTED_EXPECTED[key]
    row = results[key].to_row()

    assert (row["status"], row["outcome"], row.get("reason"), row.get("retryable")) == (
        status,
        outcome,
        reason,
        retryable,
    )


def test_status_rows_keep_code_and_message(hook: GeminiBatchHook) -> None:
    """Per-row errors under ``status``: ``{"status":{"code":3,"message":...},"key":"k6"}`` (and the Vertex
    string
    form, google/langextract PR #537) keep what the service said."""
    rows = {r.key: r.to_row() for r in hook.iter_results(f"batches/{cr.REPORTED_BATCH_ID}")}

    assert rows["k6"]["error"] == {"code": 3, "message": "Request contains an invalid argument."}
    assert rows["k7"]["error"]["code"] == 8
    assert rows["k10"]["error"] == {"message": "Bad Request: the request is invalid."}


def test_embedding_token_count_is_summed(hook: GeminiBatchHook) -> None:
    """Cookbook cell 48: each embedding row carries ``"tokenCount": "1"`` (int64 string); it was dropped."""
    tally = ResultsTally()
    for result in hook.iter_results(f"batches/{cr.COOKBOOK_EMBED_BATCH_ID}"):
        tally.add(result)

    assert tally.usage == {"tokenCount": 2}
    assert (tally.total, tally.succeeded) == (2, 2)


# ------------------------------------------------------------------------ the operator, in a DAG

#: task id -> (batch id, max_failed_ratio)
TASKS: dict[str, tuple[str, float]] = {
    "cookbook_text": (cr.COOKBOOK_TEXT_BATCH_ID, 0.0),
    "cookbook_embed": (cr.COOKBOOK_EMBED_BATCH_ID, 0.0),
    "reported_tolerated": (cr.REPORTED_BATCH_ID, 1.0),
    "reported_strict": (cr.REPORTED_BATCH_ID, 0.5),
    "keyless": (cr.KEYLESS_BATCH_ID, 0.0),
    "keyless_short": (cr.KEYLESS_SHORT_BATCH_ID, 0.0),
    "duplicates": (cr.DUPLICATE_BATCH_ID, 0.0),
}


class Landed:
    def __init__(self, result: DagRunResult, out: Path) -> None:
        self.result = result
        self.out = out

    def state(self, task_id: str) -> str | None:
        return self.result.task_states.get(task_id)

    def manifest(self, task_id: str) -> dict[str, Any]:
        value = self.result.xcom(task_id) or self.result.xcom(task_id, "manifest")
        assert value is not None, f"{task_id} pushed no manifest"
        return dict(value)

    def rows(self, task_id: str) -> list[dict[str, Any]]:
        return rows_of(self.out / f"{task_id}.jsonl")


@pytest.fixture(scope="module")
def landed(airflow_db: str, tmp_path_factory: pytest.TempPathFactory) -> Landed:
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiBatchResultsOperator

    out = tmp_path_factory.mktemp("rows")
    with ScriptedServer(script()) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection(server))
        with DAG(unique_dag_id("result_rows"), schedule=None) as dag:
            for task_id, (batch_id, ratio) in TASKS.items():
                GeminiBatchResultsOperator(
                    task_id=task_id,
                    batch_name=f"batches/{batch_id}",
                    destination=str(out / f"{task_id}.jsonl"),
                    max_failed_ratio=ratio,
                    gemini_conn_id=CONN_ID,
                )
        result = run_dag(dag)
        assert server.unmatched == []
    return Landed(result, out)


def test_cookbook_text_batch_lands_two_usable_answers_with_thought_tokens(landed: Landed) -> None:
    """Cookbook cell 25: two STOP answers with ``thoughtsTokenCount``; the manifest has the new counts."""
    assert landed.state("cookbook_text") == "success"
    manifest = landed.manifest("cookbook_text")

    assert manifest["expected_requests"] == 2
    assert manifest["counts"] == {
        "total": 2,
        "landed": 2,
        "missing": 0,
        "succeeded": 2,
        "failed": 0,
        "by_outcome": {
            "succeeded": 2,
            "error": 0,
            "blocked": 0,
            "stopped": 0,
            "max_tokens": 0,
            "no_output": 0,
            "missing": 0,
        },
        "retryable": 0,
        "duplicate_keys": 0,
        "keyless": 0,
    }
    assert manifest["usage"] == {
        "candidatesTokenCount": 74,
        "promptTokenCount": 17,
        "thoughtsTokenCount": 2009,
        "totalTokenCount": 2100,
    }
    assert "warnings" not in manifest
    assert [(r["key"], r["status"], r["outcome"]) for r in landed.rows("cookbook_text")] == [
        ("request_1", "succeeded", "succeeded"),
        ("request_2", "succeeded", "succeeded"),
    ]


def test_cookbook_embeddings_usage_counts_token_count(landed: Landed) -> None:
    """Cookbook cell 48: embedding rows succeed and their ``tokenCount`` strings are summed."""
    manifest = landed.manifest("cookbook_embed")

    assert landed.state("cookbook_embed") == "success"
    assert manifest["usage"] == {"tokenCount": 2}
    assert manifest["counts"]["succeeded"] == 2


def test_reported_rows_counted_per_outcome_and_all_failed_rows_count_for_the_ratio(landed: Landed) -> None:
    """The user-reported shapes (see ``captures_rows.REPORTED_EXPECTED``): 9 of 10 rows have no usable
    answer; before, 7 of them counted as succeeded."""
    manifest = landed.manifest("reported_tolerated")

    assert landed.state("reported_tolerated") == "success"
    assert manifest["counts"]["by_outcome"] == {
        "succeeded": 1,
        "error": 3,
        "blocked": 1,
        "stopped": 2,
        "max_tokens": 2,
        "no_output": 1,
        "missing": 0,
    }
    assert (manifest["counts"]["failed"], manifest["counts"]["retryable"]) == (9, 1)
    assert manifest["usage"]["promptTokenCount"] == 8 + 171 + 8
    rows = {r["key"]: r for r in landed.rows("reported_tolerated")}
    assert rows["k2"]["response"] == {"candidates": [{"finishReason": "SAFETY", "index": 0}]}


def test_ratio_above_threshold_fails_after_landing(landed: Landed) -> None:
    """max_failed_ratio=0.5 with 9 of 10 rows unusable fails the task, rows written, manifest pushed."""
    assert landed.state("reported_strict") == "failed"
    assert len(landed.rows("reported_strict")) == 10
    assert landed.manifest("reported_strict")["counts"]["failed"] == 9


def test_keyless_rows_get_their_request_position_when_counts_match(landed: Landed) -> None:
    """Cookbook cell 28 (inline requests without keys), python-genai #2008 / js-genai #1191 (no
    metadata back): with 2 results for 2 requests the rows are keyed ``request-0``/``request-1``
    and marked."""
    rows = landed.rows("keyless")
    manifest = landed.manifest("keyless")

    assert [(r["key"], r.get("key_inferred")) for r in rows] == [("request-0", True), ("request-1", True)]
    assert manifest["counts"]["keyless"] == 2
    assert any("request-<n>" in w for w in manifest["warnings"])


def test_keyless_rows_stay_null_and_the_mismatch_is_reported(landed: Landed) -> None:
    """Two results for a batch reporting three requests: no key is guessed, the manifest says why,
    and the missing row is a failure (the task fails at max_failed_ratio 0.0)."""
    rows = landed.rows("keyless_short")
    manifest = landed.manifest("keyless_short")

    assert [(r["key"], "key_inferred" in r) for r in rows] == [(None, False), (None, False)]
    assert manifest["expected_requests"] == 3
    assert (manifest["counts"]["landed"], manifest["counts"]["missing"]) == (2, 1)
    assert any("owes 1 more result rows than were landed" in w for w in manifest["warnings"])
    assert landed.state("keyless_short") == "failed"


def test_duplicate_keys_are_counted_and_warned(landed: Landed) -> None:
    """Duplicate keys: ``request_1`` twice; every row is written, the duplicate counted. Three
    requests answered by two distinct keys: the third request's row is missing, a failure."""
    manifest = landed.manifest("duplicates")

    assert landed.state("duplicates") == "failed"
    assert [r["key"] for r in landed.rows("duplicates")] == ["request_1", "request_2", "request_1"]
    assert manifest["counts"]["duplicate_keys"] == 1
    assert manifest["counts"]["missing"] == 1
    assert any("repeat a key" in w for w in manifest["warnings"])
