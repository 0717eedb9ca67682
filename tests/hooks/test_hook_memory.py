"""Streaming a result file over 200 MB keeps the process's peak memory flat (< 100 MB growth).

The measurement runs in a fresh subprocess that records its own peak RSS (``ru_maxrss``) after
imports and a warm-up call, then streams; the pytest process's peak is polluted by earlier tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.hooks.conftest import FAST_CONN_ID, conn_env, make_request

MB = 1_000_000
RESULT_BYTES_TARGET = 210 * MB
LINES = 21_000

MEASURE = textwrap.dedent(
    """
    import json, resource, sys
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB

    hook = GeminiBatchHook(gemini_conn_id=sys.argv[1])
    batch = hook.get_batch(sys.argv[2])  # warm-up: connection read, session, imports
    baseline = peak_mb()
    count, payload = 0, 0
    for result in hook.iter_results(batch):
        count += 1
        payload += len(result.response["candidates"][0]["content"]["parts"][0]["text"])
    after_iter = peak_mb()
    written = hook.download_file(batch.responses_file, sys.argv[3])
    after_download = peak_mb()
    figures = {"baseline_mb": baseline, "after_iter_mb": after_iter, "after_download_mb": after_download}
    figures.update(count=count, payload=payload, written=written)
    print(json.dumps(figures))
    """
)


@pytest.mark.slow
def test_streaming_a_200_mb_result_file_keeps_memory_flat(
    hook: GeminiBatchHook, fast_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filler = "x" * (RESULT_BYTES_TARGET // LINES)
    source = tmp_path / "big-input.jsonl"
    with source.open("w") as fh:
        for i in range(LINES):
            fh.write(json.dumps({"key": f"k{i}", "request": make_request(f"{i} {filler}")}) + "\n")
    info = hook.upload_file(source)
    batch = hook.create_batch("gemini-2.5-flash", input_file=info.name)
    deadline = time.monotonic() + 120
    while not (batch := hook.get_batch(batch.name)).done:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert batch.responses_file
    destination = tmp_path / "results.jsonl"
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, FAST_CONN_ID, batch.name, str(destination)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, f"AIRFLOW_CONN_{FAST_CONN_ID.upper()}": conn_env(fast_conn)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    print("streaming figures:", figures)  # shown with -s; the report quotes them
    assert figures["count"] == LINES
    assert figures["written"] == destination.stat().st_size > 200 * MB
    assert figures["after_iter_mb"] - figures["baseline_mb"] < 100
    assert figures["after_download_mb"] - figures["baseline_mb"] < 100
