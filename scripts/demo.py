"""`make demo`: run ``example_gemini_batch_file`` end to end on a real Airflow.

Starts the Gemini Batch emulator and ``airflow standalone`` (own AIRFLOW_HOME in ``.demo/``,
``dags_examples/`` as the DAGs folder, free ports), triggers the example through the REST API v2,
prints task states as they change (including the sensor's deferral to the triggerer), and ends
with the run's outcome, where the results landed, a few result rows and the UI address with its
login. Everything it started is stopped at the end and on Ctrl-C, unless ``--keep-running``.

With ``GEMINI_API_KEY`` set, the real Gemini API is used instead of the emulator (billed, tiny).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.airflow_stack import (
    REPO_ROOT,
    Stack,
    StackError,
    follow_run,
    iter_jsonl,
    running_stack,
    worker_vs_deferred,
)

DAG_ID = "example_gemini_batch_file"
SENSOR = "wait_for_batch"
_START = time.monotonic()


def say(message: str) -> None:
    """Print one progress line prefixed with the seconds since the demo started."""
    print(f"[{time.monotonic() - _START:6.1f}s] {message}", flush=True)


def describe(change: str) -> str:
    """Annotate a task state change for a reader new to deferrable operators."""
    if change == f"{SENSOR}: deferred":
        return change + "   <- waiting in the triggerer; no worker slot held"
    if change == f"{SENSOR}: running" and "deferred" in _seen:
        return change + "   <- batch done: resumed on a worker"
    return change


_seen: set[str] = set()


def on_change(change: str) -> None:
    if change.startswith(f"{SENSOR}: "):
        _seen.add(change.split(": ", 1)[1])
    say(describe(change))


def show_results(stack: Stack, run_id: str, state: str) -> None:
    """Print the outcome, where the results landed, a few rows and the sensor's timing."""
    api = stack.api
    print()
    say(f"Run {run_id} finished: {state.upper()}")
    manifest = api.xcom(DAG_ID, run_id, "fetch_results")
    destination = Path(manifest["destination"])
    counts = manifest["counts"]
    print(f"  batch:        {manifest['batch_name']} ({manifest['state']})")
    print(
        f"  requests:     {counts['total']} total, {counts['succeeded']} succeeded, {counts['failed']} failed"
    )
    print(f"  token usage:  {manifest.get('usage')}")
    print(f"  results file: {destination}")
    print("  first rows:")
    for row in list(iter_jsonl(destination))[:3]:
        if row["status"] == "succeeded":
            text = row["response"]["candidates"][0]["content"]["parts"][0]["text"]
        else:
            text = f"ERROR {row['error']}"
        print(f"    {row['key']}: {text[:100]}")
    timing = worker_vs_deferred(api, DAG_ID, run_id, SENSOR)
    print(
        f"  sensor:       held a worker {timing['worker_held_seconds']:.1f} s, "
        f"deferred in the triggerer {timing['deferred_seconds']:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="leave Airflow up for the UI until Ctrl-C"
    )
    parser.add_argument(
        "--processing-seconds", type=float, default=20.0, help="how long the emulated batch runs (default 20)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds allowed for the run (default 600)"
    )
    args = parser.parse_args(argv)

    # `kill <pid>` should clean up like Ctrl-C does.
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)

    workdir = REPO_ROOT / ".demo"
    # A fresh AIRFLOW_HOME each time: the demo must show what a first run looks like.
    shutil.rmtree(workdir, ignore_errors=True)
    real_key = os.environ.get("GEMINI_API_KEY") or None
    if real_key:
        say("GEMINI_API_KEY is set: using the REAL Gemini API (billed; the example sends 5 tiny requests)")
    else:
        say("Using the local Gemini Batch emulator (set GEMINI_API_KEY to use the real API)")

    stack: Stack | None = None
    try:
        with running_stack(
            workdir, processing_seconds=args.processing_seconds, real_api_key=real_key, log=say
        ) as stack:
            stack.api.wait_for_dag(DAG_ID, timeout=120)
            run_id = stack.api.trigger(DAG_ID)
            say(f"Triggered {DAG_ID} (run {run_id}); task states as they change:")
            state, _ = follow_run(
                stack.api, DAG_ID, run_id, timeout=args.timeout, on_change=on_change, alive=stack.alive
            )
            if state != "success":
                print(stack.airflow.diagnostics())
            show_results(stack, run_id, state)
            password = stack.airflow.admin_password()
            print(f"  Airflow UI:   {stack.airflow.base_url}  (login: admin / {password})")
            # The stack sets AIRFLOW__CORE__TEST_CONNECTION=Enabled; Airflow 3.3.2's form still
            # fails for a connection without a port (docs/connection.md, "Bad Request").
            print(
                "  Connections:  the Test button is enabled (Admin > Connections); if it answers "
                "'Bad Request', see docs/connection.md for the REST test."
            )
            if args.keep_running:
                say("--keep-running: Airflow and the emulator stay up; press Ctrl-C to stop them.")
                while True:
                    stack.alive()
                    time.sleep(2)
            say("Stopping Airflow and the emulator.")
        say("Done.")
        return 0 if state == "success" else 1
    except KeyboardInterrupt:
        say("Interrupted: everything the demo started has been stopped.")
        return 130
    except StackError as exc:
        print(f"\nDemo failed: {exc}", file=sys.stderr)
        if stack is not None:
            print(stack.airflow.diagnostics(), file=sys.stderr)
        else:
            print(f"Logs are under {workdir}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
