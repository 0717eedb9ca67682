"""The emulator's concurrent-batch limit: ``--max-concurrent-batches N`` and the service's 429.

The N+1th create is answered as the service answers batch creates over a project limit (see
``emulator/capacity.py`` for the sources): HTTP 429, RESOURCE_EXHAUSTED, the generic quota text, a
``google.rpc.Help`` link and nothing a client could mistake for a per-minute quota (no
``QuotaFailure``, no ``RetryInfo``, no ``Retry-After``). Creates racing each other never put more
than N in flight.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.emulator.test_batches import MODEL_PATH, create, inline_body, item, upload


def _assert_service_shaped_429(response: httpx.Response) -> None:
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["message"].startswith("You exceeded your current quota")
    assert [d["@type"] for d in error["details"]] == ["type.googleapis.com/google.rpc.Help"]
    assert "retry-after" not in response.headers


@pytest.fixture
def limited_cli(tmp_path: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_gemini_batch.emulator",
            "--port",
            "0",
            "--api-key",
            "cli-key",
            "--data-dir",
            str(tmp_path),
            "--processing-seconds",
            "3600",
            "--max-concurrent-batches",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    try:
        assert line.startswith("Gemini Batch emulator listening on http://127.0.0.1:"), line
        yield line.rsplit(" ", 1)[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_limit_refuses_the_next_create_like_the_service_and_survives_a_reset(limited_cli: str) -> None:
    with httpx.Client(base_url=limited_cli, headers={"x-goog-api-key": "cli-key"}, timeout=30) as http:
        for key in ("a", "b"):
            assert http.post(MODEL_PATH, json=inline_body([item("hi", key)])).status_code == 200
        _assert_service_shaped_429(http.post(MODEL_PATH, json=inline_body([item("hi", "c")])))
        assert httpx.post(limited_cli + "/_emulator/reset").status_code == 200
        for key in ("d", "e"):
            assert http.post(MODEL_PATH, json=inline_body([item("hi", key)])).status_code == 200
        _assert_service_shaped_429(http.post(MODEL_PATH, json=inline_body([item("hi", "f")])))


def test_cli_refuses_a_limit_below_one() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "airflow_provider_gemini_batch.emulator", "--max-concurrent-batches", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--max-concurrent-batches: must be >= 1, got 0" in proc.stderr


def test_racing_file_creates_never_exceed_the_limit(http: httpx.Client, emulator: EmulatorServer) -> None:
    """Creates from a file count its lines off the event loop; the limit holds across that wait."""
    emulator.control.configure(max_active_batches=1, processing_seconds=3600)
    line = b'{"key": "k", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n'
    file_name = upload(http, line * 20_000)
    body = {"batch": {"inputConfig": {"fileName": file_name}}}
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: http.post(MODEL_PATH, json=body).status_code, range(8)))
    assert sorted(statuses) == [200] + [429] * 7
    listed = http.get("/v1beta/batches").json().get("operations", [])
    assert len(listed) == 1


def test_control_limit_answers_the_same_shape(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(max_active_batches=1, processing_seconds=3600)
    create(http, [item("hi", "a")])
    _assert_service_shaped_429(http.post(MODEL_PATH, json=inline_body([item("hi", "b")])))
