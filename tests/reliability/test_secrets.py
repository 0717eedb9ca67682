"""The API key never leaves the connection: not in logs, XCom, rendered fields or trigger kwargs.

``example_gemini_batch_file`` runs with ``dag.test()`` against an emulator that accepts only a
unique random key (so every request really carried it). Then every place Airflow could have kept a
copy is searched: every log line (pytest's log capture at DEBUG, everything written to the
process's stdout/stderr - where ``dag.test()`` prints task logs - and any file under
``$AIRFLOW_HOME/logs``), every XCom row, every rendered-template-fields row, every stored trigger
(raw encrypted column and decrypted kwargs), the task instances' ``next_kwargs``, and the kwargs of
a serialized :class:`GeminiBatchTrigger`. Finally, the key must be registered with the masker.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.emulator.guard import credential_mark
from tests.examples.test_example_dags import load_example
from tests.reliability._support import run


@pytest.fixture
def unique_key_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[EmulatorServer, str]]:
    key = f"AIza-reliability-{secrets.token_hex(16)}"
    with EmulatorServer(api_key=key, processing_seconds=0.2, data_dir=tmp_path / "emu") as emu:
        monkeypatch.setenv(
            "AIRFLOW_CONN_GEMINI_BATCH_DEFAULT",
            json.dumps({"conn_type": "gemini_batch", "host": emu.base_url, "password": key}),
        )
        yield emu, key


def _texts_in_db(dag_id: str, run_id: str) -> dict[str, list[str]]:
    from airflow import settings
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.models.xcom import XComModel

    session = settings.Session()
    try:
        xcoms = [
            f"{row.task_id}/{row.key}={row.value!r}"
            for row in session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id)
        ]
        rendered = [
            json.dumps(row.rendered_fields, default=str)
            for row in session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_id, run_id=run_id)
        ]
        triggers: list[str] = []
        for row in session.query(Trigger).all():
            triggers += [str(row.classpath), str(row.encrypted_kwargs), json.dumps(row.kwargs, default=str)]
        next_kwargs = [
            json.dumps(ti.next_kwargs, default=str)
            for ti in session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id)
        ]
        return {"xcom": xcoms, "rendered": rendered, "trigger": triggers, "next_kwargs": next_kwargs}
    finally:
        session.close()


def _log_files() -> list[str]:
    texts: list[str] = []
    for root, _dirs, files in os.walk(Path(os.environ["AIRFLOW_HOME"]) / "logs"):
        for name in files:
            texts.append(Path(root, name).read_text(errors="replace"))
    return texts


def test_unique_key_is_nowhere_after_a_full_example_run(
    airflow_db: str,
    unique_key_emulator: tuple[EmulatorServer, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    emu, key = unique_key_emulator
    caplog.set_level(logging.DEBUG)
    dag = load_example("example_gemini_batch_file").dag
    result = run(dag, conf={"results_dir": str(tmp_path / "results")})
    out, err = capfd.readouterr()

    assert result.state == "success", result.states
    # The key really travelled (the emulator accepts nothing else), so finding it nowhere counts.
    assert any(e["headers"].get("x-goog-api-key") == credential_mark(key) for e in emu.control.journal())
    stored = _texts_in_db(dag.dag_id, result.run_id)
    assert stored["xcom"], "the run pushed XComs"
    assert stored["rendered"], "the run rendered template fields"
    assert stored["trigger"], "the deferred sensor stored its trigger row"
    places: dict[str, list[str]] = {
        "caplog": [caplog.text],
        "stdout/stderr": [out, err],
        "log files": _log_files(),
        **stored,
    }
    leaks = {place: sum(key in text for text in texts) for place, texts in places.items()}
    assert leaks == dict.fromkeys(places, 0)
    # The task logs were captured at all (the search above looked at real output).
    assert "Idempotency check" in caplog.text + out + err


def test_serialized_trigger_kwargs_hold_no_key(unique_key_emulator: tuple[EmulatorServer, str]) -> None:
    from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger

    _emu, key = unique_key_emulator
    classpath, kwargs = GeminiBatchTrigger(batch_name="batches/abc").serialize()
    assert key not in classpath + json.dumps(kwargs)
    # Plain JSON scalars only (None for an option left unset, e.g. pending_timeout).
    assert all(v is None or isinstance(v, (str, int, float, bool)) for v in kwargs.values())


def test_hook_registers_the_key_with_the_secrets_masker(
    unique_key_emulator: tuple[EmulatorServer, str],
) -> None:
    from airflow.providers.common.compat.sdk import redact

    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    _emu, key = unique_key_emulator
    hook = GeminiBatchHook()
    assert hook.test_connection()[0]
    redacted: Any = redact(f"header x-goog-api-key: {key}")
    assert key not in str(redacted)
