"""The command-line emulator: prints its URL when ready, honours --api-key, --fault and the env faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


@pytest.fixture
def cli_emulator(tmp_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "GEMINI_EMULATOR_FAULTS": json.dumps({"method": "GET", "path": "/files$", "status": 503}),
    }
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
            "--fault",
            json.dumps({"method": "GET", "path": "/batches$", "status": 429, "retry_after": 3}),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    try:
        assert line.startswith("Gemini Batch emulator listening on http://127.0.0.1:")
        yield line.rsplit(" ", 1)[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_serves_with_key_and_scripted_faults(cli_emulator: str) -> None:
    headers = {"x-goog-api-key": "cli-key"}

    assert (
        httpx.get(cli_emulator + "/v1beta/batches/x", headers={"x-goog-api-key": "other"}).status_code == 400
    )
    throttled = httpx.get(cli_emulator + "/v1beta/batches", headers=headers)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "3"
    assert httpx.get(cli_emulator + "/v1beta/files", headers=headers).status_code == 503
    assert httpx.get(cli_emulator + "/v1beta/files", headers=headers).status_code == 200
