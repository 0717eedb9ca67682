"""Behaviours the real service was seen to show, end to end: the operators and the sensor in one real DAG run.

Each section of one linear DAG (every task ``trigger_rule="all_done"``, so an expected failure
does not stop the rest) switches the emulator into the named mode that reproduces one behaviour
the real Gemini service was seen to show (docs/emulator.md, "Named modes", lists each mode with
its source), then runs the operators through it. The DAG runs once per module with
``dag.test()``; each test checks one behaviour from the task states, XComs, errors, landed files
and the emulator's journal.

Sources of the behaviours (docs/real-service/*.md has the tables):

* cookbook upload: google-gemini/cookbook ``quickstarts/Batch_mode.ipynb`` cells 42 and 48 outputs
  (the 202-byte embeddings file declared ``jsonl``; embedding rows carry ``tokenCount``);
* ``files_processing``: Embassy-of-the-Free-Mind/sourcelibrary-v2 PR #2186;
* ``per_key_visibility``: a user's report, Wei-Shaw/sub2api issue #612 (the 404 body);
* ``cancel_still_succeeds``: a user's report, python-genai ``JobState.JOB_STATE_CANCELLING``;
* ``succeeded_without_output``: a user's report (no public capture);
* ``JOB_STATE_*`` spellings: python-genai ``types.JobState``;
* prompt markers (blocked / SAFETY / MAX_TOKENS / thought-only): google/langextract
  issue #527, google/generative-ai-docs issue #235, NousResearch/hermes-agent PR #87209;
* ``row_status``: the batch-api guide ("each line is either a GenerateContentResponse or a status
  object"), the ``status`` line form from a user's report;
* ``shuffle_inline`` / ``inline_without_metadata``: python-genai issues #1909, #2008, js-genai #1191;
* ``strict_request_fields``: UKGovernmentBEIS/inspect_ai issue #3257;
* ``refuse_fields`` / ``huge_inline_503``: discuss.ai.google.dev thread 113603 (``refuse_fields``: our
  assumption for proxies that refuse the mask).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_gemini_batch._core.identity import TaskIdentity
from airflow_provider_gemini_batch.emulator import EmulatorServer, fake_model
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCancelBatchOperator,
    GeminiCreateBatchOperator,
    GeminiUploadFileOperator,
)
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
from tests.fixtures.airflow_env import DagRunResult, run_dag, unique_dag_id
from tests.operators._failures import FailureRecorder, RecordedRun, recording_failures
from tests.operators._support import MODEL, inline_requests, sync_hook, write_jsonl
from tests.real_service.captures import COOKBOOK_EMBEDDINGS_INPUT

EMBED_MODEL = "gemini-embedding-001"
FAST = {"poll_interval": 0.05}
#: A second API key the emulator accepts (``per_key_visibility``) and the connection that uses it.
OTHER_KEY = "other-project-key"
OTHER_CONN = "gemini_other"
#: A request field the service refuses at create (inspect_ai #3257: SDK flat config).
REJECTED_LINE = {
    "key": "k1",
    "request": {"contents": [{"parts": [{"text": "hi"}]}], "thinking_config": {"thinking_budget": 0}},
}
MARKERS = ("[[blocked]]", "[[safety]]", "[[max_tokens]]", "[[thought_only]]")


class _Tee(io.TextIOBase):
    """A stream writing to ``target`` and keeping a copy: ``dag.test()`` prints task logs
    (structlog) to the process's stdout/stderr, not through stdlib logging handlers."""

    def __init__(self, target: Any, copy: io.StringIO) -> None:
        self.target, self.copy = target, copy

    def write(self, text: str) -> int:
        self.copy.write(text)
        return int(self.target.write(text))

    def flush(self) -> None:
        self.target.flush()


class Run(RecordedRun):
    """The module's single DAG run plus what the tests need to inspect it (and its log lines)."""

    def __init__(
        self,
        result: DagRunResult,
        tmp: Path,
        emulator: EmulatorServer,
        journal: list[dict[str, Any]],
        failures: FailureRecorder,
        logs: list[str],
    ):
        super().__init__(result, tmp, emulator, journal, failures)
        self.logs = logs

    def tag(self, task_id: str) -> str:
        """The identity marker the operators put in display names for ``task_id``."""
        return TaskIdentity(self.result.dag_id, task_id, self.result.run_id).tag

    def uploads_of(self, task_id: str) -> list[dict[str, Any]]:
        """Upload-session starts whose display name carries ``task_id``'s marker."""
        return [
            e
            for e in self.journal
            if e["method"] == "POST"
            and e["path"].startswith("/upload/")
            and "upload_id" not in (e["query"] or "")
            and self.tag(task_id) in json.dumps(e["json"] or {})
        ]

    def creates_of(self, task_id: str) -> list[dict[str, Any]]:
        """Batch-create calls whose display name carries ``task_id``'s marker."""
        return [
            e
            for e in self.journal
            if e["method"] == "POST"
            and e["path"].endswith((":batchGenerateContent", ":asyncBatchEmbedContent"))
            and self.tag(task_id) in json.dumps(e["json"] or {})
        ]

    def gets_of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.journal if e["method"] == "GET" and e["path"].endswith("/" + name)]

    def rows(self, name: str) -> list[dict[str, Any]]:
        text = (self.tmp / "out" / name).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]


def _prompt(i: int, text: str = "question") -> dict[str, Any]:
    return {"contents": [{"parts": [{"text": f"{text} {i}"}]}]}


def _build_dag(dag_id: str, tmp: Path, emulator: EmulatorServer) -> Any:
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    control = emulator.control
    cookbook = tmp / "cookbook_embeddings.jsonl"
    cookbook.write_bytes(COOKBOOK_EMBEDDINGS_INPUT)
    rejected = tmp / "rejected.jsonl"
    rejected.write_text(json.dumps(REJECTED_LINE) + "\n", encoding="utf-8")
    out = tmp / "out"
    tasks: list[Any] = []
    dag = DAG(
        dag_id,
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1),
        default_args={"trigger_rule": "all_done", "retries": 0},
    )
    dag.__enter__()

    def py(task_id: str, fn: Callable[..., Any]) -> None:
        tasks.append(PythonOperator(task_id=task_id, python_callable=fn))

    def add(op: Any) -> None:
        tasks.append(op)

    def setup(task_id: str, *modes: str, **knobs: Any) -> None:
        """Switch the emulator to exactly ``modes``, every other knob back to the module's default."""
        settings: dict[str, Any] = {"processing_seconds": 0.2, "error_fraction": 0.0, "state_names": {}}
        settings.update(knobs)
        py(task_id, lambda: control.configure(modes=list(modes), **settings))

    def make_batch(task_id: str, reqs: list[dict[str, Any]], **knobs: Any) -> None:
        """Create a batch the way another task (or another DAG) would have; returns its name."""

        def make() -> str:
            if knobs:
                control.configure(**knobs)
            try:
                return str(sync_hook().create_batch(MODEL, requests=reqs).name)
            finally:
                control.configure(processing_seconds=0.2)

        py(task_id, make)

    # ---------------------------------------------------------------- cookbook fixture, embedding usage
    def fail_first_try(context: Any, result: Any = None) -> None:
        # The worker "dies" after the upload of try 1; try 2 must reuse that file.
        if context["ti"].try_number == 1:
            raise RuntimeError("simulated worker loss after the upload")

    setup("setup_cookbook")
    add(
        GeminiUploadFileOperator(
            task_id="upload_cookbook",
            path=str(cookbook),
            mime_type="jsonl",
            display_name="cookbook embeddings",
            retries=1,
            retry_delay=datetime.timedelta(seconds=0),
            post_execute=fail_first_try,
        )
    )
    py(
        "read_cookbook_file",
        lambda ti: dict(sync_hook().get_file(ti.xcom_pull(task_ids="upload_cookbook")).raw),
    )
    add(
        GeminiCreateBatchOperator(
            task_id="create_embed",
            model=EMBED_MODEL,
            embeddings=True,
            input_file="{{ ti.xcom_pull(task_ids='upload_cookbook') }}",
            wait_for_completion=True,
            **FAST,
        )
    )
    add(
        GeminiBatchResultsOperator(
            task_id="results_embed",
            batch_name="{{ ti.xcom_pull(task_ids='create_embed') }}",
            destination=str(out / "embed.jsonl"),
        )
    )

    # ---------------------------------------------------------------- files_processing
    setup("setup_processing", "files_processing", file_processing_seconds=3)
    add(
        GeminiCreateBatchOperator(
            task_id="create_processing",
            model=MODEL,
            input_path=write_jsonl(tmp / "processing.jsonl", 3, "p"),
            input_mime_type="jsonl",
            file_active_timeout=60,
        )
    )

    # ---------------------------------------------------------------- per_key_visibility
    setup("setup_per_key", "per_key_visibility", extra_api_keys=[OTHER_KEY])
    add(GeminiCreateBatchOperator(task_id="create_per_key", model=MODEL, requests=inline_requests(2, "v")))
    for mode in ("sync", "deferred"):
        add(
            GeminiBatchSensor(
                task_id=f"sense_other_key_{mode}",
                batch_name="{{ ti.xcom_pull(task_ids='create_per_key') }}",
                gemini_conn_id=OTHER_CONN,
                deferrable=mode == "deferred",
                timeout=30,
                **FAST,
            )
        )
    add(
        GeminiBatchResultsOperator(
            task_id="results_other_key",
            batch_name="{{ ti.xcom_pull(task_ids='create_per_key') }}",
            destination=str(out / "other_key.jsonl"),
            gemini_conn_id=OTHER_CONN,
        )
    )
    add(
        GeminiBatchSensor(
            task_id="sense_same_key",
            batch_name="{{ ti.xcom_pull(task_ids='create_per_key') }}",
            timeout=30,
            **FAST,
        )
    )

    # ---------------------------------------------------------------- cancel_still_succeeds
    setup("setup_cancel", "cancel_still_succeeds")
    make_batch("mk_cancel", inline_requests(2, "c"), processing_seconds=3)
    add(
        GeminiCancelBatchOperator(
            task_id="cancel_still_succeeds",
            batch_name="{{ ti.xcom_pull(task_ids='mk_cancel') }}",
            settle_timeout=30,
        )
    )
    make_batch("mk_sensor_timeout", inline_requests(2, "t"), processing_seconds=3)
    add(
        GeminiBatchSensor(
            task_id="sense_cancel_on_timeout",
            batch_name="{{ ti.xcom_pull(task_ids='mk_sensor_timeout') }}",
            timeout=1,
            cancel_on_timeout=True,
            deferrable=False,
            poll_interval=0.2,
        )
    )
    # The same timeout where the cancel really cancels: the task must not succeed.
    setup("setup_cancel_real")
    make_batch("mk_sensor_timeout_real", inline_requests(2, "u"), processing_seconds=30)
    add(
        GeminiBatchSensor(
            task_id="sense_cancel_on_timeout_real",
            batch_name="{{ ti.xcom_pull(task_ids='mk_sensor_timeout_real') }}",
            timeout=1,
            cancel_on_timeout=True,
            deferrable=False,
            poll_interval=0.2,
        )
    )

    # ---------------------------------------------------------------- succeeded_without_output
    setup("setup_no_output", "succeeded_without_output")
    add(
        GeminiCreateBatchOperator(
            task_id="create_no_output",
            model=MODEL,
            requests=inline_requests(2, "n"),
            wait_for_completion=True,
            output_grace_period=0.5,
            **FAST,
        )
    )
    make_batch("mk_no_output", inline_requests(2, "m"))
    add(
        GeminiBatchSensor(
            task_id="sense_no_output_deferred",
            batch_name="{{ ti.xcom_pull(task_ids='mk_no_output') }}",
            deferrable=True,
            output_grace_period=0.5,
            timeout=60,
            **FAST,
        )
    )

    # ---------------------------------------------------------------- state spellings
    job_states = {
        "PENDING": "JOB_STATE_QUEUED",
        "RUNNING": "JOB_STATE_RUNNING",
        "SUCCEEDED": "JOB_STATE_SUCCEEDED",
    }
    setup("setup_job_states", processing_seconds=1.5, state_names=job_states)
    for mode in ("sync", "deferred"):
        add(
            GeminiCreateBatchOperator(
                task_id=f"create_job_states_{mode}",
                model=MODEL,
                requests=inline_requests(2, f"j{mode}"),
                wait_for_completion=True,
                deferrable=mode == "deferred",
                **FAST,
            )
        )
    add(
        GeminiBatchResultsOperator(
            task_id="results_job_states",
            batch_name="{{ ti.xcom_pull(task_ids='create_job_states_sync') }}",
            destination=str(out / "job_states.jsonl"),
        )
    )
    setup("setup_unknown_state", processing_seconds=1.5, state_names={"RUNNING": "BATCH_STATE_PAUSED"})
    add(
        GeminiCreateBatchOperator(
            task_id="create_unknown_state",
            model=MODEL,
            requests=inline_requests(2, "x"),
            wait_for_completion=True,
            **FAST,
        )
    )

    # ---------------------------------------------------------------- prompt markers
    setup("setup_markers")
    marker_reqs = [{"key": f"ok{i}", "request": _prompt(i)} for i in range(2)] + [
        {"key": m.strip("[]"), "request": _prompt(0, f"question {m}")} for m in MARKERS
    ]
    add(
        GeminiCreateBatchOperator(
            task_id="create_markers", model=MODEL, requests=marker_reqs, wait_for_completion=True, **FAST
        )
    )
    for task_id, ratio in (("results_markers_below", 0.7), ("results_markers_above", 0.5)):
        add(
            GeminiBatchResultsOperator(
                task_id=task_id,
                batch_name="{{ ti.xcom_pull(task_ids='create_markers') }}",
                destination=str(out / f"{task_id}.jsonl"),
                max_failed_ratio=ratio,
            )
        )

    # ---------------------------------------------------------------- row_status
    setup("setup_row_status", "row_status", error_fraction=0.5)
    add(
        GeminiCreateBatchOperator(
            task_id="create_row_status",
            model=MODEL,
            input_path=write_jsonl(tmp / "row_status.jsonl", 4, "s"),
            wait_for_completion=True,
            **FAST,
        )
    )
    add(
        GeminiBatchResultsOperator(
            task_id="results_row_status",
            batch_name="{{ ti.xcom_pull(task_ids='create_row_status') }}",
            destination=str(out / "row_status.jsonl"),
            max_failed_ratio=1.0,
        )
    )

    # ---------------------------------------------------------------- inline joins
    keyed = [{"key": f"z{i}", "request": _prompt(i)} for i in range(6)]
    bare = [_prompt(i) for i in range(6)]
    for section, modes, reqs in (
        ("shuffled_keyed", ("shuffle_inline",), keyed),
        ("shuffled_bare", ("shuffle_inline",), bare),
        ("no_metadata_bare", ("inline_without_metadata",), bare),
    ):
        setup(f"setup_{section}", *modes)
        add(
            GeminiCreateBatchOperator(
                task_id=f"create_{section}", model=MODEL, requests=reqs, wait_for_completion=True, **FAST
            )
        )
        add(
            GeminiBatchResultsOperator(
                task_id=f"results_{section}",
                batch_name=f"{{{{ ti.xcom_pull(task_ids='create_{section}') }}}}",
                destination=str(out / f"{section}.jsonl"),
            )
        )

    # ---------------------------------------------------------------- strict_request_fields
    setup("setup_strict", "strict_request_fields")
    add(GeminiCreateBatchOperator(task_id="create_rejected_path", model=MODEL, input_path=str(rejected)))
    add(GeminiCreateBatchOperator(task_id="create_rejected_inline", model=MODEL, requests=[REJECTED_LINE]))
    add(GeminiUploadFileOperator(task_id="upload_rejected", path=str(rejected)))
    add(GeminiUploadFileOperator(task_id="upload_unvalidated", path=str(rejected), validate=False))
    add(
        GeminiCreateBatchOperator(
            task_id="create_from_unvalidated",
            model=MODEL,
            input_file="{{ ti.xcom_pull(task_ids='upload_unvalidated') }}",
        )
    )

    # ---------------------------------------------------------------- refuse_fields
    setup("setup_refuse_fields", "refuse_fields", processing_seconds=0.5)
    for mode in ("sync", "deferred"):
        add(
            GeminiCreateBatchOperator(
                task_id=f"create_refuse_fields_{mode}",
                model=MODEL,
                requests=inline_requests(2, f"r{mode}"),
                wait_for_completion=True,
                deferrable=mode == "deferred",
                **FAST,
            )
        )

    # ---------------------------------------------------------------- huge_inline_503
    # A full GET of the huge batch (~100 kB) is over the limit; light answers of it (and light
    # lists of every batch so far) are well under it.
    setup("setup_huge", "huge_inline_503", huge_output_bytes=60_000, processing_seconds=0.5)
    huge = [{"key": f"h{i}", "request": _prompt(i, "a long question " * 20)} for i in range(150)]
    add(
        GeminiCreateBatchOperator(
            task_id="create_huge", model=MODEL, requests=huge, wait_for_completion=True, **FAST
        )
    )
    # Any later create in the project lists batches to find its own: the list holds the huge one.
    add(
        GeminiCreateBatchOperator(
            task_id="create_after_huge",
            model=MODEL,
            requests=inline_requests(2, "a"),
            wait_for_completion=True,
            **FAST,
        )
    )

    def full_get(ti: Any) -> int:
        # A plain full GET (no fields, no retries) of the same batch: what a full-read poll meets.
        name = ti.xcom_pull(task_ids="create_huge")
        answer = requests.get(
            f"{emulator.base_url}/v1beta/{name}",
            headers={"x-goog-api-key": str(emulator.api_key)},
            timeout=30,
        )
        return answer.status_code

    py("full_get_huge", full_get)
    add(
        GeminiBatchSensor(
            task_id="sense_huge_deferred",
            batch_name="{{ ti.xcom_pull(task_ids='create_huge') }}",
            deferrable=True,
            timeout=60,
            **FAST,
        )
    )
    setup("setup_done")

    for upstream, downstream in itertools.pairwise(tasks):
        upstream >> downstream
    dag.__exit__(None, None, None)
    return dag


@pytest.fixture(scope="module")
def run(
    airflow_db: str, emulator_server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    emulator_server.control.reset()
    tmp = tmp_path_factory.mktemp("real_ops")
    (tmp / "out").mkdir()
    logs = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for conn_id, key in (("GEMINI_BATCH_DEFAULT", emulator_server.api_key), ("GEMINI_OTHER", OTHER_KEY)):
            conn = {"conn_type": "gemini_batch", "host": emulator_server.base_url, "password": key}
            mp.setenv(f"AIRFLOW_CONN_{conn_id}", json.dumps(conn))
        dag = _build_dag(unique_dag_id("real_ops"), tmp, emulator_server)
        with (
            recording_failures() as failures,
            contextlib.redirect_stdout(_Tee(sys.stdout, logs)),
            contextlib.redirect_stderr(_Tee(sys.stderr, logs)),
        ):
            result = run_dag(dag)
        journal = emulator_server.control.journal()
        emulator_server.control.reset()
        yield Run(result, tmp, emulator_server, journal, failures, logs.getvalue().splitlines())


# ---------------------------------------------------------------------------------------- cookbook


def test_cookbook_fixture_uploads_once_and_is_reused_by_the_retry(run: Run) -> None:
    """Cookbook cell 42: the 202-byte file declared ``jsonl``. Try 1 uploads and "dies"; try 2
    finds that file by its tag and content hash (base64 of the hex digest) and reuses it."""
    assert run.state("upload_cookbook") == "success"
    assert run.result.tries["upload_cookbook"] == 2
    assert run.error("upload_cookbook") == "RuntimeError"  # try 1 failed after uploading
    starts = run.uploads_of("upload_cookbook")
    assert len(starts) == 1
    assert starts[0]["headers"]["x-goog-upload-header-content-type"] == "jsonl"
    assert starts[0]["headers"]["x-goog-upload-header-content-length"] == "202"
    resource = run.xcom("read_cookbook_file")
    assert resource["name"] == run.xcom("upload_cookbook")
    assert (resource["mimeType"], resource["sizeBytes"], resource["state"]) == ("jsonl", "202", "ACTIVE")


def test_embeddings_batch_from_the_cookbook_file_lands_with_token_count(run: Run) -> None:
    """Cookbook cell 48: embedding rows carry their own ``tokenCount``; the manifest sums it."""
    assert run.state("create_embed") == "success"
    (create,) = run.creates_of("create_embed")
    assert create["path"].endswith(f"models/{EMBED_MODEL}:asyncBatchEmbedContent")
    assert create["json"]["batch"]["inputConfig"]["fileName"] == run.xcom("upload_cookbook")
    manifest = run.xcom("results_embed")
    assert run.state("results_embed") == "success"
    assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] == 2
    assert manifest["usage"] == {"tokenCount": 2}  # "1" and "2": one word each
    rows = {r["key"]: r for r in run.rows("embed.jsonl")}
    assert sorted(rows) == ["request_1", "request_2"]
    assert len(rows["request_1"]["response"]["embedding"]["values"]) == 3  # output_dimensionality
    assert len(rows["request_2"]["response"]["embedding"]["values"]) == 4


# ---------------------------------------------------------------------------------------- files


def test_create_from_path_waits_for_active_file_then_creates_once(run: Run) -> None:
    """files_processing (sourcelibrary-v2 PR #2186): the file is PROCESSING for 3 s; the create
    reads it until ACTIVE instead of meeting 400 FAILED_PRECONDITION, and creates one batch."""
    assert run.state("create_processing") == "success"
    (start,) = run.uploads_of("create_processing")
    assert start["headers"]["x-goog-upload-header-content-type"] == "jsonl"
    (create,) = run.creates_of("create_processing")
    file_name = create["json"]["batch"]["inputConfig"]["fileName"]
    assert len(run.gets_of(file_name)) >= 2  # read while PROCESSING, then ACTIVE


# ---------------------------------------------------------------------------------------- per key


def test_create_records_its_connection_id(run: Run) -> None:
    assert run.xcom("create_per_key", "gemini_conn_id") == "gemini_batch_default"
    assert run.xcom("sense_other_key_sync", "gemini_conn_id") == OTHER_CONN


@pytest.mark.parametrize("task_id", ["sense_other_key_sync", "sense_other_key_deferred", "results_other_key"])
def test_batch_read_with_another_key_says_it_is_visible_only_to_its_creator(run: Run, task_id: str) -> None:
    """per_key_visibility: another key gets 404; the message names the cause."""
    assert run.state(task_id) == "failed"
    message = run.message(task_id)
    assert run.xcom("create_per_key") in message
    assert "404" in message
    assert "visible only to the API key (Google Cloud project) that created it" in message
    assert "gemini_conn_id" in message
    assert OTHER_KEY not in message
    assert str(run.emulator.api_key) not in message
    assert run.state("sense_same_key") == "success"  # the creator's connection still sees it


# ---------------------------------------------------------------------------------------- cancel


def test_cancel_operator_reports_the_state_the_batch_really_ended_in(run: Run) -> None:
    """cancel_still_succeeds: the cancel is accepted, the batch ends SUCCEEDED."""
    assert run.state("cancel_still_succeeds") == "success"
    name = run.xcom("mk_cancel")
    assert any(e["method"] == "POST" and e["path"].endswith(f"{name}:cancel") for e in run.journal)
    summary = run.xcom("cancel_still_succeeds")
    assert summary["batch_name"] == name
    assert summary["state"] == "SUCCEEDED"
    assert summary["stats"]["successful_request_count"] == 2


def test_sensor_cancel_on_timeout_succeeds_when_the_batch_still_succeeded(run: Run) -> None:
    name = run.xcom("mk_sensor_timeout")
    assert run.state("sense_cancel_on_timeout") == "success"
    assert any(e["method"] == "POST" and e["path"].endswith(f"{name}:cancel") for e in run.journal)
    assert run.xcom("sense_cancel_on_timeout")["state"] == "SUCCEEDED"


def test_sensor_cancel_on_timeout_fails_when_the_cancel_took(run: Run) -> None:
    assert run.state("sense_cancel_on_timeout_real") == "failed"
    assert run.error("sense_cancel_on_timeout_real") == "GeminiBatchFailedError"
    assert "CANCELLED" in run.message("sense_cancel_on_timeout_real")


# ---------------------------------------------------------------------------------------- no output


@pytest.mark.parametrize("task_id", ["create_no_output", "sense_no_output_deferred"])
def test_success_without_output_fails_clearly_after_the_grace(run: Run, task_id: str) -> None:
    """succeeded_without_output: never a 0-result success."""
    assert run.state(task_id) == "failed"
    assert run.error(task_id) == "GeminiBatchOutputMissingError"
    message = run.message(task_id)
    assert "reports SUCCEEDED but names no output" in message
    assert "output_grace_period" in message


# ---------------------------------------------------------------------------------------- states


@pytest.mark.parametrize("task_id", ["create_job_states_sync", "create_job_states_deferred"])
def test_job_state_spellings_are_waited_through(run: Run, task_id: str) -> None:
    """python-genai ``JobState``: JOB_STATE_QUEUED / RUNNING / SUCCEEDED end the wait as success."""
    assert run.state(task_id) == "success"
    assert run.xcom("results_job_states")["state"] == "SUCCEEDED"
    assert run.xcom("results_job_states")["counts"]["succeeded"] == 2


def test_unknown_state_keeps_the_wait_going_with_a_warning(run: Run) -> None:
    assert run.state("create_unknown_state") == "success"
    assert any("BATCH_STATE_PAUSED" in m for m in run.logs)


# ---------------------------------------------------------------------------------------- rows


def test_markers_are_counted_per_outcome(run: Run) -> None:
    """Blocked / SAFETY / MAX_TOKENS / thought-only rows are not successes."""
    assert run.state("results_markers_below") == "success"
    counts = run.xcom("results_markers_below")["counts"]
    assert counts["succeeded"] == 2
    assert counts["failed"] == 4
    assert counts["by_outcome"] == {
        "succeeded": 2,
        "error": 0,
        "blocked": 1,
        "stopped": 1,
        "max_tokens": 1,
        "no_output": 1,
        "missing": 0,
    }
    rows = {r["key"]: r for r in run.rows("results_markers_below.jsonl")}
    assert (rows["blocked"]["outcome"], rows["blocked"]["reason"]) == ("blocked", "SAFETY")
    assert (rows["safety"]["outcome"], rows["safety"]["reason"]) == ("stopped", "SAFETY")
    assert (rows["max_tokens"]["outcome"], rows["max_tokens"]["reason"]) == ("max_tokens", "MAX_TOKENS")
    assert (rows["thought_only"]["outcome"], rows["thought_only"]["reason"]) == ("no_output", "ONLY_THOUGHTS")
    assert all(rows[k]["status"] == "failed" and "response" in rows[k] for k in ("blocked", "safety"))


def test_max_failed_ratio_counts_every_row_without_a_usable_answer(run: Run) -> None:
    assert run.state("results_markers_above") == "failed"
    assert run.error("results_markers_above") == "GeminiResultsThresholdError"
    message = run.message("results_markers_above")
    assert "4 of 6" in message
    assert "1 blocked, 1 stopped, 1 max_tokens, 1 no_output" in message
    assert len(run.rows("results_markers_above.jsonl")) == 6


def test_status_rows_keep_code_and_message(run: Run) -> None:
    """row_status (batch-api guide): per-row ``status`` errors keep code and message."""
    assert run.state("results_row_status") == "success"
    counts = run.xcom("results_row_status")["counts"]
    assert counts["by_outcome"]["error"] == counts["failed"] == 2
    failed = [r for r in run.rows("row_status.jsonl") if r["status"] == "failed"]
    assert sorted(r["key"] for r in failed) == ["s1", "s3"]  # error_fraction 0.5: positions 1 and 3
    for row in failed:
        assert row["outcome"] == "error"
        assert row["reason"] == "INVALID_ARGUMENT"
        assert row["error"]["code"] == 3
        assert row["error"]["message"]
        assert row["retryable"] is False


# ---------------------------------------------------------------------------------------- joins


def _answers_match_keys(rows: list[dict[str, Any]], prompts: dict[str, dict[str, Any]]) -> None:
    assert sorted(r["key"] for r in rows) == sorted(prompts)
    for row in rows:
        text = row["response"]["candidates"][0]["content"]["parts"][-1]["text"]
        assert text == fake_model.expected_text(prompts[row["key"]]), row["key"]


def test_shuffled_inline_rows_join_on_user_keys(run: Run) -> None:
    """shuffle_inline (python-genai #1909): rows come back out of order; keys still match answers."""
    assert run.state("results_shuffled_keyed") == "success"
    rows = run.rows("shuffled_keyed.jsonl")
    _answers_match_keys(rows, {f"z{i}": _prompt(i) for i in range(6)})
    assert [r["key"] for r in rows] != [f"z{i}" for i in range(6)]  # the mode really shuffled


def test_shuffled_inline_rows_join_on_generated_keys(run: Run) -> None:
    """Requests without keys get ``request-<n>`` at create, so shuffled rows still join."""
    assert run.state("results_shuffled_bare") == "success"
    (create,) = run.creates_of("create_shuffled_bare")
    sent = create["json"]["batch"]["inputConfig"]["requests"]["requests"]
    assert [r["metadata"]["key"] for r in sent] == [f"request-{i}" for i in range(6)]
    rows = run.rows("shuffled_bare.jsonl")
    _answers_match_keys(rows, {f"request-{i}": _prompt(i) for i in range(6)})
    assert [r["key"] for r in rows] != [f"request-{i}" for i in range(6)]
    assert run.xcom("results_shuffled_bare")["counts"]["keyless"] == 0


def test_inline_rows_without_metadata_get_their_request_position(run: Run) -> None:
    """inline_without_metadata (python-genai #2008): key-less rows are keyed by position, marked."""
    assert run.state("results_no_metadata_bare") == "success"
    rows = run.rows("no_metadata_bare.jsonl")
    _answers_match_keys(rows, {f"request-{i}": _prompt(i) for i in range(6)})
    assert all(r["key_inferred"] is True for r in rows)
    manifest = run.xcom("results_no_metadata_bare")
    assert manifest["counts"]["keyless"] == 6
    assert manifest["expected_requests"] == 6


# ---------------------------------------------------------------------------------------- input


@pytest.mark.parametrize(
    ("task_id", "error"),
    [
        ("create_rejected_path", "GeminiInputFileError"),
        ("create_rejected_inline", "GeminiInvalidInputError"),
        ("upload_rejected", "GeminiInputFileError"),
    ],
)
def test_input_the_service_rejects_is_refused_before_sending(run: Run, task_id: str, error: str) -> None:
    """inspect_ai #3257: ``thinking_config`` at the top of a request; refused by our check."""
    assert run.state(task_id) == "failed"
    assert run.error(task_id) == error
    message = run.message(task_id)
    assert "line 1" in message or "requests[0]" in message
    assert "key 'k1'" in message
    assert "request.thinking_config" in message
    assert "generationConfig.thinkingConfig" in message
    assert run.uploads_of(task_id) == []
    assert run.creates_of(task_id) == []


def test_unvalidated_input_meets_the_services_error_on_line(run: Run) -> None:
    """With ``validate=False`` the same file is uploaded; strict_request_fields then refuses the
    create with the service's own ``Error on line N`` text, which the task's error carries."""
    assert run.state("upload_unvalidated") == "success"
    assert len(run.uploads_of("upload_unvalidated")) == 1
    assert run.state("create_from_unvalidated") == "failed"
    assert run.error("create_from_unvalidated") == "GeminiClientError"
    message = run.message("create_from_unvalidated")
    assert "HTTP 400" in message
    assert "Error on line 1: invalid JSON, near column" in message
    assert "no such field: 'thinking_config'" in message


# ---------------------------------------------------------------------------------------- polls


def _batch_gets(run: Run, task_id: str) -> list[dict[str, Any]]:
    return run.gets_of(run.xcom(task_id))


@pytest.mark.parametrize("mode", ["sync", "deferred"])
def test_refused_fields_fall_back_to_full_reads(run: Run, mode: str) -> None:
    """refuse_fields: a refused mask is tried once per hook (the create's lookup
    list is the first light request; the triggerer's hook polls on its own), then full reads;
    the batch is still waited out, and the fallback is logged."""
    task_id = f"create_refuse_fields_{mode}"
    assert run.state(task_id) == "success"
    gets = _batch_gets(run, task_id)
    with_fields = [e for e in gets if "fields=" in (e["query"] or "")]
    assert len(with_fields) <= 1
    assert with_fields == gets[: len(with_fields)]  # never a light read after the refusal
    assert len(gets) > len(with_fields)
    assert any("refused the partial-response mask" in m for m in run.logs)
    if mode == "deferred":
        assert run.xcom(task_id, "batch_summary")["state"] == "SUCCEEDED"


def test_light_polls_succeed_where_a_full_get_gets_503(run: Run) -> None:
    """huge_inline_503 (discuss.ai.google.dev 113603): the full GET of the batch answers 503, the
    ``fields`` polls of the wait (sync and deferred) still see it succeed."""
    assert run.state("create_huge") == "success", run.message("create_huge")
    # Its create task listed batches light (LIST_FIELDS), so a project holding it still works.
    assert run.state("create_after_huge") == "success", run.message("create_after_huge")
    assert run.xcom("full_get_huge") == 503
    assert run.state("sense_huge_deferred") == "success"
    assert run.xcom("sense_huge_deferred")["state"] == "SUCCEEDED"
    gets = _batch_gets(run, "create_huge")
    full = [e for e in gets if "fields=" not in (e["query"] or "")]
    assert len(full) == 1  # the probe; every poll of the operator and the sensor was light
    assert len(gets) > 1
