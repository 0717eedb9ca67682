"""Cached prompt tokens are billed apart: ``cachedContentTokenCount`` is inside ``promptTokenCount``.

Source: the REST reference's ``UsageMetadata`` (https://ai.google.dev/api/generate-content#UsageMetadata:
``cachedContentTokenCount`` "Number of tokens in the cached part of the prompt (the cached
content)", ``promptTokenCount`` "When cachedContent is set, this is still the total effective
prompt size meaning this includes the number of tokens in the cached content"), and the pricing
page's separate "Context caching price". Before: the price table refused a ``cached`` price and
billed cached tokens as fresh input without a word. The results operator runs in ``dag.test()``
against a stand-in serving a finished batch whose rows used a context cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.real_service import captures_rows as cr
from tests.real_service.standin import Reply, ScriptedServer
from tests.real_service.test_result_rows import CONN_ID, connection

BATCH_ID = "cachedtokens0000000000000000000000000"
RESULTS_FILE = f"files/batch-{BATCH_ID}"


def _response(prompt: int, cached: int, out: int) -> dict[str, Any]:
    answer = {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP", "index": 0}
    return {
        "candidates": [answer],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "cachedContentTokenCount": cached,
            "candidatesTokenCount": out,
            "totalTokenCount": prompt + out,
        },
        "modelVersion": "gemini-2.5-flash",
    }


# Two rows: 1,000,000 prompt tokens of which 800,000 came from the cache; 100,000 output tokens.
LINES = cr.line({"key": "a", "response": _response(600_000, 500_000, 50_000)}) + cr.line(
    {"key": "b", "response": _response(400_000, 300_000, 50_000)}
)
OPERATION = cr.finished_operation(BATCH_ID, request_count=2, responses_file=RESULTS_FILE)
PRICES = {"input": 1.0, "output": 10.0}


@pytest.fixture(scope="module")
def manifests(airflow_db: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiBatchResultsOperator

    out: Path = tmp_path_factory.mktemp("cached")
    script = [
        Reply("GET", rf"/{cr.API}/batches/{BATCH_ID}", body=OPERATION),
        Reply(
            "GET", rf"/{cr.API}/{RESULTS_FILE}:download", body=LINES, headers={"Content-Type": "text/plain"}
        ),
    ]
    tables = {"with_cache_price": {**PRICES, "cached": 0.25}, "without_cache_price": PRICES}
    with ScriptedServer(script) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection(server))
        with DAG(unique_dag_id("cached_tokens"), schedule=None) as dag:
            for task_id, prices in tables.items():
                GeminiBatchResultsOperator(
                    task_id=task_id,
                    batch_name=f"batches/{BATCH_ID}",
                    destination=str(out / f"{task_id}.jsonl"),
                    price_table={"gemini-2.5-flash": prices},
                    gemini_conn_id=CONN_ID,
                )
        result = run_dag(dag)
    assert set(result.task_states.values()) == {"success"}
    return {task_id: result.xcom(task_id) for task_id in tables}


def test_a_cache_price_bills_cached_tokens_at_it(manifests: dict[str, Any]) -> None:
    cost = manifests["with_cache_price"]["cost"]
    assert cost["tokens"]["input"] == 200_000
    assert cost["tokens"]["cached"] == 800_000
    assert cost["input"] == pytest.approx(0.2)
    assert cost["cached"] == pytest.approx(0.2)
    assert cost["total"] == pytest.approx(0.2 + 0.2 + 1.0)


def test_without_a_cache_price_cached_tokens_are_shown_apart(manifests: dict[str, Any]) -> None:
    cost = manifests["without_cache_price"]["cost"]
    assert cost["tokens"]["cached"] == 800_000
    assert cost["total"] == pytest.approx(1.0 + 1.0)  # all prompt tokens at the input price, once
    assert "800000 prompt tokens were served from a context cache" in cost["note"]
