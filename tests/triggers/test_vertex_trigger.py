"""The trigger waits for Vertex AI jobs with the async hook, alone or many at once.

Many waits of one connection switch the shared poller to batch-list pages, which list Gemini API
batches only; a Vertex job is then still read with its own GET (never a list walk it cannot be
found in). Real triggers against the emulator; the journal shows what was sent.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.hooks.vertex import VertexBatchHook, hook_for
from airflow_provider_gemini_batch.triggers import _poller as poller_module
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger
from tests.fixtures.vertex import vertex_connection
from tests.operators._support import MODEL, write_jsonl

CONN = "gemini_vertex"


@pytest.fixture
def vertex_hook(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> VertexBatchHook:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", vertex_connection(emulator.base_url))
    hook = hook_for(CONN)
    assert isinstance(hook, VertexBatchHook)
    return hook


def _create(hook: VertexBatchHook, tmp_path: Path, n: int) -> list[str]:
    source = write_jsonl(tmp_path / "in.jsonl", 2, "t")
    uri = "gs://demo-bucket/trigger/in.jsonl"
    hook.upload_input(source, uri)
    return [
        hook.create_batch(
            MODEL, input_file=uri, output_uri=f"gs://demo-bucket/trigger/{i}/", display_name=f"t{i}"
        ).name
        for i in range(n)
    ]


async def _event(name: str) -> dict[str, Any]:
    trigger = GeminiBatchTrigger(
        batch_name=name, gemini_conn_id=CONN, poll_interval=0.05, end_time=time.time() + 60
    )
    try:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")
    finally:
        await trigger.cleanup()


async def test_many_vertex_waits_read_each_job_with_its_own_get(
    vertex_hook: VertexBatchHook, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Shared list walks from the second waiting trigger on (default 16).
    monkeypatch.setattr(poller_module, "SHARED_LIST_MIN_WAITS", 2)
    names = await asyncio.to_thread(_create, vertex_hook, tmp_path, 3)
    emulator.control.clear_journal()

    events = await asyncio.gather(*(_event(name) for name in names))

    assert [e["batch_name"] for e in events] == names
    assert {e["status"] for e in events} == {"success"}
    journal = emulator.control.journal()
    assert not any(e["path"].endswith("/batches") for e in journal)
    gets = {e["path"] for e in journal if e["method"] == "GET" and "/batchPredictionJobs/" in e["path"]}
    assert {p.rsplit("/", 1)[1] for p in gets} == {n.rsplit("/", 1)[1] for n in names}
