"""Helpers shared by the operator, sensor and trigger tests (no mocks: real emulator calls)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer

MODEL = "gemini-2.5-flash"


def inline_requests(n: int, prefix: str = "k") -> list[dict[str, Any]]:
    """``n`` keyed inline requests in the JSONL-line shape."""
    return [
        {"key": f"{prefix}{i}", "request": {"contents": [{"parts": [{"text": f"question {i}"}]}]}}
        for i in range(n)
    ]


def write_jsonl(path: Any, n: int, prefix: str = "k") -> str:
    """Write ``n`` valid input lines to ``path``; returns the path as a string."""
    with open(path, "w", encoding="utf-8") as fh:
        for row in inline_requests(n, prefix):
            fh.write(json.dumps(row) + "\n")
    return str(path)


def use_connection(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, **extra: Any) -> None:
    """Point ``gemini_batch_default`` at the emulator with the given connection extras."""
    conn: dict[str, Any] = {
        "conn_type": "gemini_batch",
        "host": emulator.base_url,
        "password": emulator.api_key,
    }
    if extra:
        conn["extra"] = extra
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_BATCH_DEFAULT", json.dumps(conn))


def sync_hook() -> Any:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    return GeminiBatchHook(gemini_conn_id="gemini_batch_default")


def creates_seen(emulator: EmulatorServer) -> int:
    """How many batch-create calls the emulator received."""
    return sum(
        1
        for e in emulator.control.journal()
        if e["method"] == "POST" and e["path"].endswith((":batchGenerateContent", ":asyncBatchEmbedContent"))
    )


def uploads_started(emulator: EmulatorServer) -> int:
    """How many upload sessions were started (``POST /upload/.../files`` without an upload id)."""
    return sum(
        1
        for e in emulator.control.journal()
        if e["method"] == "POST"
        and e["path"].startswith("/upload/")
        and "upload_id" not in (e["query"] or "")
    )


def counts_all_succeeded(n: int) -> dict[str, Any]:
    """The manifest ``counts`` of ``n`` rows that all gave a usable answer, with unique keys."""
    outcomes = ("succeeded", "error", "blocked", "stopped", "max_tokens", "no_output", "missing")
    by_outcome = dict.fromkeys(outcomes, 0)
    by_outcome["succeeded"] = n
    return {
        "total": n,
        "landed": n,
        "missing": 0,
        "succeeded": n,
        "failed": 0,
        "by_outcome": by_outcome,
        "retryable": 0,
        "duplicate_keys": 0,
        "keyless": 0,
    }
