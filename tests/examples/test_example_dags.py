"""The example DAGs in dags_examples/: they load cleanly and run to success against the emulator.

The emulator and connection come from the fixtures the provider ships for users
(``gemini_batch_conn``, airflow_provider_gemini_batch/testing.py; docs/testing-your-dags.md).

Each example runs with ``dag.test()`` (tasks in this process, triggers inline) with its
``results_dir`` parameter pointed at the test's tmp dir, and the landed files are checked against
what the example promised: one row per input key, vectors of the requested dimension, merged
parts, cleanup that really deleted the files it created.
"""

from __future__ import annotations

import ast
import contextlib
import json
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.fixtures.airflow_env import serialize_dag
from tests.fixtures.modules import import_file
from tests.operators._support import counts_all_succeeded

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
EXAMPLE_IDS = [
    "example_gemini_batch_file",
    "example_gemini_batch_inline",
    "example_gemini_batch_embeddings",
    "example_gemini_batch_mapped",
    "example_gemini_batch_sharded",
    "example_gemini_batch_resubmit",
    "example_gemini_batch_priority",
    "example_common_ai_llm_batch",
    "example_gemini_batch_vertex",
]
#: Examples that need an optional extra; without it (``make test-oldest``) they are not expected.
NEEDS_EXTRA = {"example_common_ai_llm_batch": "airflow.providers.common.ai.batch"}


def _available(dag_id: str) -> bool:
    module = NEEDS_EXTRA.get(dag_id)
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def load_example(dag_id: str) -> ModuleType:
    """Import ``dags_examples/<dag_id>.py`` as a fresh module (as the dag processor would)."""
    return import_file(f"_example_{dag_id}", EXAMPLES / f"{dag_id}.py")


def run_example(dag_id: str, conf: dict[str, Any]) -> tuple[str, dict[str, str | None], dict[str, Any]]:
    """Run the example once with ``dag.test(run_conf=conf)``.

    Returns the run state, ``{task_id or task_id[map_index]: state}`` and the return values
    ``{task_id or task_id[map_index]: value}``.
    """
    from airflow import settings
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel

    dag = load_example(dag_id).dag
    serialize_dag(dag)
    dr = dag.test(run_conf=conf)

    def label(task_id: str, map_index: int) -> str:
        return task_id if map_index < 0 else f"{task_id}[{map_index}]"

    session = settings.Session()  # type: ignore[misc]  # typed Optional until configured
    try:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=dr.run_id).all()
        states = {label(ti.task_id, ti.map_index): None if ti.state is None else str(ti.state) for ti in tis}
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=dr.run_id, key="return_value").all()
        values: dict[str, Any] = {}
        for row in rows:
            value = row.value
            if isinstance(value, str):  # JSON text in Airflow 3; a plain string may be stored as is
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            values[label(row.task_id, row.map_index)] = value
        return str(dr.state), states, values
    finally:
        session.close()


def rows_of(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_examples_load_without_import_errors(airflow_db: str) -> None:
    """A DagBag over dags_examples/ has no import errors and holds exactly the examples."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    # Examples are off for the whole session (AIRFLOW__CORE__LOAD_EXAMPLES in tests/conftest.py).
    bag = DagBag(dag_folder=str(EXAMPLES))
    expected = [dag_id for dag_id in EXAMPLE_IDS if _available(dag_id)]
    missing_extra = {str(EXAMPLES / f"{d}.py") for d in EXAMPLE_IDS if d not in expected}
    assert {path: err for path, err in bag.import_errors.items() if path not in missing_extra} == {}
    assert sorted(bag.dag_ids) == sorted(expected)


@pytest.mark.parametrize("dag_id", EXAMPLE_IDS)
def test_example_has_a_docstring_and_no_secrets(dag_id: str) -> None:
    """Every example says what it shows, and only names the connection id (no key, no host)."""
    if not _available(dag_id):
        pytest.skip(f"{dag_id} needs {NEEDS_EXTRA[dag_id]}")
    module = load_example(dag_id)
    assert module.__doc__
    assert "shows" in module.__doc__
    source = (EXAMPLES / f"{dag_id}.py").read_text()
    assert "api_key" not in source.lower()
    assert "127.0.0.1" not in source
    assert "googleapis.com" not in source


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    ]


@pytest.mark.parametrize("dag_id", EXAMPLE_IDS)
def test_example_logs_instead_of_printing_and_describes_itself(dag_id: str) -> None:
    """Task code logs (print() output was hidden in a collapsed log group) and the DAG
    carries a ``description`` (the DAG list) and ``doc_md`` (the DAG's Docs panel)."""
    if not _available(dag_id):
        pytest.skip(f"{dag_id} needs {NEEDS_EXTRA[dag_id]}")
    tree = ast.parse((EXAMPLES / f"{dag_id}.py").read_text(encoding="utf-8"))
    assert _calls(tree, "print") == []
    dag = load_example(dag_id).dag
    assert len(dag.description or "") > 20
    assert "shows" in (dag.doc_md or "")


def test_file_example_lands_one_row_per_input_key_and_cleans_up(
    airflow_db: str, gemini_batch_conn: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The file example: run succeeds, results hold every product key, both files are deleted,
    and the report task logs its lines through ``logging`` (records of the example's module
    logger; in a deployment Airflow routes them into the task log)."""
    module = load_example("example_gemini_batch_file")
    state, states, values = run_example("example_gemini_batch_file", {"results_dir": str(tmp_path)})

    assert state == "success", states
    assert set(states.values()) == {"success"}, states
    manifest = values["fetch_results"]
    assert manifest["state"] == "SUCCEEDED"
    assert manifest["counts"] == counts_all_succeeded(5)
    assert Path(manifest["destination"]).is_relative_to(tmp_path)
    rows = rows_of(manifest["destination"])
    assert sorted(row["key"] for row in rows) == sorted(module.PRODUCTS)
    assert values["report"]["keys"] == sorted(module.PRODUCTS)
    logged = [r.getMessage() for r in caplog.records if r.name == module.log.name]
    assert f"Batch {manifest['batch_name']} ended SUCCEEDED: {manifest['counts']}" in logged

    # Cleanup: the uploaded input is gone from the Files API. The generated result file is not
    # deleted: the Files API refuses its id (over 40 characters, python-genai #1613/#1759), so the
    # cleanup task skips it with a log line instead of sending a delete that cannot succeed.
    calls = [(c["method"], c["path"]) for c in gemini_batch_conn.control.journal()]
    deleted = {path.rsplit("/", 1)[-1] for method, path in calls if method == "DELETE"}
    uploaded = values["upload_requests"].split("/", 1)[1]
    assert uploaded in deleted
    assert not any(name.startswith("batch-") for name in deleted), calls


def test_inline_example_parses_structured_answers(
    airflow_db: str, gemini_batch_conn: EmulatorServer, tmp_path: Path
) -> None:
    """The inline example: one landed row per review, the JSON answers parsed downstream."""
    module = load_example("example_gemini_batch_inline")
    state, states, values = run_example("example_gemini_batch_inline", {"results_dir": str(tmp_path)})

    assert state == "success", states
    manifest = values["fetch_results"]
    assert manifest["counts"]["total"] == len(module.REVIEWS)
    assert sorted(row["key"] for row in rows_of(manifest["destination"])) == sorted(module.REVIEWS)
    parsed = values["parse_structured"]
    # The emulator's fake model honours responseMimeType + responseSchema: every answer parses
    # and follows the example's schema.
    assert parsed["not_json"] == []
    assert sorted(parsed["parsed"]) == sorted(module.REVIEWS)
    for answer in parsed["parsed"].values():
        assert answer["sentiment"] in {"positive", "neutral", "negative"}
        assert isinstance(answer["summary"], str)
    # The create request carried the system instruction and the JSON output settings.
    creates = [c for c in gemini_batch_conn.control.journal() if c["path"].endswith(":batchGenerateContent")]
    assert len(creates) == 1
    body = json.dumps(creates[0]["json"])
    assert "systemInstruction" in body
    assert "application/json" in body


def test_embeddings_example_lands_vectors_of_requested_dimension(
    airflow_db: str, gemini_batch_conn: EmulatorServer, tmp_path: Path
) -> None:
    """The embeddings example: one vector per document, each of the requested dimension."""
    module = load_example("example_gemini_batch_embeddings")
    state, states, values = run_example("example_gemini_batch_embeddings", {"results_dir": str(tmp_path)})

    assert state == "success", states
    assert values["check_vectors"] == {key: module.DIMENSIONS for key in module.DOCUMENTS}
    assert any(c["path"].endswith(":asyncBatchEmbedContent") for c in gemini_batch_conn.control.journal())


def test_mapped_example_runs_one_batch_per_part_and_merges_them(
    airflow_db: str, gemini_batch_conn: EmulatorServer, tmp_path: Path
) -> None:
    """The mapped example: N parts -> N batches (mapped), merged file holds every item once."""
    conf = {"results_dir": str(tmp_path), "parts": 3, "items": 14}
    state, states, values = run_example("example_gemini_batch_mapped", conf)

    assert state == "success", states
    assert {label for label in states if label.startswith("one_batch.wait[")} == {
        f"one_batch.wait[{i}]" for i in range(3)
    }
    creates = [c for c in gemini_batch_conn.control.journal() if c["path"].endswith(":batchGenerateContent")]
    assert len(creates) == 3
    merged = values["merge"]
    assert merged["batches"] == 3
    assert merged["counts"] == {"total": 14, "succeeded": 14, "failed": 0}
    keys = [row["key"] for row in rows_of(merged["destination"])]
    assert sorted(keys) == [f"item-{n:05d}" for n in range(14)]


def test_sharded_example_splits_runs_and_merges_with_per_shard_figures(
    airflow_db: str, gemini_batch_conn: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Sharding: 2500 requests, shards of 1000 -> 3 mapped batches, one merged file holding
    every key once, a merged manifest with per-shard figures and a cost from the price table."""
    conf = {"results_dir": str(tmp_path), "requests": 2500, "shard_requests": 1000}
    state, states, values = run_example("example_gemini_batch_sharded", conf)

    assert state == "success", states
    creates = [c for c in gemini_batch_conn.control.journal() if c["path"].endswith(":batchGenerateContent")]
    assert len(creates) == 3
    merged = values["merge"]
    assert merged["shards"] == 3
    assert [s["counts"]["total"] for s in merged["per_shard"]] == [1000, 1000, 500]
    assert merged["counts"]["total"] == merged["counts"]["succeeded"] == 2500
    assert merged["cost"]["total"] > 0
    keys = [row["key"] for row in rows_of(merged["destination"])]
    assert sorted(keys) == [f"n-{n:06d}" for n in range(2500)]
    (tmp_path / "sharded-manifest.json").write_text(json.dumps(merged, indent=2, sort_keys=True))


def test_resubmit_example_runs_two_rounds_and_keeps_one_row_per_key(
    airflow_db: str, gemini_batch_conn: EmulatorServer, tmp_path: Path
) -> None:
    """Resubmitting failed rows: a fifth of the rows fail UNAVAILABLE (retryable); two rounds resubmit
    them; the final file has one row per key and the manifest says what was resubmitted."""
    gemini_batch_conn.control.configure(error_fraction=0.2, error_code=14)
    state, states, values = run_example(
        "example_gemini_batch_resubmit", {"results_dir": str(tmp_path), "requests": 100}
    )

    assert state == "success", states
    final = values["merge_round_2"]
    assert final["rounds"] == 2
    # Round 1 resends 20 rows (a fifth of them fail again: 4); round 2 resends those 4.
    assert [h["resubmitted"] for h in final["history"]] == [20, 4]
    assert final["resubmitted"] == 24
    assert final["still_failed"] == final["still_retryable"] == 0
    assert final["counts"]["succeeded"] == 100
    rows = rows_of(final["destination"])
    keys = [row["key"] for row in rows]
    assert sorted(keys) == [f"c-{n:05d}" for n in range(100)]
    (tmp_path / "resubmit-manifest.json").write_text(json.dumps(final, indent=2, sort_keys=True))


def test_common_ai_example_lands_validated_triage_for_every_ticket(
    airflow_db: str, gemini_batch_conn: EmulatorServer, tmp_path: Path
) -> None:
    """The common.ai example: ``@task.llm_batch`` on Gemini returns common.ai's manifest, every
    ticket lands as a success row whose output validates against the example's model."""
    if not _available("example_common_ai_llm_batch"):
        pytest.skip("needs the common-ai extra")
    module = load_example("example_common_ai_llm_batch")
    gemini_batch_conn.control.configure(processing_seconds=0)  # common.ai polls every >= 30 s
    state, states, values = run_example("example_common_ai_llm_batch", {"results_dir": str(tmp_path)})

    assert state == "success", states
    manifest = values["triage"]
    assert manifest["adapter"] == "google"
    assert manifest["counts"]["succeeded"] == len(module.TICKETS)
    assert manifest["terminal_reason"] == "succeeded"
    assert Path(manifest["result_uri"]).is_relative_to(tmp_path)
    triaged = values["report"]["triaged"]
    assert len(triaged) == len(module.TICKETS)
    for answer in triaged:
        module.Triage.model_validate(answer)


def _cancel_after_priority_update(emulator: EmulatorServer, blocker: str, done: threading.Event) -> None:
    """Hold the one running slot with ``blocker`` until the DAG's priority PATCH has arrived,
    then cancel it: the slot frees with both example batches pending and their priorities set."""
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    while not done.wait(0.1):
        if any(c["method"] == "PATCH" for c in emulator.control.journal()):
            hook = GeminiBatchHook(gemini_conn_id="gemini_batch_default")
            try:
                hook.cancel_batch(blocker)
            finally:
                hook.session.close()
            return


def test_priority_example_sends_priority_and_webhook_and_admits_the_raised_batch_first(
    airflow_db: str, gemini_batch_conn: EmulatorServer, tmp_path: Path
) -> None:
    """Priority: with one running slot held by another batch, the example queues the
    urgent batch (priority 50, with a webhook), then the backlog (1), and raises the backlog to
    100; when the slot frees the backlog, though it arrived last, is admitted first (by creation
    order or without the update the urgent one would be), and the report returns (and logs) that order."""
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    module = load_example("example_gemini_batch_priority")
    # Another batch of the project takes the only slot for an hour of emulator time ...
    gemini_batch_conn.control.configure(processing_seconds=3600, running_slots=1)
    hook = GeminiBatchHook(gemini_conn_id="gemini_batch_default")
    try:
        blocker = hook.create_batch(
            "gemini-2.5-flash", requests=[{"contents": [{"parts": [{"text": "x"}]}]}]
        ).name
    finally:
        hook.session.close()
    gemini_batch_conn.control.configure(processing_seconds=0.2)  # ... the example's batches are quick
    # ... and ends (cancelled) once the example has sent its priority update.
    done = threading.Event()
    watcher = threading.Thread(
        target=_cancel_after_priority_update, args=(gemini_batch_conn, blocker, done), daemon=True
    )
    watcher.start()
    try:
        state, states, values = run_example("example_gemini_batch_priority", {"results_dir": str(tmp_path)})
    finally:
        done.set()
        watcher.join(timeout=10)
    assert state == "success", states

    journal = gemini_batch_conn.control.journal()
    creates = [c["json"]["batch"] for c in journal if c["path"].endswith(":batchGenerateContent")]
    backlog_body = next(b for b in creates if str(b.get("displayName")).startswith("backlog-summaries"))
    urgent_body = next(b for b in creates if str(b.get("displayName")).startswith("urgent-ticket-summaries"))
    # int64 travels as a JSON string (REST reference GenerateContentBatch.priority).
    assert backlog_body.get("priority") == str(module.BACKLOG_PRIORITY)
    assert urgent_body.get("priority") == str(module.URGENT_PRIORITY)
    assert urgent_body["webhookConfig"] == {
        "uris": module.WEBHOOK_CONFIG["uris"],
        "userMetadata": module.WEBHOOK_CONFIG["user_metadata"],
    }
    assert "webhookConfig" not in backlog_body

    backlog_name = values["create_backlog_batch"]
    urgent_name = values["create_urgent_batch"]
    patches = [c for c in journal if c["method"] == "PATCH"]
    assert len(patches) == 1
    assert patches[0]["path"].endswith(f"{backlog_name}:updateGenerateContentBatch")
    assert "updateMask=priority" in patches[0]["query"]
    assert patches[0]["json"] == {"priority": str(module.RAISED_PRIORITY)}

    # Admission (emulator/backend.py admit() records start_time): the slot freed after the update,
    # so the backlog, raised above the urgent batch, went first although it was created last.
    records = {r.name: r for r in gemini_batch_conn.state.batches.values()}
    backlog, urgent = records[backlog_name], records[urgent_name]
    assert urgent.create_time < backlog.create_time
    assert backlog.priority == module.RAISED_PRIORITY > urgent.priority == module.URGENT_PRIORITY
    assert backlog.start_time is not None
    assert urgent.start_time is not None
    assert backlog.start_time < urgent.start_time
    assert records[blocker].cancel_time is not None
    assert backlog.start_time >= records[blocker].cancel_time

    assert values["report"]["finished_order"] == ["backlog", "urgent"]
    assert values["fetch_backlog_results"]["counts"]["succeeded"] == len(module.BACKLOG)
    assert values["fetch_urgent_results"]["counts"]["succeeded"] == len(module.URGENT)
