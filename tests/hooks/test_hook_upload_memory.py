"""The one-pass upload of a large input keeps peak memory flat (< 100 MB growth), validation on.

The ceiling the performance work set. The upload holds at most a few chunks (the reader thread's queue of
two, the
one being prepared and the one being sent: ``hooks/_chunk_feed.py``) plus the keys seen for the
duplicate check, whatever the file size. Measured in a fresh subprocess that records its own
peak RSS (``ru_maxrss``) after imports and a warm-up call (the pytest process's peak is polluted
by earlier tests), as ``test_hook_memory.py`` does for results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.hooks.conftest import FAST_CONN_ID, conn_env, make_request

MB = 1_000_000
INPUT_BYTES = 200 * MB

MEASURE = textwrap.dedent(
    """
    import json, resource, sys
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB

    hook = GeminiBatchHook(gemini_conn_id=sys.argv[1])
    hook.test_connection()  # warm-up: connection read, session, imports
    baseline = peak_mb()
    info = hook.upload_file(sys.argv[2])
    print(json.dumps({"baseline_mb": baseline, "after_mb": peak_mb(), "size": info.size_bytes}))
    """
)


@pytest.mark.slow
def test_uploading_a_200_mb_input_with_validation_keeps_memory_flat(
    fast_conn: EmulatorServer, tmp_path: Path
) -> None:
    source = tmp_path / "big-input.jsonl"
    filler = "lorem ipsum dolor sit amet " * 40
    written = 0
    with source.open("w") as fh:
        i = 0
        while written < INPUT_BYTES:
            line = json.dumps({"key": f"k{i}", "request": make_request(f"{i} {filler}")}) + "\n"
            fh.write(line)
            written += len(line)
            i += 1
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, FAST_CONN_ID, str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, f"AIRFLOW_CONN_{FAST_CONN_ID.upper()}": conn_env(fast_conn)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    print("upload memory figures:", figures)  # shown with -s
    assert figures["size"] == source.stat().st_size
    assert figures["after_mb"] - figures["baseline_mb"] < 100
