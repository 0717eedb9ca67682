"""Interruptions: a triggerer restarted mid-wait, and a results download cut off midway."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiTransportError
from tests.fixtures.airflow_env import unique_dag_id
from tests.hooks.proxy import CuttingProxy
from tests.reliability._support import MODEL, create_calls, direct_context, keyed_requests, landed_rows, run


def test_triggerer_restart_rebuilds_from_stored_kwargs_without_a_second_batch(
    airflow_db: str, gemini_conn: EmulatorServer
) -> None:
    """create(wait, deferrable) defers; the trigger goes through Airflow's own storage (serde and
    the encrypted ``trigger`` row); the first triggerer dies mid-wait; a second one rebuilds it
    from the stored kwargs, keeps the deadline and finishes; the worker resumes from the event."""
    from airflow.models.trigger import Trigger
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.serde import deserialize, serialize

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator

    try:
        from airflow.sdk.exceptions import TaskDeferred
    except ImportError:  # pragma: no cover - older layouts
        from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined]

    gemini_conn.control.configure(processing_seconds=1.5)
    op = GeminiCreateBatchOperator(
        task_id="create",
        model=MODEL,
        requests=keyed_requests(3),
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.1,
        timeout=600,
    )
    context = direct_context(task_id="create")
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    classpath, kwargs = deferred.value.trigger.serialize()
    # What the worker stores and the triggerer reads back: serde, then the encrypted DB row.
    row = Trigger(classpath=classpath, kwargs=deserialize(serialize(kwargs)))
    stored_classpath, stored_kwargs = row.classpath, row.kwargs

    async def first_life() -> None:
        trigger = import_string(stored_classpath)(**stored_kwargs)
        task = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(0.4)  # polling: the batch is still running
        task.cancel()  # the triggerer process goes away
        with pytest.raises(asyncio.CancelledError):
            await task
        await trigger.cleanup()

    async def second_life() -> tuple[Any, float]:
        trigger = import_string(stored_classpath)(**stored_kwargs)
        try:
            return (await anext(trigger.run())).payload, trigger.end_time
        finally:
            await trigger.cleanup()

    asyncio.run(first_life())
    time.sleep(0.2)
    event, end_time = asyncio.run(second_life())

    assert end_time == kwargs["end_time"]  # the budget was not reset by the restart
    assert event["status"] == "success"
    assert op.execute_complete(context, event) == context["ti"].pushed["batch_name"]
    assert len(create_calls(gemini_conn)) == 1


def test_results_download_cut_off_midway_leaves_no_complete_looking_file(
    airflow_db: str, gemini_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The result file's bytes stop halfway (a real cut TCP stream): the results task fails and
    the destination directory holds nothing; a later try lands every row."""
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiBatchResultsOperator
    from tests.operators._support import sync_hook

    hook = sync_hook()
    name = hook.upload_file(_jsonl(tmp_path / "in.jsonl", 300)).name
    batch = hook.create_batch(MODEL, input_file=name)
    while not (batch := hook.get_batch(batch.name)).done:
        time.sleep(0.05)
    out_dir = tmp_path / "landing"
    destination = out_dir / "results.jsonl"
    host, port = gemini_conn.base_url.removeprefix("http://").split(":")
    # Big enough to let the batch lookup through, small enough to cut the result file.
    with CuttingProxy(host, int(port), cut_after=6000) as proxy:
        monkeypatch.setenv(
            "AIRFLOW_CONN_GEMINI_CUT",
            json.dumps(
                {
                    "conn_type": "gemini_batch",
                    "host": proxy.base_url,
                    "password": gemini_conn.api_key,
                    "extra": {"max_retries": 0},
                }
            ),
        )
        op = GeminiBatchResultsOperator(
            task_id="results",
            batch_name=batch.name,
            destination=str(destination),
            gemini_conn_id="gemini_cut",
        )
        with pytest.raises(GeminiTransportError):
            op.execute(direct_context(task_id="results"))
    assert not destination.exists()
    assert not out_dir.exists() or os.listdir(out_dir) == []

    # A later try (here: a DAG run over the direct connection) lands all of it.
    with DAG(unique_dag_id("cut_then_land"), schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        GeminiBatchResultsOperator(task_id="results", batch_name=batch.name, destination=str(destination))
    result = run(dag)
    assert result.states["results"] == "success"
    assert len(landed_rows(destination)) == 300
    assert os.listdir(out_dir) == ["results.jsonl"]


def _jsonl(path: Path, n: int) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        for row in keyed_requests(n):
            fh.write(json.dumps(row) + "\n")
    return str(path)
