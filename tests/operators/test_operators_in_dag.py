"""Every operator and the sensor inside one real DAG run with ``dag.test()`` against the emulator.

One linear DAG (every task ``trigger_rule="all_done"``, so an expected failure does not stop the
rest) is run once per module; each test then checks one behaviour from the recorded task states,
XComs, landed files and the emulator's journal. Order is fixed by the chain, so "prepare" tasks
(which configure the emulator or create a batch the way a dead worker would have) run right
before the task they prepare.
"""

from __future__ import annotations

import datetime
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.identity import TaskIdentity, tagged_display_name
from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators._idempotency import sha256_of, upload_display_name
from airflow_provider_gemini_batch.operators.create import batch_input_fingerprint
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCancelBatchOperator,
    GeminiCreateBatchOperator,
    GeminiDeleteBatchOperator,
    GeminiDeleteFileOperator,
    GeminiUploadFileOperator,
)
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.operators._failures import RecordedRun, recording_failures
from tests.operators._support import MODEL, counts_all_succeeded, inline_requests, sync_hook, write_jsonl

STATES = ("SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED")
REQS = inline_requests(3, "r")
FAST = {"poll_interval": 0.05}


class Run(RecordedRun):
    """The module's single DAG run plus what the tests need to inspect it."""

    def creates_tagged(self, tag: str) -> int:
        return sum(
            1
            for e in self.journal
            if e["method"] == "POST"
            and e["path"].endswith(":batchGenerateContent")
            and tag in json.dumps(e["json"] or {})
        )


def _identity(context: Any, task_id: str) -> TaskIdentity:
    ti = context["ti"]
    return TaskIdentity(dag_id=ti.dag_id, task_id=task_id, run_id=ti.run_id, map_index=-1)


def _build_dag(dag_id: str, tmp: Path, emulator: EmulatorServer) -> Any:
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    control = emulator.control
    good = write_jsonl(tmp / "good.jsonl", 4, "f")
    bad = tmp / "bad.jsonl"
    bad.write_text(
        '{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\nnot json\n', encoding="utf-8"
    )
    tasks: list[Any] = []
    dag = DAG(
        dag_id,
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1),
        default_args={"trigger_rule": "all_done", "retries": 0},
    )
    # Operators pick up default_args (trigger_rule all_done) only inside the DAG context.
    dag.__enter__()

    def py(task_id: str, fn: Any) -> None:
        tasks.append(PythonOperator(task_id=task_id, python_callable=fn))

    def add(op: Any) -> None:
        tasks.append(op)

    # --- upload: a previous try already uploaded the same content; the operator must reuse it.
    def pre_upload(**context: Any) -> str:
        ident = _identity(context, "upload")
        name = upload_display_name("inputs", ident, sha256_of(good))
        return str(sync_hook().upload_file(good, display_name=name, mime_type="application/jsonl").name)

    py("pre_upload", pre_upload)
    add(GeminiUploadFileOperator(task_id="upload", path=good, display_name="inputs"))
    add(GeminiUploadFileOperator(task_id="upload_bad", path=str(bad)))

    # --- create + wait, both modes, success.
    add(
        GeminiCreateBatchOperator(
            task_id="create_inline_sync", model=MODEL, requests=REQS, wait_for_completion=True, **FAST
        )
    )
    add(
        GeminiCreateBatchOperator(
            task_id="create_file_deferred",
            model=MODEL,
            input_file="{{ ti.xcom_pull(task_ids='upload') }}",
            display_name="from {{ dag.dag_id }}",
            wait_for_completion=True,
            deferrable=True,
            **FAST,
        )
    )
    add(
        GeminiBatchResultsOperator(
            task_id="results_file",
            batch_name="{{ ti.xcom_pull(task_ids='create_file_deferred') }}",
            destination=str(tmp / "out" / "file_results.jsonl"),
        )
    )
    add(
        GeminiBatchResultsOperator(
            task_id="results_inline",
            batch_name="{{ ti.xcom_pull(task_ids='create_inline_sync') }}",
            destination=str(tmp / "out" / "inline_results.jsonl"),
        )
    )

    # --- create + wait, batch ends badly, both modes.
    py("set_failed", lambda: control.configure(next_outcome="FAILED"))
    add(
        GeminiCreateBatchOperator(
            task_id="create_fail_sync", model=MODEL, requests=REQS, wait_for_completion=True, **FAST
        )
    )
    py("set_cancelled", lambda: control.configure(next_outcome="CANCELLED"))
    add(
        GeminiCreateBatchOperator(
            task_id="create_fail_deferred",
            model=MODEL,
            requests=REQS,
            wait_for_completion=True,
            deferrable=True,
            **FAST,
        )
    )

    # --- idempotency: the worker died after create; the retry must reattach.
    def pre_create(task_id: str, requests: list[dict[str, Any]]) -> Any:
        def make(**context: Any) -> str:
            fp = batch_input_fingerprint(
                model=MODEL, embeddings=False, priority=None, described={"requests": requests}
            )
            name = tagged_display_name(None, _identity(context, task_id), fp)
            return str(sync_hook().create_batch(MODEL, requests=requests, display_name=name).name)

        return make

    py("pre_reattach", pre_create("create_reattach", REQS))
    add(GeminiCreateBatchOperator(task_id="create_reattach", model=MODEL, requests=REQS))
    py("pre_changed", pre_create("create_changed", inline_requests(2, "old")))
    add(GeminiCreateBatchOperator(task_id="create_changed", model=MODEL, requests=REQS))
    py("pre_changed_new", pre_create("create_changed_new", inline_requests(2, "old")))
    add(
        GeminiCreateBatchOperator(
            task_id="create_changed_new", model=MODEL, requests=REQS, on_input_change="create_new"
        )
    )
    add(
        GeminiCreateBatchOperator(
            task_id="create_two_inputs", model=MODEL, requests=REQS, input_file="files/whatever"
        )
    )
    add(GeminiCreateBatchOperator(task_id="create_from_path", model=MODEL, input_path=good))

    # --- the sensor: every terminal state, both modes.
    for state in STATES:
        for mode in ("sync", "deferred"):

            def make(state: str = state) -> str:
                control.configure(next_outcome=state)
                return str(sync_hook().create_batch(MODEL, requests=REQS).name)

            py(f"mk_{state}_{mode}", make)
            add(
                GeminiBatchSensor(
                    task_id=f"sense_{state}_{mode}",
                    batch_name=f"{{{{ ti.xcom_pull(task_ids='mk_{state}_{mode}') }}}}",
                    deferrable=mode == "deferred",
                    timeout=60,
                    **FAST,
                )
            )

    # --- results with per-request failures (30 %), below and above the threshold.
    def mk_errors() -> str:
        control.configure(error_fraction=0.3)
        try:
            return str(sync_hook().create_batch(MODEL, requests=inline_requests(10, "e")).name)
        finally:
            control.configure(error_fraction=0.0)

    py("mk_errors", mk_errors)
    add(
        GeminiBatchSensor(
            task_id="wait_errors", batch_name="{{ ti.xcom_pull(task_ids='mk_errors') }}", **FAST
        )
    )
    for task_id, ratio in (("results_below", 0.5), ("results_above", 0.1)):
        add(
            GeminiBatchResultsOperator(
                task_id=task_id,
                batch_name="{{ ti.xcom_pull(task_ids='mk_errors') }}",
                destination=str(tmp / "out" / f"{task_id}.jsonl"),
                max_failed_ratio=ratio,
            )
        )

    # --- results of batches that ended badly: land what exists, say so when nothing exists.
    for state in ("CANCELLED", "EXPIRED", "FAILED"):
        add(
            GeminiBatchResultsOperator(
                task_id=f"results_{state}",
                batch_name=f"{{{{ ti.xcom_pull(task_ids='mk_{state}_sync') }}}}",
                destination=str(tmp / "out" / f"results_{state}.jsonl"),
            )
        )

    # --- cleanup operators.
    def mk_long() -> str:
        control.configure(processing_seconds=600)
        try:
            return str(sync_hook().create_batch(MODEL, requests=REQS).name)
        finally:
            control.configure(processing_seconds=0.2)

    py("mk_long", mk_long)
    add(GeminiCancelBatchOperator(task_id="cancel", batch_name="{{ ti.xcom_pull(task_ids='mk_long') }}"))
    py("observe_cancel", lambda **c: sync_hook().get_batch(c["ti"].xcom_pull(task_ids="mk_long")).state.short)
    add(GeminiCancelBatchOperator(task_id="cancel_none", batch_name=None))
    add(
        GeminiDeleteBatchOperator(task_id="delete_batch", batch_name="{{ ti.xcom_pull(task_ids='mk_long') }}")
    )
    add(GeminiDeleteBatchOperator(task_id="delete_batch_missing", batch_name="batches/doesnotexist"))
    add(
        GeminiDeleteBatchOperator(
            task_id="delete_batch_missing_strict", batch_name="batches/doesnotexist", ignore_missing=False
        )
    )
    add(GeminiDeleteFileOperator(task_id="delete_file", file_name="{{ ti.xcom_pull(task_ids='upload') }}"))
    add(GeminiDeleteFileOperator(task_id="delete_file_none", file_name=""))

    for upstream, downstream in itertools.pairwise(tasks):
        upstream >> downstream
    dag.__exit__(None, None, None)
    return dag


@pytest.fixture(scope="module")
def run(
    airflow_db: str, emulator_server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    emulator_server.control.reset()
    tmp = tmp_path_factory.mktemp("ops")
    (tmp / "out").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        conn = {
            "conn_type": "gemini_batch",
            "host": emulator_server.base_url,
            "password": emulator_server.api_key,
        }
        mp.setenv("AIRFLOW_CONN_GEMINI_BATCH_DEFAULT", json.dumps(conn))
        dag = _build_dag(unique_dag_id("ops"), tmp, emulator_server)
        with recording_failures() as failures:
            result = run_dag(dag)
        yield Run(result, tmp, emulator_server, emulator_server.control.journal(), failures)


# ---------------------------------------------------------------------------------------- upload


def test_upload_reuses_identical_file_of_earlier_try(run: Run) -> None:
    assert run.state("upload") == "success"
    assert run.xcom("upload") == run.xcom("pre_upload")
    starts = [
        e
        for e in run.journal
        if e["method"] == "POST" and e["path"].startswith("/upload/") and not e["query"]
    ]
    # pre_upload and create_from_path (different task instance, so its own file) only.
    assert len(starts) == 2


def test_upload_of_invalid_jsonl_fails_before_sending(run: Run) -> None:
    assert run.state("upload_bad") == "failed"
    assert run.error("upload_bad") == "GeminiInputFileError"
    assert "line 2" in run.message("upload_bad")


# ---------------------------------------------------------------------------------------- create


def test_create_pushes_batch_name_and_waits_non_deferrable(run: Run) -> None:
    assert run.state("create_inline_sync") == "success"
    name = run.xcom("create_inline_sync")
    assert name.startswith("batches/")
    assert run.xcom("create_inline_sync", "batch_name") == name


def test_create_deferrable_returns_name_from_event(run: Run) -> None:
    assert run.state("create_file_deferred") == "success"
    name = run.xcom("create_file_deferred")
    assert name == run.xcom("create_file_deferred", "batch_name")
    assert run.xcom("create_file_deferred", "batch_summary")["state"] == "SUCCEEDED"


def test_create_renders_templated_display_name_with_identity_marker(run: Run) -> None:
    created = [
        e["json"]["batch"]
        for e in run.journal
        if e["method"] == "POST" and e["path"].endswith(":batchGenerateContent") and e["json"]
    ]
    names = [b.get("displayName", "") for b in created]
    assert any(n.startswith(f"from {run.result.dag_id} [af:") for n in names)


@pytest.mark.parametrize("task_id", ["create_fail_sync", "create_fail_deferred"])
def test_create_waiting_fails_when_batch_ends_badly(run: Run, task_id: str) -> None:
    assert run.state(task_id) == "failed"
    assert run.error(task_id) == "GeminiBatchFailedError"
    assert run.xcom(task_id, "batch_name") in run.message(task_id)


def test_extra_link_opens_the_batch_page_and_the_rest_url_is_recorded_without_key(run: Run) -> None:
    link = run.xcom("create_inline_sync", "gemini_batch_link")
    assert "/gemini-batch/ti/" in link
    assert "/create_inline_sync/-1/" in link
    api_url = run.xcom("create_inline_sync", "gemini_batch_api_url")
    assert api_url == f"{run.emulator.base_url}/v1beta/{run.xcom('create_inline_sync')}"
    assert run.emulator.api_key not in link + api_url


def test_retry_after_worker_died_reattaches(run: Run) -> None:
    assert run.state("create_reattach") == "success"
    assert run.xcom("create_reattach") == run.xcom("pre_reattach")
    tag = TaskIdentity(run.result.dag_id, "create_reattach", run.result.run_id).tag
    assert run.creates_tagged(tag) == 1


def test_changed_input_fails_without_creating(run: Run) -> None:
    assert run.state("create_changed") == "failed"
    assert run.error("create_changed") == "GeminiInvalidInputError"
    assert run.xcom("pre_changed") in run.message("create_changed")
    tag = TaskIdentity(run.result.dag_id, "create_changed", run.result.run_id).tag
    assert run.creates_tagged(tag) == 1  # only the earlier try's batch


def test_changed_input_with_create_new_policy_creates_new(run: Run) -> None:
    assert run.state("create_changed_new") == "success"
    assert run.xcom("create_changed_new") != run.xcom("pre_changed_new")


def test_two_inputs_rejected(run: Run) -> None:
    assert run.state("create_two_inputs") == "failed"
    assert run.error("create_two_inputs") == "GeminiInvalidInputError"
    assert run.xcom("create_two_inputs", "batch_name") is None


def test_create_from_path_uploads_then_creates_from_file(run: Run) -> None:
    assert run.state("create_from_path") == "success"
    name = run.xcom("create_from_path")
    body = next(
        e["json"]["batch"]
        for e in run.journal
        if e["method"] == "POST"
        and e["path"].endswith(":batchGenerateContent")
        and e["json"]
        and TaskIdentity(run.result.dag_id, "create_from_path", run.result.run_id).tag
        in json.dumps(e["json"])
    )
    assert name.startswith("batches/")
    assert str(body["inputConfig"].get("fileName", "")).startswith("files/")


# ---------------------------------------------------------------------------------------- sensor


@pytest.mark.parametrize("mode", ["sync", "deferred"])
def test_sensor_succeeds_only_on_succeeded(run: Run, mode: str) -> None:
    assert run.state(f"sense_SUCCEEDED_{mode}") == "success"
    summary = run.xcom(f"sense_SUCCEEDED_{mode}")
    assert summary["state"] == "SUCCEEDED"
    assert summary["batch_name"] == run.xcom(f"mk_SUCCEEDED_{mode}")
    assert summary["stats"]["request_count"] == len(REQS)


@pytest.mark.parametrize("mode", ["sync", "deferred"])
@pytest.mark.parametrize("state", ["FAILED", "CANCELLED", "EXPIRED"])
def test_sensor_fails_on_unsuccessful_terminal_state(run: Run, state: str, mode: str) -> None:
    task_id = f"sense_{state}_{mode}"
    assert run.state(task_id) == "failed"
    assert run.error(task_id) == "GeminiBatchFailedError"
    message = run.message(task_id)
    assert run.xcom(f"mk_{state}_{mode}") in message
    assert f"state {state}" in message
    assert f"{len(REQS)} requests" in message


# ---------------------------------------------------------------------------------------- results


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_results_stream_file_batch_to_destination_with_manifest(run: Run) -> None:
    assert run.state("results_file") == "success"
    manifest = run.xcom("results_file")
    dest = run.tmp / "out" / "file_results.jsonl"
    rows = _rows(dest)
    assert manifest["counts"] == counts_all_succeeded(4)
    assert manifest["destination"] == str(dest)
    assert manifest["state"] == "SUCCEEDED"
    assert sorted(r["key"] for r in rows) == ["f0", "f1", "f2", "f3"]
    assert all(r["status"] == "succeeded" and "response" in r for r in rows)


def test_results_manifest_sums_token_usage(run: Run) -> None:
    manifest = run.xcom("results_inline")
    rows = _rows(run.tmp / "out" / "inline_results.jsonl")
    expected = sum(int(r["response"]["usageMetadata"]["totalTokenCount"]) for r in rows)
    assert manifest["usage"]["totalTokenCount"] == expected > 0


def test_results_below_threshold_succeed_and_keep_failed_rows(run: Run) -> None:
    assert run.state("results_below") == "success"
    manifest = run.xcom("results_below")
    assert manifest["counts"]["total"] == 10
    assert 0 < manifest["counts"]["failed"] <= 5
    rows = _rows(run.tmp / "out" / "results_below.jsonl")
    assert sum(r["status"] == "failed" and "error" in r for r in rows) == manifest["counts"]["failed"]


def test_results_above_threshold_fail_after_writing(run: Run) -> None:
    assert run.state("results_above") == "failed"
    assert run.error("results_above") == "GeminiResultsThresholdError"
    assert len(_rows(run.tmp / "out" / "results_above.jsonl")) == 10
    assert run.xcom("results_above", "manifest")["counts"]["total"] == 10


def test_results_of_cancelled_batch_land_partial_results_then_fail(run: Run) -> None:
    assert run.state("results_CANCELLED") == "failed"
    assert run.error("results_CANCELLED") == "GeminiBatchFailedError"
    manifest = run.xcom("results_CANCELLED", "manifest")
    assert manifest["state"] == "CANCELLED"
    rows = _rows(run.tmp / "out" / "results_CANCELLED.jsonl")
    assert len(rows) == manifest["counts"]["total"] > 0


@pytest.mark.parametrize("state", ["EXPIRED", "FAILED"])
def test_results_of_batch_without_results_say_so(run: Run, state: str) -> None:
    assert run.state(f"results_{state}") == "failed"
    assert run.error(f"results_{state}") == "GeminiBatchFailedError"
    manifest = run.xcom(f"results_{state}", "manifest")
    assert manifest["destination"] is None
    assert "no results" in manifest["note"]
    assert not (run.tmp / "out" / f"results_{state}.jsonl").exists()


def test_results_declares_destination_as_asset_outlet() -> None:
    op = GeminiBatchResultsOperator(task_id="r", batch_name="batches/x", destination="/data/out.jsonl")
    assert [a.uri for a in op.outlets] == ["file:///data/out.jsonl"]
    templated = GeminiBatchResultsOperator(
        task_id="t", batch_name="batches/x", destination="/d/{{ ds }}.jsonl"
    )
    assert templated.outlets == []


# ---------------------------------------------------------------------------------------- cleanup


def test_cancel_operator_cancels_running_batch(run: Run) -> None:
    assert run.state("cancel") == "success"
    assert run.xcom("observe_cancel") == "CANCELLED"


def test_cleanup_operators_are_noops_without_a_name(run: Run) -> None:
    assert run.state("cancel_none") == "success"
    assert run.state("delete_file_none") == "success"


def test_delete_batch_removes_it(run: Run) -> None:
    assert run.state("delete_batch") == "success"
    deletes = [e for e in run.journal if e["method"] == "DELETE" and e["path"].endswith(run.xcom("mk_long"))]
    assert len(deletes) == 1


def test_delete_missing_batch_ignored_unless_strict(run: Run) -> None:
    assert run.state("delete_batch_missing") == "success"
    assert run.state("delete_batch_missing_strict") == "failed"
    assert run.error("delete_batch_missing_strict") == "GeminiNotFoundError"


def test_delete_file_removes_upload(run: Run) -> None:
    assert run.state("delete_file") == "success"
    assert any(e["method"] == "DELETE" and e["path"].endswith(run.xcom("upload")) for e in run.journal)


# ---------------------------------------------------------------------------------------- secrets


def test_no_xcom_holds_the_api_key(run: Run) -> None:
    assert run.emulator.api_key
    assert run.emulator.api_key not in json.dumps(run.result.xcoms)
    messages = [message for tries in run.failures.tries.values() for _, message in tries]
    assert messages, "the run has failed tasks whose messages are searched"
    assert not any(run.emulator.api_key in message for message in messages)


def test_template_fields_never_include_a_key_field() -> None:
    for cls in (
        GeminiCreateBatchOperator,
        GeminiUploadFileOperator,
        GeminiBatchResultsOperator,
        GeminiBatchSensor,
    ):
        assert not any("key" in f or "password" in f for f in cls.template_fields)
