"""common.ai's ``@task.llm_batch`` on Gemini: the real common.ai provider, the emulator, ``dag.test()``.

The adapter is found the way a user's deployment finds it: common.ai's dispatch reads the
``airflow.providers.common.ai.batch_adapters`` entry point of this installed package for the
``google`` prefix. Nothing is patched; the XCom is common.ai's manifest
(``batch/results.py::assemble_manifest``) and the rows are its JSONL rows
(``custom_id, index, status, output, raw_output, error, model, usage, finish_reason``), the same
shapes its OpenAI and Anthropic adapters produce.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("airflow.providers.common.ai.batch", reason="needs the common-ai extra")

from pydantic import BaseModel

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.fixtures.airflow_env import run_dag, unique_dag_id

MODEL_ID = "google:gemini-2.5-flash"
CONN_ID = "gemini_llm"
#: The keys of common.ai 1.0.0's manifest (``assemble_manifest``) and rows (``_row_for_success``).
MANIFEST_KEYS = {
    "schema_version",
    "batch_id",
    "adapter",
    "llm_conn_id",
    "model_id",
    "output_type_ref",
    "structured",
    "result_uri",
    "request_count",
    "counts",
    "duplicate_result_count",
    "out_of_range_result_count",
    "ordered",
    "rejoin_key",
    "custom_id_prefix",
    "terminal_reason",
    "submitted_at",
    "completed_at",
}
ROW_KEYS = {
    "custom_id",
    "index",
    "status",
    "output",
    "raw_output",
    "error",
    "model",
    "usage",
    "finish_reason",
}
CITIES = ["Paris", "Lagos", "Lima", "Osaka"]


class City(BaseModel):
    """The structured output type: what the emulator fills from ``responseJsonSchema``."""

    name: str
    population: int
    coastal: bool


@pytest.fixture
def llm_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, airflow_db: str) -> EmulatorServer:
    """A ``gemini_batch`` connection ``gemini_llm`` on the emulator; batches finish at once (so
    common.ai's first poll, right after submit, already sees the end: its minimum interval is 30 s)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_LLM",
        json.dumps({"conn_type": "gemini_batch", "host": emulator.base_url, "password": emulator.api_key}),
    )
    emulator.control.configure(processing_seconds=0)
    return emulator


def _rows(uri: str) -> list[dict[str, Any]]:
    with open(uri, encoding="utf-8") as fh:
        return sorted((json.loads(line) for line in fh if line.strip()), key=lambda r: r["index"])


def _run(tmp_path: Path, prompts: list[str], **decorator: Any) -> dict[str, Any]:
    """Run one ``@task.llm_batch`` task returning ``prompts``; returns its XCom (the manifest)."""
    from airflow.sdk import dag, task

    @dag(dag_id=unique_dag_id("llm_batch_gemini"), start_date=datetime.datetime(2025, 1, 1), schedule=None)
    def pipeline() -> None:
        @task.llm_batch(
            llm_conn_id=CONN_ID,
            model_id=MODEL_ID,
            result_path=str(tmp_path / "results"),
            poll_interval=30,
            **decorator,
        )
        def ask() -> list[str]:
            return prompts

        ask()

    result = run_dag(pipeline())
    assert result.state == "success", result.task_states
    manifest = result.xcom("ask")
    assert isinstance(manifest, dict)
    return manifest


def test_structured_output_lands_validated_objects(llm_conn: EmulatorServer, tmp_path: Path) -> None:
    prompts = [f"Describe {city}." for city in CITIES]
    manifest = _run(tmp_path, prompts, output_type=City, system_prompt="Answer as JSON.")

    assert set(manifest) == MANIFEST_KEYS
    assert manifest["adapter"] == "google"
    assert manifest["model_id"] == MODEL_ID
    assert manifest["structured"] is True
    assert manifest["batch_id"].startswith("batches/")
    assert manifest["request_count"] == len(prompts)
    assert manifest["counts"] == {
        "succeeded": 4,
        "errored": 0,
        "invalid_output": 0,
        "expired": 0,
        "cancelled": 0,
        "missing": 0,
    }
    assert manifest["terminal_reason"] == "succeeded"
    rows = _rows(manifest["result_uri"])
    assert [r["index"] for r in rows] == [0, 1, 2, 3]
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["status"] == "success"
        assert row["custom_id"] == f"{manifest['custom_id_prefix']}-{row['index']}"
        City.model_validate(row["output"])
        assert row["usage"]["input_tokens"] > 0
        assert row["finish_reason"] == "STOP"
    # What went on the wire: one inline create whose requests ask for the schema as JSON.
    creates = [e for e in llm_conn.control.journal() if e["path"].endswith(":batchGenerateContent")]
    assert len(creates) == 1


def test_text_output_and_a_blocked_prompt(llm_conn: EmulatorServer, tmp_path: Path) -> None:
    """A blocked prompt (HTTP 200, no candidates) is not a success: it lands ``invalid_output``
    with its block reason as ``finish_reason``, as a refusal does on the other adapters."""
    prompts = ["Why is the sky blue?", "Tell me something [[blocked]]", "Name a prime."]
    manifest = _run(tmp_path, prompts)

    assert manifest["structured"] is False
    assert manifest["counts"]["succeeded"] == 2
    assert manifest["counts"]["invalid_output"] == 1
    assert manifest["terminal_reason"] == "partial"
    rows = _rows(manifest["result_uri"])
    assert rows[0]["output"] == "Emulated answer to: Why is the sky blue?"
    assert rows[1]["status"] == "invalid_output"
    assert rows[1]["finish_reason"] == "SAFETY"
    assert rows[1]["output"] is None
