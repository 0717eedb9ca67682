"""Benchmark the emulator process: concurrent pollers, upload and download throughput, peak RSS.

Run: ``.venv/bin/python benchmarks/bench_emulator.py [--pollers 1000] [--poll-seconds 10] [--mb 500]``

Starts the emulator as a subprocess (the CLI, so its memory is measured on its own), then:

1. ``--pollers`` concurrent ``httpx.AsyncClient`` tasks poll ``GET /v1beta/batches/<id>`` for
   ``--poll-seconds`` seconds; prints answered polls per second (client and server share the machine,
   so this is a lower bound for the server).
2. Uploads a ``--mb`` MB JSONL file through the resumable protocol in 8 MiB chunks (like the SDK);
   prints MB/s.
3. Runs a file batch over it and downloads the ~same-size result file (``alt=media``); prints MB/s.
4. Prints the emulator's RSS at start and its peak RSS (``VmHWM`` from /proc; Linux only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from _emulator import start_emulator

KEY = "bench-key"
CHUNK = 8 * 1024 * 1024
MB = 1_000_000


def proc_kb(pid: int, field: str) -> int:
    """A ``kB`` field (``VmRSS``, ``VmHWM``) of /proc/<pid>/status."""
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else -1


async def poll(url: str, name: str, pollers: int, seconds: float) -> tuple[int, int]:
    limits = httpx.Limits(max_connections=pollers, max_keepalive_connections=pollers)
    count = errors = 0
    async with httpx.AsyncClient(
        base_url=url, headers={"x-goog-api-key": KEY}, limits=limits, timeout=60
    ) as client:
        stop_at = time.monotonic() + seconds

        async def one() -> None:
            nonlocal count, errors
            while time.monotonic() < stop_at:
                response = await client.get(f"/v1beta/{name}")
                if response.status_code == 200:
                    count += 1
                else:
                    errors += 1

        await asyncio.gather(*(one() for _ in range(pollers)))
    return count, errors


async def raw_poll(url: str, name: str, pollers: int, seconds: float) -> int:
    """Same load over bare asyncio sockets (keep-alive), to show the server's own capacity."""
    host, port = url.split("//")[1].split(":")
    request = f"GET /v1beta/{name} HTTP/1.1\r\nHost: {host}\r\nx-goog-api-key: {KEY}\r\n\r\n".encode()
    count = 0
    stop_at = time.monotonic() + seconds

    async def one() -> None:
        nonlocal count
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.monotonic() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            count += 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(pollers)))
    return count


def raw_upload(url: str, path: Path) -> float:
    """Upload with socket.sendfile (one finalize chunk); returns seconds. Shows server-side capacity."""
    size = path.stat().st_size
    start = httpx.post(
        url + "/upload/v1beta/files",
        headers={
            "x-goog-api-key": KEY,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
        },
        json={},
    )
    target = httpx.URL(start.headers["x-goog-upload-url"])
    head = (
        f"POST {target.raw_path.decode()} HTTP/1.1\r\nHost: {target.host}\r\n"
        "X-Goog-Upload-Command: upload, finalize\r\nX-Goog-Upload-Offset: 0\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    began = time.perf_counter()
    with socket.create_connection((target.host, target.port or 80)) as sock, path.open("rb") as handle:
        sock.sendall(head)
        sock.sendfile(handle)
        answer = sock.recv(65536)
    took = time.perf_counter() - began
    if b" 200 " not in answer.split(b"\r\n", 1)[0]:
        raise RuntimeError(answer[:200])
    return took


def raw_download(url: str, name: str) -> tuple[float, int]:
    """Download over a bare socket into one reused buffer; returns (seconds, bytes)."""
    target = httpx.URL(url)
    request = (
        f"GET /v1beta/{name}:download?alt=media HTTP/1.1\r\nHost: {target.host}\r\n"
        f"x-goog-api-key: {KEY}\r\nConnection: close\r\n\r\n"
    ).encode()
    buffer = bytearray(1 << 20)
    received = 0
    began = time.perf_counter()
    with socket.create_connection((target.host, target.port or 80)) as sock:
        sock.sendall(request)
        while count := sock.recv_into(buffer):
            received += count
    return time.perf_counter() - began, received


def make_input(path: Path, size_mb: int) -> int:
    """Write ~size_mb MB of JSONL: 1 MB prompts, so results are about the same size."""
    prompt = "lorem ipsum " * (MB // 12)
    line = json.dumps({"key": "k", "request": {"contents": [{"parts": [{"text": prompt}]}]}}) + "\n"
    with path.open("w") as handle:
        for index in range(size_mb):
            handle.write(line.replace('"k"', f'"k{index}"', 1))
    return path.stat().st_size


def blocks(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining:
            block = handle.read(min(1 << 20, remaining))
            remaining -= len(block)
            yield block


def upload(client: httpx.Client, path: Path) -> str:
    size = path.stat().st_size
    start = client.post(
        "/upload/v1beta/files",
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        },
        json={"file": {"display_name": "bench"}},
    )
    url = start.headers["x-goog-upload-url"]
    offset = 0
    while True:
        length = min(CHUNK, size - offset)
        last = offset + length >= size
        response = httpx.post(
            url,
            content=blocks(path, offset, length),
            headers={
                "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
                "X-Goog-Upload-Offset": str(offset),
                "Content-Length": str(length),
            },
            timeout=120,
        )
        response.raise_for_status()
        offset += length
        if last:
            return str(response.json()["file"]["name"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pollers", type=int, default=1000)
    parser.add_argument("--poll-seconds", type=float, default=10.0)
    parser.add_argument("--mb", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-emu-") as tmp:
        proc, url = start_emulator(api_key=KEY, processing_seconds=1, data_dir=os.path.join(tmp, "data"))
        try:
            rss_start = proc_kb(proc.pid, "VmRSS")
            client = httpx.Client(base_url=url, headers={"x-goog-api-key": KEY}, timeout=600)
            op = client.post(
                "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
                json={
                    "batch": {"inputConfig": {"requests": {"requests": [{"request": {"contents": "hi"}}]}}}
                },
            ).json()

            count, errors = asyncio.run(poll(url, op["name"], args.pollers, args.poll_seconds))
            print(
                f"polls (httpx.AsyncClient, shared): {count / args.poll_seconds:,.0f} answered/s with "
                f"{args.pollers} concurrent pollers ({count:,} in {args.poll_seconds:.0f} s, {errors} errors)"
            )
            raw = asyncio.run(raw_poll(url, op["name"], args.pollers, args.poll_seconds))
            print(
                f"polls (bare asyncio sockets): {raw / args.poll_seconds:,.0f} answered/s "
                f"with {args.pollers} concurrent keep-alive connections"
            )
            rss_after_polls = proc_kb(proc.pid, "VmHWM")

            source = Path(tmp) / "input.jsonl"
            size = make_input(source, args.mb)
            began = time.perf_counter()
            name = upload(client, source)
            took = time.perf_counter() - began
            print(f"upload (httpx, 8 MiB): {size / MB / took:,.0f} MB/s ({size / MB:,.0f} MB, {took:.1f} s)")
            took = raw_upload(url, source)
            print(f"upload (socket.sendfile, one request): {size / MB / took:,.0f} MB/s")

            op = client.post(
                "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
                json={"batch": {"inputConfig": {"fileName": name}}},
            ).json()
            time.sleep(1.2)
            began = time.perf_counter()
            done: dict = {}
            while done.get("metadata", {}).get("state") != "BATCH_STATE_SUCCEEDED":
                done = client.get(f"/v1beta/{op['name']}").json()  # first read starts building results
            print(f"results: {time.perf_counter() - began:.1f} s to build the result file (fake model)")
            result = done["metadata"]["output"]["responsesFile"]
            received = 0
            began = time.perf_counter()
            with client.stream("GET", f"/v1beta/{result}:download", params={"alt": "media"}) as response:
                for block in response.iter_raw(1 << 20):
                    received += len(block)
            took = time.perf_counter() - began
            print(
                f"download (httpx): {received / MB / took:,.0f} MB/s ({received / MB:,.0f} MB, {took:.1f} s)"
            )
            took, received = raw_download(url, result)
            print(f"download (bare socket, recv_into): {received / MB / took:,.0f} MB/s")
            client.close()
            print(
                f"emulator RSS: {rss_start / 1024:.0f} MiB at start, peak {rss_after_polls / 1024:.0f} MiB "
                f"after polling, peak {proc_kb(proc.pid, 'VmHWM') / 1024:.0f} MiB overall"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
