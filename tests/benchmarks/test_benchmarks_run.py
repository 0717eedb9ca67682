"""The performance benchmark scripts still run against the current code (tiny sizes, no figures judged).

The scripts under ``benchmarks/`` are run by hand and call into the provider's internals (e.g. the
results operator's ``_land_once``), outside mypy's packages: a changed signature there would only
show the next time someone measured. Each script is run here end to end in a subprocess, as its
docstring says to run it, at sizes that take seconds; only that it completes and prints its
figures is checked (speed is for the benchmarks themselves, not for tests).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _run(*args: str, timeout: float = 300) -> str:
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=BENCHMARKS
    )
    assert proc.returncode == 0, f"{args[0]} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_bench_speed_measures_upload_and_landing_against_the_sdk() -> None:
    out = _run("bench_speed.py", "--upload-mb", "2", "--results-mb", "2", "--repeat", "1")

    ratio = r"ratio \d+\.\d\dx SDK"
    assert re.search(r"upload 2 MB JSONL .*\n(.*\n)*?\s+" + ratio + r" \(goal >= 1\.0x\)", out), out
    assert re.search(r"\s+" + ratio + r", \d+\.\d\dx SDK\+w \(goal >= 2\.0x\)", out), out
    for side in ("ours", "SDK", "SDK+w"):
        assert re.search(rf"^\s+{re.escape(side)}\s+best\s+\d+\.\d MB/s", out, re.MULTILINE), (side, out)


def test_bench_trigger_scale_reports_every_figure(tmp_path: Path) -> None:
    out = _run(
        "bench_trigger.py",
        "--triggers",
        "20",
        "--poll-interval",
        "1",
        "--latency",
        "0.01",
        "--log-file",
        str(tmp_path / "triggerer.log"),
    )

    report = json.loads(out[out.index("{") :])
    assert report["triggers"] == 20
    assert report["run"]["events"] == {"success": 20}
    assert report["run"]["not_noticed_in_run"] == 0
    assert set(report["ratio_to_goal"]) == {"loop_stall", "memory_per_trigger", "end_noticed_max"}


def test_bench_memory_2gb_runs_every_step_at_a_tiny_size(tmp_path: Path) -> None:
    out = _run(
        "bench_memory_2gb.py",
        "--input-mb",
        "0.5",
        "--shard-requests",
        "2000",
        "--work",
        str(tmp_path / "w"),
        # One subprocess for the seven steps: the same calls into the provider, Airflow imported
        # once instead of seven times (the figures are not judged here).
        "--one-process",
        timeout=900,
    )

    report = json.loads(out[out.index('{"requests"') :])
    assert report["requests"] > 0
    steps = report["steps"]
    assert list(steps) == ["upload", "split", "land", "resubmit", "land-followup", "merge", "merge-shards"]
    for step, figures in steps.items():
        assert "failed" not in figures, (step, figures)
        assert figures["rss_mb"] >= 0, (step, figures)
        assert figures["seconds"] > 0, (step, figures)
