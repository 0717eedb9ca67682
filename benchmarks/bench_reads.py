"""How many times each byte of the input file is read, per upload path.

Counts the bytes this process reads (``rchar`` of ``/proc/self/io``: file reads plus the few small
HTTP answers) while uploading a generated ~40 MB JSONL to the emulator, divided by the file size.
Linux only. Run from the repository root (it borrows ``direct_context`` from the test helpers):

    PYTHONPATH=. .venv/bin/python benchmarks/bench_reads.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

sys.path.insert(0, "benchmarks")
from pathlib import Path

from _emulator import start_emulator
from bench_speed import write_input

work = Path(tempfile.mkdtemp())
os.environ["AIRFLOW_HOME"] = str(work / "af")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
server, url = start_emulator(api_key="k", processing_seconds=0, data_dir=str(work / "em"))
os.environ["AIRFLOW_CONN_GEMINI_BENCH"] = json.dumps(
    {"conn_type": "gemini_batch", "host": url, "password": "k"}
)


def rchar() -> int:
    """Bytes read by this process so far (Linux ``/proc/self/io``)."""
    with open("/proc/self/io") as fh:
        return int(next(row for row in fh if row.startswith("rchar")).split()[1])


try:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiUploadFileOperator
    from tests.reliability._support import direct_context

    src = work / "in.jsonl"
    size = write_input(src, 40_000_000)
    hook = GeminiBatchHook(gemini_conn_id="gemini_bench")
    hook.test_connection()
    for label, fn in [
        ("hook.upload_file(validate=True)", lambda: hook.upload_file(src)),
        ("hook.upload_file(validate=False)", lambda: hook.upload_file(src, validate=False)),
        (
            "GeminiUploadFileOperator (uploads)",
            lambda: GeminiUploadFileOperator(
                task_id="u", path=str(src), gemini_conn_id="gemini_bench"
            ).execute(direct_context(task_id="u")),
        ),
        (
            "GeminiUploadFileOperator (reuses)",
            lambda: GeminiUploadFileOperator(
                task_id="u", path=str(src), gemini_conn_id="gemini_bench"
            ).execute(direct_context(task_id="u")),
        ),
    ]:
        before = rchar()
        fn()
        print(f"{label}: {(rchar() - before) / size:.2f} reads per byte")
finally:
    server.terminate()
