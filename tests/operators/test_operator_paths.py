"""Operators take the paths the hook takes, honour validate=False, link to the right API version.

Operators run in real Airflow (``dag.test()``) against the emulator; nothing is mocked. The
``memory://`` store is fsspec's in-memory filesystem attached to Airflow's ObjectStoragePath with
the public ``airflow.sdk.io.attach`` (tasks of ``dag.test()`` run in this process).
"""

from __future__ import annotations

import datetime
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.identity import TaskIdentity
from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError
from airflow_provider_gemini_batch.operators._idempotency import find_reattachable_batch, find_reusable_file
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiCreateBatchOperator,
    GeminiUploadFileOperator,
)
from tests.fixtures.airflow_env import DagRunResult, run_dag, unique_dag_id
from tests.operators._support import (
    MODEL,
    creates_seen,
    inline_requests,
    sync_hook,
    use_connection,
    write_jsonl,
)


def _run(*ops: Any, dag_id: str) -> DagRunResult:
    from airflow.sdk import DAG

    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        for op in ops:
            dag.add_task(op)
    return run_dag(dag)


@pytest.fixture(autouse=True)
def _metadata_db(airflow_db: str) -> None:
    """Every DAG test here needs the session's migrated metadata database."""


@pytest.fixture
def memory_uri() -> str:
    """A fresh ``memory://`` directory URI usable through ObjectStoragePath."""
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())
    return f"memory://gemini-tests/{uuid.uuid4().hex[:8]}"


def _to_memory(local: str, memory_dir: str) -> str:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    target = ObjectStoragePath(f"{memory_dir}/input.jsonl")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(Path(local).read_bytes())
    return str(target)


@pytest.mark.parametrize("form", ["file", "memory"])
def test_upload_and_create_operators_accept_storage_uris(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    memory_uri: str,
    form: str,
) -> None:
    use_connection(monkeypatch, emulator)
    local = write_jsonl(tmp_path / "in.jsonl", 3)
    uri = f"file://{local}" if form == "file" else _to_memory(local, memory_uri)
    upload = GeminiUploadFileOperator(task_id="upload", path=uri)
    create = GeminiCreateBatchOperator(task_id="create", model=MODEL, input_path=uri)

    result = _run(upload, create, dag_id=unique_dag_id(f"paths_{form}"))

    assert result.task_states == {"upload": "success", "create": "success"}
    assert str(result.xcom("upload")).startswith("files/")
    assert str(result.xcom("create")).startswith("batches/")
    assert creates_seen(emulator) == 1


def test_upload_with_validate_false_does_not_validate(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A line the validator refuses (no "request") is uploaded as is when validate=False."""
    use_connection(monkeypatch, emulator)
    path = tmp_path / "unchecked.jsonl"
    path.write_text('{"key": "a", "contents": []}\n', encoding="utf-8")
    op = GeminiUploadFileOperator(task_id="upload_unchecked", path=str(path), validate=False)

    result = _run(op, dag_id=unique_dag_id("novalidate"))

    assert result.task_states == {"upload_unchecked": "success"}
    assert str(result.xcom("upload_unchecked")).startswith("files/")


def test_unregistered_scheme_is_a_clear_input_error(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, emulator)
    with pytest.raises(GeminiInvalidInputError, match=r"nosuchfs://bucket/in\.jsonl.*Install") as info:
        sync_hook().upload_file("nosuchfs://bucket/in.jsonl")
    assert "nosuchfs://" in str(info.value)
    assert emulator.control.journal() == []  # refused before any request


def test_link_follows_the_connection_api_version(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, emulator, api_version="v1")
    op = GeminiCreateBatchOperator(task_id="create_v1", model=MODEL, requests=inline_requests(1))

    result = _run(op, dag_id=unique_dag_id("link_v1"))

    assert result.task_states == {"create_v1": "success"}
    assert (
        result.xcom("create_v1", "gemini_batch_api_url")
        == f"{emulator.base_url}/v1/{result.xcom('create_v1')}"
    )


def test_lookups_warn_when_the_scan_limit_cuts_them_short(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Four batches and four files exist; a lookup limited to three must say it stopped early."""
    use_connection(monkeypatch, emulator)
    hook = sync_hook()
    for i in range(4):
        hook.create_batch(MODEL, requests=inline_requests(1), display_name=f"other {i}")
        hook.upload_file(write_jsonl(tmp_path / f"f{i}.jsonl", 1))
    identity = TaskIdentity("dag", "task", "run")
    log = logging.getLogger("test.reattach")

    with caplog.at_level(logging.WARNING, logger="test.reattach"):
        decision = find_reattachable_batch(hook, identity, "f" * 12, on_input_change="fail", limit=3, log=log)
        reused = find_reusable_file(hook, identity, "0" * 64, limit=3, log=log)

    assert decision.batch is None
    assert reused is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("3 batches" in w and "reattach_scan_limit=3" in w for w in warnings), warnings
    assert any("3 files" in w and "reattach_scan_limit=3" in w for w in warnings), warnings


def test_lookups_do_not_warn_when_everything_was_scanned(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    use_connection(monkeypatch, emulator)
    hook = sync_hook()
    for i in range(3):
        hook.create_batch(MODEL, requests=inline_requests(1), display_name=f"other {i}")
    log = logging.getLogger("test.reattach")
    with caplog.at_level(logging.WARNING, logger="test.reattach"):
        find_reattachable_batch(
            hook, TaskIdentity("dag", "task", "run"), "f" * 12, on_input_change="fail", limit=3, log=log
        )
    assert [r for r in caplog.records if r.levelno == logging.WARNING] == []
