"""How long a deferred wait holds a worker slot: one batch that takes N minutes on the emulator.

Runs a real DAG with ``dag.test()`` (create the batch, then a deferrable ``GeminiBatchSensor``)
against an emulator subprocess whose batches take ``--minutes`` to finish. The sensor is
subclassed only to time its two worker-side halves: ``execute()`` (until it defers) and
``execute_complete()`` (after the trigger's event). The wait between them runs in the trigger
(inline in ``dag.test()``, in the triggerer in production) and holds no worker slot.

Prints worker-busy seconds against wall seconds. With ``--compare`` it also runs the same wait
non-deferrable, where the worker is busy for the whole wall time.

Usage: ``python benchmarks/bench_worker_slot.py [--minutes 2] [--poll-interval 5] [--compare]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _emulator import start_emulator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

API_KEY = "bench-key"
TIMINGS: dict[str, float] = {}


def prepare_airflow_home() -> None:
    """A private AIRFLOW_HOME with a migrated SQLite DB (set before Airflow is imported)."""
    home = tempfile.mkdtemp(prefix="bench-worker-slot-")
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(home, "dags")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{os.path.join(home, 'airflow.db')}"
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


def run_once(deferrable: bool, poll_interval: float) -> dict[str, Any]:
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
    from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
    from tests.fixtures.airflow_env import run_dag, unique_dag_id

    TIMINGS.clear()

    class TimedSensor(GeminiBatchSensor):
        """Times the worker-side halves; behaviour is the sensor's own."""

        def execute(self, context: Any) -> Any:
            TIMINGS["start"] = time.perf_counter()
            try:
                return super().execute(context)
            finally:
                TIMINGS["execute_end"] = time.perf_counter()

        def execute_complete(self, context: Any, event: Any = None) -> Any:
            TIMINGS["complete_start"] = time.perf_counter()
            try:
                return super().execute_complete(context, event)
            finally:
                TIMINGS["complete_end"] = time.perf_counter()

    def create() -> str:
        request = {"contents": [{"parts": [{"text": "hello"}]}]}
        return str(GeminiBatchHook().create_batch("gemini-2.5-flash", requests=[request]).name)

    with DAG(unique_dag_id("bench_slot"), schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        make = PythonOperator(task_id="create", python_callable=create)
        wait = TimedSensor(
            task_id="wait",
            batch_name="{{ ti.xcom_pull(task_ids='create') }}",
            deferrable=deferrable,
            poll_interval=poll_interval,
            timeout=3600,
        )
        make >> wait
    result = run_dag(dag)
    if result.task_states.get("wait") != "success":
        raise SystemExit(f"sensor did not succeed: {result.task_states}")
    if deferrable:
        busy = (TIMINGS["execute_end"] - TIMINGS["start"]) + (
            TIMINGS["complete_end"] - TIMINGS["complete_start"]
        )
        wall = TIMINGS["complete_end"] - TIMINGS["start"]
    else:
        busy = wall = TIMINGS["execute_end"] - TIMINGS["start"]
    return {
        "mode": "deferrable" if deferrable else "poke (non-deferrable)",
        "wall_seconds": round(wall, 2),
        "worker_busy_seconds": round(busy, 3),
        "worker_busy_share": f"{busy / wall:.2%}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="how long the batch takes")
    parser.add_argument("--poll-interval", type=float, default=5.0, help="seconds between polls")
    parser.add_argument("--compare", action="store_true", help="also run the non-deferrable wait")
    args = parser.parse_args()

    prepare_airflow_home()
    proc, base_url = start_emulator(api_key=API_KEY, processing_seconds=args.minutes * 60)
    try:
        os.environ["AIRFLOW_CONN_GEMINI_BATCH_DEFAULT"] = json.dumps(
            {"conn_type": "gemini_batch", "host": base_url, "password": API_KEY}
        )
        results = [run_once(True, args.poll_interval)]
        if args.compare:
            results.append(run_once(False, args.poll_interval))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(json.dumps({"batch_minutes": args.minutes, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
