"""Peak memory of the emulator while it stores and serves one large Cloud Storage object.

Run: ``.venv/bin/python benchmarks/bench_storage_memory.py [--mib 2048] [--chunk-mib 8]``

Starts the emulator as a subprocess (``python -m airflow_provider_gemini_batch.emulator``), then
streams one object of ``--mib`` MiB through it three ways: a multipart upload (one request, the
body generated on the fly), a resumable upload in ``--chunk-mib`` chunks, and a download read to
the end. After each step it prints the emulator's peak RSS (``VmHWM`` from ``/proc``), so memory
flat in the object size shows as a peak that does not grow with ``--mib``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

MIB = 1024 * 1024
BLOCK = bytes(range(256)) * 4096  # 1 MiB


def peak_mib(pid: int) -> float:
    """Peak resident set size of ``pid`` (MiB), from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def blocks(total: int) -> Iterator[bytes]:
    left = total
    while left > 0:
        piece = BLOCK[: min(len(BLOCK), left)]
        left -= len(piece)
        yield piece


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=2048)
    parser.add_argument("--chunk-mib", type=int, default=8)
    args = parser.parse_args()
    size = args.mib * MIB
    with tempfile.TemporaryDirectory(prefix="bench-gcs-") as data_dir:
        emulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airflow_provider_gemini_batch.emulator",
                "--port",
                "0",
                "--data-dir",
                data_dir,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert emulator.stdout is not None
            base = emulator.stdout.readline().strip().rsplit(" ", 1)[-1]
            print(f"emulator {base}: peak RSS at start {peak_mib(emulator.pid):.1f} MiB")
            with httpx.Client(base_url=base, timeout=600) as client:
                boundary = "bench-boundary"
                head = (
                    f"--{boundary}\r\ncontent-type: application/json\r\n\r\n"
                    '{"name": "multipart.bin"}\r\n'
                    f"--{boundary}\r\ncontent-type: application/octet-stream\r\n\r\n"
                ).encode()

                def body() -> Iterator[bytes]:
                    yield head
                    yield from blocks(size)
                    yield f"\r\n--{boundary}--\r\n".encode()

                started = time.monotonic()
                answer = client.post(
                    "/upload/storage/v1/b/bench/o",
                    params={"uploadType": "multipart"},
                    content=body(),
                    headers={"content-type": f"multipart/related; boundary={boundary}"},
                )
                answer.raise_for_status()
                took = time.monotonic() - started
                print(
                    f"multipart upload {args.mib} MiB: {took:.1f} s, "
                    f"peak RSS {peak_mib(emulator.pid):.1f} MiB"
                )

                session = client.post(
                    "/upload/storage/v1/b/bench/o",
                    params={"uploadType": "resumable", "name": "resumable.bin"},
                ).headers["location"]
                chunk = args.chunk_mib * MIB
                started = time.monotonic()
                for offset in range(0, size, chunk):
                    end = min(offset + chunk, size) - 1
                    answer = client.put(
                        session,
                        content=blocks(end - offset + 1),
                        headers={"content-range": f"bytes {offset}-{end}/{size}"},
                    )
                    assert answer.status_code in (200, 308), answer.status_code
                took = time.monotonic() - started
                print(
                    f"resumable upload {args.mib} MiB: {took:.1f} s, "
                    f"peak RSS {peak_mib(emulator.pid):.1f} MiB"
                )

                started = time.monotonic()
                received = 0
                with client.stream(
                    "GET", "/download/storage/v1/b/bench/o/resumable.bin", params={"alt": "media"}
                ) as r:
                    for piece in r.iter_bytes():
                        received += len(piece)
                assert received == size
                took = time.monotonic() - started
                print(f"download {args.mib} MiB: {took:.1f} s, peak RSS {peak_mib(emulator.pid):.1f} MiB")
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
