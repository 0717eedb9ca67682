"""Python-heap peak of the results operator landing one huge result line (a broken or hostile server).

A stand-in on a real socket (``tests/reliability/_result_server.py``) serves a result file whose
third line is ``--line-mib`` MiB; the operator lands it with its default (or ``--cap-mib``) line
cap. tracemalloc measures the peak of the Python heap, which does not depend on the machine's
speed.

    .venv/bin/python benchmarks/bench_line_cap.py [--line-mib 96] [--cap-mib 64]

Prints ``line <n> MiB: peak <m> MiB; <outcome>``. Measured 2026-12-07: before the cap, a 96 MiB
line peaked at 386 MiB and a 300 MiB one at 1,202 MiB (both landed); with the 64 MiB cap both
stop at line 3 with a peak of 65-67 MiB; an accepted 60 MiB line peaks at 242 MiB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-line-cap-"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

from tests.reliability._result_server import ResultFileServer
from tests.reliability._support import direct_context
from tests.reliability.test_landing_hostile import CONN_ID, good_line, peak_bytes_of, results_op

MiB = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--line-mib", type=int, default=96)
    parser.add_argument("--cap-mib", type=int, default=None)
    args = parser.parse_args()
    head = good_line("k1") + good_line("k2") + b'{"key":"k3","response":{"text":"'
    with ResultFileServer([head, (b"A" * MiB, args.line_mib), b'"}}\n'], request_count=3) as server:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = server.connection()
        extra = {} if args.cap_mib is None else {"max_result_line_bytes": args.cap_mib * MiB}
        op = results_op(server, Path(tempfile.mkdtemp()) / "results.jsonl", **extra)
        peak, error = peak_bytes_of(lambda: op.execute(direct_context(task_id="results")))
    outcome = "landed" if error is None else f"{type(error).__name__}: {str(error)[:80]}"
    print(f"line {args.line_mib} MiB: peak {peak / MiB:.0f} MiB; {outcome}")


if __name__ == "__main__":
    main()
