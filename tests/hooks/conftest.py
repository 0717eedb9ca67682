"""Fixtures for hook tests: a connection to the emulator with tiny retry delays and chunks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch._core import retry
from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

FAST_CONN_ID = "gemini_fast"
#: Extras that keep fault tests quick: millisecond backoff, short timeout.
FAST_EXTRAS = {"retry_initial_delay": 0.01, "retry_max_delay": 0.05, "timeout": 5, "max_retries": 4}


def conn_env(emulator: EmulatorServer, *, password: str | None = None, **extra: Any) -> str:
    return json.dumps(
        {
            "conn_type": "gemini_batch",
            "host": emulator.base_url,
            "password": emulator.api_key if password is None else password,
            "extra": json.dumps(extra),
        }
    )


@pytest.fixture
def fast_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """``gemini_fast``: the emulator with FAST_EXTRAS."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{FAST_CONN_ID.upper()}", conn_env(emulator, **FAST_EXTRAS))
    return emulator


@pytest.fixture
def hook(fast_conn: EmulatorServer) -> Iterator[GeminiBatchHook]:
    h = GeminiBatchHook(gemini_conn_id=FAST_CONN_ID)
    yield h
    h.session.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry waits instead of sleeping (the one patched boundary)."""
    waits: list[float] = []
    monkeypatch.setattr(retry, "sleep", waits.append)
    return waits


def make_request(text: str) -> dict[str, Any]:
    return {"contents": [{"parts": [{"text": text}], "role": "user"}]}


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write ``{"key", "request"}`` lines for the given keys (prompt ``prompt for <key>``)."""

    def write(keys: list[str], name: str = "input.jsonl") -> Path:
        path = tmp_path / name
        with path.open("w") as fh:
            for key in keys:
                fh.write(json.dumps({"key": key, "request": make_request(f"prompt for {key}")}) + "\n")
        return path

    return write


def api_requests(emulator: EmulatorServer) -> list[tuple[str, str]]:
    """(method, path) of every API request the emulator saw."""
    return [(e["method"], e["path"]) for e in emulator.control.journal()]


def creating_or_uploading(emulator: EmulatorServer) -> list[tuple[str, str]]:
    """Requests that would create a batch or upload a file."""
    return [
        (m, p)
        for m, p in api_requests(emulator)
        if m == "POST"
        and (p.startswith("/upload/") or "batchGenerateContent" in p or "BatchEmbedContent" in p)
    ]
