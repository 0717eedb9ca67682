"""Start the emulator as a separate process for a benchmark (so its CPU and memory are not ours)."""

from __future__ import annotations

import re
import subprocess
import sys


def start_emulator(
    *, api_key: str, processing_seconds: float, data_dir: str | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Run ``python -m airflow_provider_gemini_batch.emulator`` on a free port.

    ``data_dir`` is where it stores uploads and results (default: a temporary directory).

    Returns the process (terminate it when done) and the base URL it printed when ready.
    :raises SystemExit: the emulator did not print its URL line.
    """
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "airflow_provider_gemini_batch.emulator", "--port", "0"),
            *("--processing-seconds", str(processing_seconds), "--api-key", api_key),
            *(("--data-dir", data_dir) if data_dir else ()),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    match = re.search(r"(http://\S+)", proc.stdout.readline())
    if not match:
        proc.terminate()
        raise SystemExit("emulator did not start")
    return proc, match.group(1)
