"""Peak memory of one hook call against a compression bomb (a hostile control-plane answer).

Run: ``.venv/bin/python benchmarks/bench_answer_memory.py [--expanded-mib 300] [--encoding gzip]``

For each hook (sync ``get_batch``, async ``get_batch``) a fresh subprocess starts the hostile
stand-in (``tests/hostile``) answering ``GET batches/abc`` with a small ``Content-Encoding: gzip``
body that expands to ``--expanded-mib`` MiB, makes the call once, and prints its peak RSS
(``ru_maxrss``) before and after the call, the growth, and how the call ended. One process per
measurement, so one measurement's peak does not hide the next.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import asyncio, json, os, resource, sys
sys.path.insert(0, {root!r})
from tests.hostile.server import MIB, HostileServer, Rule, bomb_bytes, gzip_bomb
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook

expanded, encoding, which = {expanded} * MIB, {encoding!r}, {which!r}
bomb = bomb_bytes(expanded, encoding)
with HostileServer([Rule("GET", r"/v1beta/batches/abc", gzip_bomb(expanded, encoding))]) as server:
    os.environ["AIRFLOW_CONN_BENCH"] = json.dumps({{
        "conn_type": "gemini_batch", "host": server.base_url, "password": "k",
        "extra": json.dumps({{"max_retries": 0}})}})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        if which == "sync":
            GeminiBatchHook(gemini_conn_id="bench").get_batch("batches/abc")
        else:
            async def read():
                hook = GeminiBatchAsyncHook(gemini_conn_id="bench", retry=False)
                try:
                    await hook.get_batch("batches/abc", light=True)
                finally:
                    await hook.aclose()
            asyncio.run(read())
        outcome = "read in full"
    except Exception as exc:
        outcome = f"{{type(exc).__name__}}: {{str(exc)[:120]}}"
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"hook": which, "wire_bytes": len(bomb), "rss_before_mib": before / 1024,
                  "rss_peak_mib": after / 1024, "growth_mib": (after - before) / 1024, "outcome": outcome}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--expanded-mib", type=int, default=300)
    parser.add_argument("--encoding", default="gzip", choices=["gzip", "deflate"])
    args = parser.parse_args()
    env = {**os.environ, "AIRFLOW__CORE__UNIT_TEST_MODE": "True"}
    for which in ("sync", "async"):
        code = CHILD.format(root=str(ROOT), expanded=args.expanded_mib, encoding=args.encoding, which=which)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"{which}: failed\n{done.stderr[-2000:]}")
            continue
        print(json.dumps(json.loads(lines[-1])))


if __name__ == "__main__":
    main()
