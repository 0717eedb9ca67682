"""How many result rows a slow consumer lands when the result stream is cut once.

Real time, scaled down 100x so it runs in seconds: the connection's ``retry_deadline`` is 3 s
(stands for the default 300 s) and the consumer spends 1 ms per row (stands for 0.1 s, e.g. a
row written to a far object store). 6,000 rows; a real TCP relay (``tests/hooks/proxy.py``) cuts
the download once, three quarters into the file. Before the fix the stream's deadline counted
from its start, consumer time included, so it gave up at the cut; now the budget counts only
time spent on the network since the last bytes were taken.

    .venv/bin/python benchmarks/bench_slow_consumer.py [--rows 6000] [--per-row-ms 1] [--deadline 3]

Prints ``landed <n> of <rows> rows`` and, when the stream gave up, the error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._emulator import start_emulator
from tests.hooks.proxy import CuttingProxy

API_KEY = "bench-key"


def connection(url: str, **extra: object) -> str:
    return json.dumps(
        {"conn_type": "gemini_batch", "host": url, "password": API_KEY, "extra": json.dumps(extra)}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--per-row-ms", type=float, default=1.0)
    parser.add_argument("--deadline", type=float, default=3.0)
    args = parser.parse_args()

    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))
    from airflow_provider_gemini_batch.exceptions import GeminiBatchError
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    proc, url = start_emulator(api_key=API_KEY, processing_seconds=0.2)
    try:
        os.environ["AIRFLOW_CONN_BENCH_DIRECT"] = connection(url)
        hook = GeminiBatchHook(gemini_conn_id="bench_direct")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "in.jsonl"
            with path.open("w") as fh:
                for i in range(args.rows):
                    request = {"contents": [{"role": "user", "parts": [{"text": f"prompt {i}"}]}]}
                    fh.write(json.dumps({"key": f"k{i}", "request": request}) + "\n")
            batch = hook.create_batch("gemini-2.5-flash", input_file=hook.upload_file(path).name)
            while not (batch := hook.get_batch(batch.name)).done:
                time.sleep(0.1)
        size = hook.get_file(str(batch.responses_file)).size_bytes or 0
        host, port = url.removeprefix("http://").split(":")
        with CuttingProxy(host, int(port), cut_after=size * 3 // 4, cut_connections=1) as proxy:
            os.environ["AIRFLOW_CONN_BENCH_CUT"] = connection(proxy.base_url, retry_deadline=args.deadline)
            landed, error = 0, None
            started = time.monotonic()
            try:
                for _ in GeminiBatchHook(gemini_conn_id="bench_cut").iter_results(batch):
                    landed += 1
                    time.sleep(args.per_row_ms / 1000)
            except GeminiBatchError as exc:
                error = exc
            elapsed = time.monotonic() - started
        print(
            f"landed {landed} of {args.rows} rows in {elapsed:.1f} s "
            f"({proxy.connections} connections, deadline {args.deadline} s, {args.per_row_ms} ms/row)"
        )
        if error is not None:
            print(f"gave up: {type(error).__name__}: {error}")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
