"""A budget before anything is billed: ``max_cost`` on the create operator, run with ``dag.test()``.

One linear DAG against the emulator (every task ``retries=2``, ``trigger_rule="all_done"``):

* three creates that must refuse before any request: a JSONL ``input_path`` and inline
  ``requests`` over ``max_cost`` (``GeminiBudgetExceededError``, one try, no retry), and an input
  with an image part but no ``tokens_per_media_part``; then a task reads the emulator's journal,
  which must still be empty (no upload, no list, no model check, no create);
* a create within its budget, a sensor and a results task with a price table: the results
  manifest carries the create's ``cost_estimate`` beside the actual ``cost``.
"""

from __future__ import annotations

import datetime
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.estimate import BatchEstimator
from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
)
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.operators._failures import RecordedRun, recording_failures
from tests.operators._support import MODEL

PRICES = {MODEL: {"input": 0.15, "output": 1.25}}
TEXT = "x" * 400  # 100 estimated tokens per request (400 characters / 4)


def _rows(n: int, max_output: int | None = 50) -> list[dict[str, Any]]:
    config = {} if max_output is None else {"generationConfig": {"maxOutputTokens": max_output}}
    return [
        {"key": f"k{i}", "request": {"contents": [{"parts": [{"text": f"{TEXT} {i}"}]}], **config}}
        for i in range(n)
    ]


def _write(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _build_dag(dag_id: str, tmp: Path, emulator: EmulatorServer) -> Any:
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    big = _write(tmp / "big.jsonl", _rows(200))
    image = {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    media = _write(
        tmp / "media.jsonl",
        [*_rows(2), {"key": "img", "request": {"contents": [{"parts": [{"text": "what is it?"}, image]}]}}],
    )
    tasks: list[Any] = []
    dag = DAG(
        dag_id,
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1),
        default_args={"trigger_rule": "all_done", "retries": 2, "retry_delay": datetime.timedelta(0)},
    )
    dag.__enter__()
    budget = {"price_table": PRICES, "max_cost": 0.001}
    # 200 rows x (~101 input at 0.15 + 50 output at 1.25 per million) ~ 0.0155 USD > 0.001.
    tasks.append(GeminiCreateBatchOperator(task_id="over_file", model=MODEL, input_path=big, **budget))
    # 20 rows without maxOutputTokens: 20 x 8,192 assumed output tokens ~ 0.2 USD > 0.001.
    tasks.append(
        GeminiCreateBatchOperator(
            task_id="over_inline", model=MODEL, requests=_rows(20, max_output=None), **budget
        )
    )
    tasks.append(
        GeminiCreateBatchOperator(
            task_id="media_unknown", model=MODEL, input_path=media, price_table=PRICES, max_cost=100.0
        )
    )
    tasks.append(
        PythonOperator(task_id="journal_after_refusals", python_callable=lambda: emulator.control.journal())
    )
    # Within budget: 3 rows x (101 input + 50 output) tokens ~ 0.0002 USD <= 0.01.
    tasks.append(
        GeminiCreateBatchOperator(
            task_id="within", model=MODEL, requests=_rows(3), price_table=PRICES, max_cost=0.01
        )
    )
    tasks.append(
        GeminiBatchSensor(
            task_id="wait", batch_name="{{ ti.xcom_pull(task_ids='within') }}", poll_interval=0.05
        )
    )
    tasks.append(
        GeminiBatchResultsOperator(
            task_id="results",
            batch_name="{{ ti.xcom_pull(task_ids='within') }}",
            destination=str(tmp / "out.jsonl"),
            price_table=PRICES,
        )
    )
    dag.__exit__(None, None, None)
    for upstream, downstream in itertools.pairwise(tasks):
        upstream >> downstream
    return dag


@pytest.fixture(scope="module")
def run(
    airflow_db: str, emulator_server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RecordedRun]:
    emulator_server.control.reset()
    tmp = tmp_path_factory.mktemp("budget")
    mp = pytest.MonkeyPatch()
    mp.setenv(
        "AIRFLOW_CONN_GEMINI_BATCH_DEFAULT",
        json.dumps(
            {
                "conn_type": "gemini_batch",
                "host": emulator_server.base_url,
                "password": emulator_server.api_key,
            }
        ),
    )
    try:
        with recording_failures() as failures:
            result = run_dag(_build_dag(unique_dag_id("budget"), tmp, emulator_server))
        yield RecordedRun(result, tmp, emulator_server, emulator_server.control.journal(), failures)
    finally:
        mp.undo()
        emulator_server.control.reset()


@pytest.mark.parametrize("task_id", ["over_file", "over_inline"])
def test_over_budget_fails_once_naming_estimate_budget_currency_model_and_method(
    run: RecordedRun, task_id: str
) -> None:
    assert run.state(task_id) == "failed"
    assert run.error(task_id) == "GeminiBudgetExceededError"
    assert run.result.tries[task_id] == 1  # not retried: the same input gives the same estimate
    assert len(run.failures.tries[task_id]) == 1
    message = run.message(task_id)
    assert "above max_cost 0.001000 USD" in message
    assert "estimated cost" in message
    assert MODEL in message
    assert "characters of text (UTF-8 bytes as written) / 4" in message
    assert "ai.google.dev/gemini-api/docs/tokens" in message
    assert "nothing was uploaded or created" in message
    if task_id == "over_inline":
        assert "20 requests without maxOutputTokens x assumed_output_tokens=8,192" in message
    else:
        assert "200 requests at their maxOutputTokens" in message


def test_media_parts_without_a_figure_are_refused_naming_the_line(run: RecordedRun) -> None:
    assert run.state("media_unknown") == "failed"
    assert run.error("media_unknown") == "GeminiInvalidInputError"
    message = run.message("media_unknown")
    assert "media.jsonl holds 1 media part(s)" in message
    assert "line 3" in message
    assert "tokens_per_media_part" in message


def test_nothing_was_sent_before_the_refusals(run: RecordedRun) -> None:
    """No upload, no batch or file list, no model check and no create reached the emulator."""
    assert run.state("journal_after_refusals") == "success"
    assert run.xcom("journal_after_refusals") == []


def test_results_manifest_shows_the_estimate_beside_the_actual_cost(run: RecordedRun) -> None:
    assert run.state("within") == "success"
    assert run.state("results") == "success"
    manifest = run.xcom("results")
    estimate = manifest["cost_estimate"]
    assert estimate["batch_name"] == run.xcom("within")
    assert estimate["requests"] == 3
    assert estimate["tokens"]["output"] == 150  # 3 x maxOutputTokens 50: an upper bound
    assert estimate["max_cost"] == 0.01
    assert estimate["currency"] == manifest["cost"]["currency"] == "USD"
    assert 0 < manifest["cost"]["total"] <= estimate["total"] <= 0.01
    assert run.xcom("within", "cost_estimate") == estimate


def test_estimate_is_the_same_whatever_the_block_boundaries() -> None:
    """The estimate rides along the validation read: lines cut by any block size count once."""
    rows = [*_rows(5), {"key": "s", "request": {"contents": [{"parts": [{"text": "h\u00e9"}]}]}}]
    data = b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in rows).encode()
    totals = set()
    for size in (1, 7, 64, len(data)):
        estimator = BatchEstimator(assumed_output_tokens=10)
        for start in range(0, len(data), size):
            estimator.update(data[start : start + size])
        estimator.finish()
        totals.add((estimator.requests, estimator.text_bytes, estimator.output_tokens))
    assert totals == {(6, 5 * 404 + 9, 5 * 50 + 10)}
