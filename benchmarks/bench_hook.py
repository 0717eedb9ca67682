"""Loopback throughput of GeminiBatchHook: upload, download and result streaming of ~500 MB.

Runs the emulator as a separate process (so client and server do not share one interpreter),
uploads a generated JSONL file through the hook's resumable protocol, lets a batch turn it into a
result file of about the same size, then downloads it and streams it with ``iter_results``.
Prints MB/s (1 MB = 10^6 bytes) for each step and the peak RSS growth of this process.

    .venv/bin/python benchmarks/bench_hook.py [--size-mb 500] [--chunk-mib 8]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1_000_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_input(path: Path, size: int) -> int:
    filler = "lorem ipsum dolor sit amet " * 370  # ~10 kB prompt per line
    written = 0
    with path.open("w") as fh:
        i = 0
        while written < size:
            line = json.dumps(
                {"key": f"k{i}", "request": {"contents": [{"parts": [{"text": f"{i} {filler}"}]}]}}
            )
            fh.write(line + "\n")
            written += len(line) + 1
            i += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=500, help="input size in MB (default 500)")
    parser.add_argument("--chunk-mib", type=int, default=8, help="upload chunk size in MiB (default 8)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-hook-"))
    os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow"))
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    port = free_port()
    command = [sys.executable, "-m", "airflow_provider_gemini_batch.emulator", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--api-key", "bench-key", "--processing-seconds", "0"]
    command += ["--data-dir", str(work / "emulator")]
    server = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        print(server.stdout.readline().strip())
        base_url = f"http://127.0.0.1:{port}"
        os.environ["AIRFLOW_CONN_GEMINI_BENCH"] = json.dumps(
            {
                "conn_type": "gemini_batch",
                "host": base_url,
                "password": "bench-key",
                "extra": {"timeout": 300},
            }
        )
        from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

        hook = GeminiBatchHook(gemini_conn_id="gemini_bench", upload_chunk_size=args.chunk_mib * 1024 * 1024)
        source = work / "input.jsonl"
        size = write_input(source, args.size_mb * MB)
        hook.test_connection()
        baseline = peak_rss_mb()

        start = time.perf_counter()
        info = hook.upload_file(source, validate=False)
        upload_s = time.perf_counter() - start
        after_upload = peak_rss_mb()

        start = time.perf_counter()
        hook.upload_file(source)  # the default path also validates the JSONL line by line
        upload_validated_s = time.perf_counter() - start

        batch = hook.create_batch("gemini-2.5-flash", input_file=info.name)
        while not (batch := hook.get_batch(batch.name)).done:
            time.sleep(0.5)
        assert batch.responses_file, batch.summary()

        start = time.perf_counter()
        downloaded = hook.download_file(batch.responses_file, work / "results.jsonl")
        download_s = time.perf_counter() - start
        after_download = peak_rss_mb()

        start = time.perf_counter()
        count = sum(1 for _ in hook.iter_results(batch))
        stream_s = time.perf_counter() - start
        after_stream = peak_rss_mb()

        rows = [
            f"input file            {size / MB:8.1f} MB, {count} requests, chunks of {args.chunk_mib} MiB",
            f"upload                {size / MB / upload_s:8.1f} MB/s ({upload_s:.2f} s)",
            f"upload incl. validate {size / MB / upload_validated_s:8.1f} MB/s ({upload_validated_s:.2f} s)",
            f"download              {downloaded / MB / download_s:8.1f} MB/s "
            f"({downloaded / MB:.1f} MB in {download_s:.2f} s)",
            f"iter_results          {downloaded / MB / stream_s:8.1f} MB/s "
            f"({count / stream_s:,.0f} results/s)",
            f"peak RSS              baseline {baseline:.0f} MB; growth after upload "
            f"{after_upload - baseline:+.0f} MB, download {after_download - baseline:+.0f} MB, "
            f"iter_results {after_stream - baseline:+.0f} MB",
        ]
        print("\n".join(rows))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
