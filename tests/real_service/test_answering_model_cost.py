"""Each result row is priced by the model that answered it (``modelVersion``), not only the batch's.

Source: the REST reference's ``GenerateContentResponse.modelVersion`` ("the model version used to
generate the response"), and public reports that the service answers a request for a retired
model name with another model (enricoros/big-AGI issue #1082: ``gemini-3-pro-preview`` answered
by 3.1 Pro; Google's changelog of 2025-05-06, quoted in microsoft/vscode-copilot-release issue
#9372: the 03-25 preview "now points to" the 05-06 one). Before: every token was priced at the
batch's model whatever answered, and a batch whose model the table lacked got no estimate.

The results operator runs in ``dag.test()`` against a stand-in serving finished batches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.manifest import MODEL_LIMIT
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.real_service import captures_rows as cr
from tests.real_service.standin import Reply, ScriptedServer
from tests.real_service.test_result_rows import CONN_ID, connection

ASKED = "gemini-2.5-pro-preview-03-25"
ROUTED = "gemini-2.5-pro-preview-05-06"
TWO_MODELS = "answeringmodel0000000000000000000000"
MANY_MODELS = "answeringmodel1111111111111111111111"


def _response(model: str, prompt: int, out: int, finish: str = "STOP") -> dict[str, Any]:
    answer = {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": finish, "index": 0}
    return {
        "candidates": [answer],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": out,
            "totalTokenCount": prompt + out,
        },
        "modelVersion": model,
    }


# Three rows: one answered by the model asked for, two by the one the service routed to (one of
# them cut at MAX_TOKENS: billed all the same, and landed by the general path, not the fast one).
TWO_LINES = (
    cr.line({"response": _response(ASKED, 1_000_000, 100_000), "key": "a"})
    + cr.line({"response": _response(ROUTED, 1_000_000, 100_000), "key": "b"})
    + cr.line({"response": _response(ROUTED, 1_000_000, 100_000, "MAX_TOKENS"), "key": "c"})
)
#: More distinct answering models than the tally keeps apart: each row its own model.
MANY = MODEL_LIMIT + 6
MANY_LINES = b"".join(
    cr.line({"response": _response(f"gemini-test-{i:03d}", 1_000_000, 0), "key": f"k{i}"})
    for i in range(MANY)
)
PRICES = {
    ASKED: {"input": 1.0, "output": 10.0},
    ROUTED: {"input": 2.0, "output": 20.0},
    "gemini-test-000": {"input": 3.0, "output": 0.0},
}


def _script(batch_id: str, lines: bytes, rows: int) -> list[Reply]:
    results = f"files/batch-{batch_id}"
    operation = cr.finished_operation(
        batch_id, request_count=rows, responses_file=results, model=f"models/{ASKED}"
    )
    return [
        Reply("GET", rf"/{cr.API}/batches/{batch_id}", body=operation),
        Reply("GET", rf"/{cr.API}/{results}:download", body=lines, headers={"Content-Type": "text/plain"}),
    ]


@pytest.fixture(scope="module")
def manifests(airflow_db: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiBatchResultsOperator

    out: Path = tmp_path_factory.mktemp("answering")
    script = _script(TWO_MODELS, TWO_LINES, 3) + _script(MANY_MODELS, MANY_LINES, MANY)
    with ScriptedServer(script) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection(server))
        with DAG(unique_dag_id("answering_model"), schedule=None) as dag:
            for task_id, batch_id in (("two", TWO_MODELS), ("many", MANY_MODELS)):
                GeminiBatchResultsOperator(
                    task_id=task_id,
                    batch_name=f"batches/{batch_id}",
                    destination=str(out / f"{task_id}.jsonl"),
                    price_table=PRICES,
                    max_failed_ratio=1.0,  # the MAX_TOKENS row is billed, not a failure here
                    gemini_conn_id=CONN_ID,
                )
        result = run_dag(dag)
    assert set(result.task_states.values()) == {"success"}
    return {task_id: result.xcom(task_id) for task_id in ("two", "many")}


def test_rows_are_priced_by_the_model_that_answered_them(manifests: dict[str, Any]) -> None:
    cost = manifests["two"]["cost"]
    assert cost["model"] == ASKED
    assert sorted(cost["by_model"]) == [ASKED, ROUTED]
    asked, routed = cost["by_model"][ASKED], cost["by_model"][ROUTED]
    assert asked["tokens"]["input"] == 1_000_000
    assert asked["total"] == pytest.approx(1.0 + 1.0)
    assert routed["tokens"]["input"] == 2_000_000
    assert routed["total"] == pytest.approx(2 * (2.0 + 2.0))
    assert cost["total"] == pytest.approx(2.0 + 8.0)
    assert cost["tokens"]["input"] == 3_000_000
    # The usage counters stay the batch's sums.
    assert manifests["two"]["usage"]["promptTokenCount"] == 3_000_000


def test_past_the_model_limit_rows_are_priced_by_the_batch_model_and_said(manifests: dict[str, Any]) -> None:
    cost = manifests["many"]["cost"]
    unlisted = MANY - MODEL_LIMIT
    # gemini-test-000 is priced by itself; the other listed models and the unlisted rows are not
    # in the table, so they go to the batch's model.
    assert sorted(cost["by_model"]) == [ASKED, "gemini-test-000"]
    assert cost["by_model"]["gemini-test-000"]["total"] == pytest.approx(3.0)
    assert cost["by_model"][ASKED]["tokens"]["input"] == (MANY - 1) * 1_000_000
    assert cost["total"] == pytest.approx(3.0 + (MANY - 1) * 1.0)
    assert f"{unlisted} rows were answered by models past" in cost["note"]


def test_the_tally_keeps_one_sum_per_model_up_to_the_limit() -> None:
    """Memory stays flat: one small dict per distinct answering model, never one per row."""
    from airflow_provider_gemini_batch._core.landing import land_result_blocks
    from airflow_provider_gemini_batch._core.manifest import ResultsTally

    tally = ResultsTally()
    for _ in land_result_blocks([MANY_LINES, TWO_LINES], tally):
        pass
    assert len(tally.usage_by_model) == MODEL_LIMIT + 1  # the listed models, and None
    assert tally.models_unlisted == MANY - MODEL_LIMIT + 3  # ASKED and ROUTED came past it too
    assert tally.usage["promptTokenCount"] == (MANY + 3) * 1_000_000


def test_summed_costs_keep_the_per_model_subtotals(manifests: dict[str, Any]) -> None:
    """Shards and resubmitted rounds are summed (``sum_costs``): the subtotals are summed too."""
    from airflow_provider_gemini_batch._core.cost import sum_costs

    two, many = manifests["two"]["cost"], manifests["many"]["cost"]
    summed = sum_costs([two, many])
    assert summed is not None
    assert sorted(summed["by_model"]) == sorted([ASKED, ROUTED, "gemini-test-000"])
    asked = summed["by_model"][ASKED]
    assert asked["total"] == pytest.approx(two["by_model"][ASKED]["total"] + many["by_model"][ASKED]["total"])
    assert summed["total"] == pytest.approx(sum(m["total"] for m in summed["by_model"].values()))
