"""Peak memory and time of each operator's work on the worst input: 2 GB of ~100-byte requests.

The Files API takes inputs up to 2 GB; with short requests that is ~19 million keys, the case where
anything kept per key costs GB. This script writes such an input (and a result file of as many
rows, every 10th a retryable 429 error) into a temporary directory and runs each step in a fresh
subprocess that reports its own peak RSS growth (``ru_maxrss`` after imports and a warm-up, then
after the work) and its wall time:

* ``upload``: ``GeminiBatchHook.upload_file`` with validation, against the emulator (a separate
  process, ``_emulator.start_emulator``);
* ``split``: ``GeminiSplitInputOperator`` (shards of ``--shard-requests`` requests);
* ``land``: the results operator's landing of the result file (``_core/landing.land_result_blocks``
  with its ``ResultsTally``, written to a file; the download is left out: it streams blocks);
* ``resubmit``: ``GeminiBuildResubmissionOperator`` on the landed file (every 10th row retryable);
* ``land-followup``: landing the follow-up batch's result file (those rows, now succeeded);
* ``merge``: ``GeminiMergeResubmissionOperator`` (earlier file + follow-up, latest wins);
* ``merge-shards``: ``GeminiMergeShardsOperator`` concatenating the two landed files.

Goal (issue "flat memory at the service's limits"): each step under 150 MB of growth at 2 GB.

    .venv/bin/python benchmarks/bench_memory_2gb.py [--input-mb 2000] [--steps upload,split,...]
        [--work DIR] [--keep]

To measure another checkout's code with the same script: ``PYTHONPATH=<checkout> .venv/bin/python
benchmarks/bench_memory_2gb.py`` (the steps import the package from ``PYTHONPATH`` first; the
script prints where it came from). A step that fails (e.g. killed for memory) is reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

MB = 1_000_000
API_KEY = "bench-key"
CONN_ID = "gemini_bench"
STEPS = ("upload", "split", "land", "resubmit", "land-followup", "merge", "merge-shards")
#: Every RETRY_EVERY-th row of the result file is a retryable error.
RETRY_EVERY = 10
GOAL_MB = 150


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# -- the files ---------------------------------------------------------------------------------


def _key(i: int) -> str:
    return f"req-{i:09d}"


def write_input(path: Path, size: int) -> int:
    """About ``size`` bytes of ~100-byte keyed requests; returns the number of lines."""
    template = (
        '{"key":"%s","request":{"contents":[{"parts":[{"text":"Classify the sentiment: item %d"}]}]}}\n'
    )
    count = 0
    written = 0
    with path.open("w", encoding="ascii") as fh:
        while written < size:
            block = "".join(template % (_key(i), i) for i in range(count, count + 10_000))
            fh.write(block)
            written += len(block)
            count += 10_000
    return count


_OK = (
    '{"key":"%s","response":{"candidates":[{"content":{"parts":[{"text":"positive"}],"role":"model"},'
    '"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":1,"totalTokenCount":10}}}\n'
)
_RETRY = (
    '{"key":"%s","error":{"code":429,"message":"Resource has been exhausted.",'
    '"status":"RESOURCE_EXHAUSTED"}}\n'
)


def write_results(path: Path, count: int, *, followup: bool = False) -> None:
    """The raw result file of the batch (every row) or of the follow-up (every RETRY_EVERY-th, OK)."""
    with path.open("w", encoding="ascii") as fh:
        for start in range(0, count, 10_000):
            if followup:
                block = "".join(
                    _OK % _key(i) for i in range(start, min(count, start + 10_000)) if i % RETRY_EVERY == 0
                )
            else:
                block = "".join(
                    (_RETRY if i % RETRY_EVERY == 0 else _OK) % _key(i)
                    for i in range(start, min(count, start + 10_000))
                )
            fh.write(block)


# -- the measured work, each step in its own subprocess -------------------------------------------


class _TaskInstance:
    """What the operators' ``execute`` reads from ``context["ti"]`` (XCom pushes are dropped)."""

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def _context() -> dict[str, Any]:
    return {"ti": _TaskInstance()}


def _work(step: str, work: Path) -> None:
    """Run ``step``; everything before :func:`_baseline` is warm-up (imports, connection)."""
    from airflow_provider_gemini_batch.operators.gemini_batch import (
        GeminiBuildResubmissionOperator,
        GeminiMergeResubmissionOperator,
        GeminiMergeShardsOperator,
        GeminiSplitInputOperator,
    )

    source = str(work / "input.jsonl")
    if step == "upload":
        from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

        hook = GeminiBatchHook(gemini_conn_id=CONN_ID)
        hook.test_connection()
        _baseline()
        hook.upload_file(source)
    elif step == "split":
        shards = work / "shards"
        shutil.rmtree(shards, ignore_errors=True)
        shards.mkdir()
        op = GeminiSplitInputOperator(
            task_id="split",
            source=source,
            destination=str(shards),
            max_requests=int(os.environ["BENCH_SHARD_REQUESTS"]),
        )
        _baseline()
        op.execute(_context())  # type: ignore[arg-type]
    elif step in ("land", "land-followup"):
        from airflow_provider_gemini_batch._core.landing import land_result_blocks
        from airflow_provider_gemini_batch._core.manifest import ResultsTally

        name = "results" if step == "land" else "followup-results"
        _baseline()
        tally = ResultsTally()
        with (work / f"{name}.jsonl").open("rb") as src, (work / f"{name}-landed.jsonl").open("wb") as out:
            for block in land_result_blocks(iter(lambda: src.read(8 << 20), b""), tally):
                out.write(block)
        assert tally.total > 0
    elif step == "resubmit":
        op = GeminiBuildResubmissionOperator(
            task_id="resubmit",
            results=str(work / "results-landed.jsonl"),
            input_path=source,
            destination=str(work / "followup-input.jsonl"),
        )
        _baseline()
        out = op.execute(_context())  # type: ignore[arg-type]
        assert out["resubmitted"] > 0, out
    elif step == "merge":
        followup = {"destination": str(work / "followup-results-landed.jsonl"), "counts": {}}
        op = GeminiMergeResubmissionOperator(
            task_id="merge",
            previous={"destination": str(work / "results-landed.jsonl")},
            followup=followup,
            resubmission={"resubmitted": 1, "round": 1},
            destination=str(work / "merged.jsonl"),
        )
        _baseline()
        out = op.execute(_context())  # type: ignore[arg-type]
        assert out["still_failed"] == 0, out
    elif step == "merge-shards":
        manifests = [
            {"counts": {"total": 1}, "destination": str(work / "results-landed.jsonl")},
            {"counts": {"total": 1}, "destination": str(work / "followup-results-landed.jsonl")},
        ]
        op = GeminiMergeShardsOperator(
            task_id="merge_shards", manifests=manifests, destination=str(work / "merged-shards.jsonl")
        )
        _baseline()
        op.execute(_context())  # type: ignore[arg-type]
    else:
        raise SystemExit(f"unknown step {step}")


_MARK: dict[str, float] = {}


def _baseline() -> None:
    _MARK["rss_mb"] = peak_rss_mb()
    _MARK["started"] = time.perf_counter()


def worker(step: str, work: str) -> None:
    """Run ``step`` (or every step of a comma-separated list, in order) and print one JSON line
    of figures per step."""
    for one in step.split(","):
        _work(one, Path(work))
        seconds = time.perf_counter() - _MARK["started"]
        print(json.dumps({"seconds": seconds, "rss_mb": peak_rss_mb() - _MARK["rss_mb"]}))


# -- the driver -----------------------------------------------------------------------------------


def run_step(step: str, work: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", step, str(work)],
        capture_output=True,
        text=True,
        env=env,
        timeout=7200,
        check=False,
    )
    if proc.returncode != 0:
        return {"failed": proc.returncode, "stderr": proc.stderr[-1500:]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run_steps_in_one_process(steps: list[str], work: Path, env: dict[str, str]) -> dict[str, Any]:
    """``--one-process``: every step in one subprocess (imports paid once; a smoke run of the
    script's calls into the provider, not a measurement: the peak RSS of a later step includes
    the earlier ones'). A failure is reported for the step it stopped at."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", ",".join(steps), str(work)],
        capture_output=True,
        text=True,
        env=env,
        timeout=7200,
        check=False,
    )
    figures = [json.loads(row) for row in proc.stdout.splitlines() if row.startswith("{")]
    report: dict[str, Any] = dict(zip(steps, figures, strict=False))
    if proc.returncode != 0:
        stopped_at = steps[min(len(figures), len(steps) - 1)]
        report[stopped_at] = {"failed": proc.returncode, "stderr": proc.stderr[-1500:]}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input-mb", type=float, default=2000, help="input size in MB (default 2000)")
    parser.add_argument(
        "--steps", default=",".join(STEPS), help="comma-separated subset of " + ", ".join(STEPS)
    )
    parser.add_argument("--shard-requests", type=int, default=1_000_000, help="requests per shard (split)")
    parser.add_argument("--work", default=None, help="directory for the files (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the files (reuse them with --work)")
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="run every step in one subprocess: a quick smoke run (the tests use it), figures not comparable",
    )
    parser.add_argument("--worker", nargs=2, metavar=("STEP", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    from _emulator import start_emulator

    import airflow_provider_gemini_batch

    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise SystemExit(f"unknown steps: {sorted(unknown)}")
    print(f"code under test: {Path(airflow_provider_gemini_batch.__file__).parent}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / "input.jsonl"
    started = time.perf_counter()
    count_file = work / "count"
    if source.exists() and count_file.exists() and abs(source.stat().st_size - args.input_mb * MB) < MB:
        count = int(count_file.read_text())
    else:
        count = write_input(source, int(args.input_mb * MB))
        write_results(work / "results.jsonl", count)
        write_results(work / "followup-results.jsonl", count, followup=True)
        count_file.write_text(str(count))
    size = source.stat().st_size
    print(
        f"input {size / MB:.0f} MB, {count} requests of ~{size / count:.0f} bytes; "
        f"result file {(work / 'results.jsonl').stat().st_size / MB:.0f} MB "
        f"(made in {time.perf_counter() - started:.0f} s)"
    )
    server, base_url = start_emulator(api_key=API_KEY, processing_seconds=0, data_dir=str(work / "emulator"))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "BENCH_SHARD_REQUESTS": str(args.shard_requests),
        f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(
            {"conn_type": "gemini_batch", "host": base_url, "password": API_KEY, "extra": {"timeout": 600}}
        ),
    }
    report: dict[str, Any] = {}
    try:
        together = run_steps_in_one_process(steps, work, env) if args.one_process else {}
        for step in steps:
            if args.one_process and step not in together:
                continue  # not reached: an earlier step failed
            result = together[step] if args.one_process else run_step(step, work, env)
            report[step] = result
            if "failed" in result:
                last = result["stderr"].strip().splitlines()[-1:]
                print(f"  {step:<14} FAILED (exit {result['failed']}): {last}")
            else:
                verdict = "ok" if result["rss_mb"] < GOAL_MB else "OVER"
                print(
                    f"  {step:<14} peak RSS +{result['rss_mb']:7.1f} MB ({verdict}, goal < {GOAL_MB}), "
                    f"{result['seconds']:7.1f} s"
                )
            shutil.rmtree(work / "emulator" / "files", ignore_errors=True)  # the uploaded copy
    finally:
        server.terminate()
        server.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"requests": count, "steps": report}))


if __name__ == "__main__":
    main()
